// The f32 matrix-multiply micro-kernel, written once with GCC/Clang vector extensions and
// compiled into each per-ISA kernel file, where the vector width becomes the ISA's register
// width. Include it inside an anonymous namespace: each copy is a different instantiation.
//
// c[MR x NR] += a · b over kc steps, where a is packed kc x MR (column p of A's tile is
// MR consecutive floats) and b is packed kc x NR; both 64-byte aligned. c has row stride ldc.
#pragma once
#include <cstddef>
#include <cstring>

namespace lmrec::simd {
namespace {

template <int W, int MR, int NV>
void sgemm_tile(int kc, const float* a, const float* b, float* c, size_t ldc) {
  typedef float V __attribute__((vector_size(W * sizeof(float))));
  constexpr int NR = W * NV;
  V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = V{};
  for (int p = 0; p < kc; ++p) {
    V bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = *reinterpret_cast<const V*>(b + p * NR + j * W);
    for (int i = 0; i < MR; ++i) {
      const V av = V{} + a[p * MR + i];  // broadcast
      for (int j = 0; j < NV; ++j) acc[i][j] += av * bv[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) {
      V cv;
      std::memcpy(&cv, c + i * ldc + j * W, sizeof(V));  // c rows need not be aligned
      cv += acc[i][j];
      std::memcpy(c + i * ldc + j * W, &cv, sizeof(V));
    }
}

}  // namespace
}  // namespace lmrec::simd
