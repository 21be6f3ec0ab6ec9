// The f32 matrix-multiply micro-kernel and a many-rows dot product, written once with GCC/Clang vector extensions and
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

template <int W>
struct FloatVec {
  typedef float type __attribute__((vector_size(W * sizeof(float))));
};

template <int W>
typename FloatVec<W>::type load_unaligned(const float* p) {
  typename FloatVec<W>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Lanes of v summed, plus the dims past the vector body done one by one.
template <int W>
float finish_dot(typename FloatVec<W>::type v, const float* row, const float* q, size_t body, size_t dim) {
  float s = 0.f;
  for (int l = 0; l < W; ++l) s += v[l];
  for (size_t j = body; j < dim; ++j) s += row[j] * q[j];
  return s;
}

// out[i] = dot(x row i, q) for n rows of dim floats (row stride dim): one query against many
// rows, where a GEMM would waste its tile on a single column. Four rows at a time share the
// query loads; each row keeps its own vector accumulator until one final reduction.
template <int W>
void dot_rows(const float* x, size_t n, size_t dim, const float* q, float* out) {
  typedef typename FloatVec<W>::type V;
  const size_t body = dim / W * W;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float* r = x + i * dim;
    V a0 = V{}, a1 = V{}, a2 = V{}, a3 = V{};
    for (size_t j = 0; j < body; j += W) {
      const V qv = load_unaligned<W>(q + j);
      a0 += load_unaligned<W>(r + j) * qv;
      a1 += load_unaligned<W>(r + dim + j) * qv;
      a2 += load_unaligned<W>(r + 2 * dim + j) * qv;
      a3 += load_unaligned<W>(r + 3 * dim + j) * qv;
    }
    out[i] = finish_dot<W>(a0, r, q, body, dim);
    out[i + 1] = finish_dot<W>(a1, r + dim, q, body, dim);
    out[i + 2] = finish_dot<W>(a2, r + 2 * dim, q, body, dim);
    out[i + 3] = finish_dot<W>(a3, r + 3 * dim, q, body, dim);
  }
  for (; i < n; ++i) {
    const float* r = x + i * dim;
    V a = V{};
    for (size_t j = 0; j < body; j += W) a += load_unaligned<W>(r + j) * load_unaligned<W>(q + j);
    out[i] = finish_dot<W>(a, r, q, body, dim);
  }
}

}  // namespace
}  // namespace lmrec::simd
