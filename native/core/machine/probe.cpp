#include "machine/probe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "util/buffer.h"
#include "util/thread_pool.h"

namespace lmrec::machine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

double int8_macs_per_second(const simd::Kernels& kernels, double seconds) {
  kernels.int8_peak_loop(1 << 16);  // warm up (clock ramps up under wide instructions)
  uint64_t iterations = 1 << 18;
  for (;;) {  // grow the run until it lasts long enough to time
    const auto t0 = Clock::now();
    const uint64_t macs = kernels.int8_peak_loop(iterations);
    const double dt = seconds_since(t0);
    if (dt >= seconds) return double(macs) / dt;
    iterations = uint64_t(double(iterations) * std::min(16.0, 1.2 * seconds / std::max(dt, 1e-6)));
  }
}

double read_bytes_per_second(const simd::Kernels& kernels, size_t bytes, int threads, int repeats) {
  Buffer<uint8_t> data;
  data.resize(bytes, uint8_t(1));  // touches every page before timing
  threads = std::max(1, threads);
  const size_t part = (bytes / threads) / 4096 * 4096;
  std::atomic<uint64_t> sink{0};
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    ThreadPool::global().parallel_for(threads, threads, [&](int t) {
      sink += kernels.stream_read(data.data() + size_t(t) * part, part);
    });
    best = std::max(best, double(part) * threads / seconds_since(t0));
  }
  volatile uint64_t keep = sink.load();  // the sums are used, so the reads cannot be dropped
  (void)keep;
  return best;
}

}  // namespace lmrec::machine
