// Row-range parallelism over the global pool with fixed ranges, so each output is computed
// by one thread in one order.
#pragma once
#include <algorithm>
#include <cstddef>

#include "util/thread_pool.h"

namespace lmrec::nn {

// Calls fn(begin, end) over [0, n) in chunks of at least `grain`.
template <class F>
void parallel_ranges(size_t n, size_t grain, int threads, F&& fn) {
  const size_t chunks = std::min<size_t>(std::max(1, threads) * 4, (n + grain - 1) / std::max<size_t>(grain, 1));
  if (threads <= 1 || chunks <= 1) {
    if (n) fn(size_t(0), n);
    return;
  }
  const size_t per = (n + chunks - 1) / chunks;
  ThreadPool::global().parallel_for(int((n + per - 1) / per), threads, [&](int c) {
    const size_t b = size_t(c) * per;
    fn(b, std::min(n, b + per));
  });
}

}  // namespace lmrec::nn
