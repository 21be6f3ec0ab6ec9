// Single-precision matrix multiply, C = alpha * op(A) * op(B) + beta * C, on the run-time
// chosen micro-kernel (simd/f32_kernels.h). Every element of C sums over k in the same order
// whatever the blocking or threading, so results are bit-identical across thread counts:
// the SRM's training is deterministic because of it.
#pragma once
#include <cstddef>

#include "simd/kernels.h"

namespace lmrec::nn {

// A row-major matrix operand; with `trans`, the operand is the transpose of what p holds.
// Element (i, j) of the operand is p[i * ld + j], or p[j * ld + i] when transposed.
struct Mat {
  const float* p;
  size_t ld;
  bool trans = false;
  float at(size_t i, size_t j) const { return trans ? p[j * ld + i] : p[i * ld + j]; }
};

inline Mat T(Mat m) { return {m.p, m.ld, !m.trans}; }

// C[M x N] (row stride ldc) = alpha * A[M x K] * B[K x N] + beta * C. beta = 0 ignores what C
// held (NaN included).
void sgemm(size_t M, size_t N, size_t K, float alpha, Mat A, Mat B, float beta, float* C, size_t ldc,
           const simd::Kernels& kernels = simd::best_kernels());

// The same, split over up to `threads` threads of the global pool by rows or columns of C.
void sgemm_parallel(size_t M, size_t N, size_t K, float alpha, Mat A, Mat B, float beta, float* C,
                    size_t ldc, int threads, const simd::Kernels& kernels = simd::best_kernels());

// Plain triple loop with double accumulation: the reference the kernels are tested against.
void sgemm_reference(size_t M, size_t N, size_t K, float alpha, Mat A, Mat B, float beta, float* C, size_t ldc);

}  // namespace lmrec::nn
