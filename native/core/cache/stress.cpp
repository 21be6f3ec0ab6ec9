#include "cache/stress.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "nn/random.h"

namespace lmrec::cache {
namespace {

constexpr size_t kKeys = 64, kDim = 32;

float value(size_t key, size_t i) { return std::sin(float(key * 31 + i) * 0.1f) * 4.f; }

}  // namespace

StressReport stress(SegmentCache& cache, int threads, size_t ops_per_thread, uint64_t seed) {
  std::atomic<uint64_t> ops{0}, hits{0}, wrong{0}, over{0}, max_bytes{0};
  const size_t budget = cache.stats().budget;
  auto work = [&](int t) {
    std::vector<float> states, out;
    for (size_t op = 0; op < ops_per_thread; ++op) {
      const uint64_t key_bits = nn::stream_key(seed, uint64_t(t), op);
      const size_t key = size_t(nn::uniform(key_bits, 0) * kKeys) % kKeys;
      const size_t n = 1 + key % 7;
      std::vector<int32_t> tokens(n);
      for (size_t i = 0; i < n; ++i) tokens[i] = int32_t(key * 8 + i);
      if (nn::uniform(key_bits, 1) < 0.5f) {
        states.resize(n * kDim);
        for (size_t i = 0; i < states.size(); ++i) states[i] = value(key, i);
        cache.put(7, 3, tokens.data(), n, states.data(), kDim);
      } else {
        out.assign(n * kDim, 0.f);
        if (cache.get(7, 3, tokens.data(), n, kDim, out.data())) {
          ++hits;
          for (size_t r = 0; r < n; ++r) {
            float peak = 0;
            for (size_t j = 0; j < kDim; ++j) peak = std::max(peak, std::abs(value(key, r * kDim + j)));
            for (size_t j = 0; j < kDim; ++j)
              if (std::abs(out[r * kDim + j] - value(key, r * kDim + j)) > peak / 100.f) {
                ++wrong;
                break;
              }
          }
        }
      }
      const uint64_t bytes = cache.stats().bytes;
      if (bytes > budget) ++over;
      uint64_t seen = max_bytes.load();
      while (bytes > seen && !max_bytes.compare_exchange_weak(seen, bytes)) {
      }
      ++ops;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work, t);
  for (auto& th : pool) th.join();
  return {ops.load(), hits.load(), wrong.load(), over.load(), max_bytes.load()};
}

}  // namespace lmrec::cache
