// Measures this machine's limits, so benchmarks can report each figure as a fraction of them:
// the int8 multiply-add peak of a kernel (one core) and the streaming read bandwidth.
#pragma once
#include <cstddef>

#include "simd/kernels.h"

namespace lmrec::machine {

// int8 multiply-adds per second on one core, from a register-only loop of `kernels`.
double int8_macs_per_second(const simd::Kernels& kernels, double seconds);

// Bytes per second read from a buffer of `bytes` (larger than the caches) by `threads`
// threads; the best of `repeats` passes.
double read_bytes_per_second(const simd::Kernels& kernels, size_t bytes, int threads, int repeats);

}  // namespace lmrec::machine
