// The f32 kernels of the SRM (a matrix-multiply micro-kernel, a many-rows dot product, and
// exponentials for softmax), written once with GCC/Clang vector extensions and
// compiled into each per-ISA kernel file, where the vector width becomes the ISA's register
// width. Include it inside an anonymous namespace: each copy is a different instantiation.
//
// c[MR x NR] (+)= a · b over kc steps (added to c when accumulate, else stored), where a is packed kc x MR (column p of A's tile is
// MR consecutive floats) and b is packed kc x NR; both 64-byte aligned. c has row stride ldc.
#pragma once
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

namespace lmrec::simd {
namespace {

template <int W>
struct FloatVec {
  typedef float type __attribute__((vector_size(W * sizeof(float))));
};

// A vector of W copies of x, written as a constructor so the compiler emits one broadcast
// load (`V{} + x` costs an add on the FMA ports, since 0 + x is not x for x = -0).
template <class V, int... I>
V splat(float x, std::integer_sequence<int, I...>) {
  return V{((void)I, x)...};
}

template <int W, int MR, int NV>
void sgemm_tile(int kc, const float* a, const float* b, float* c, size_t ldc, bool accumulate) {
  typedef typename FloatVec<W>::type V;
  constexpr int NR = W * NV;
  V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = V{};
  for (int p = 0; p < kc; ++p) {
    V bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = *reinterpret_cast<const V*>(b + p * NR + j * W);
    for (int i = 0; i < MR; ++i) {
      const V av = splat<V>(a[p * MR + i], std::make_integer_sequence<int, W>{});
      for (int j = 0; j < NV; ++j) acc[i][j] += av * bv[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) {
      V cv = acc[i][j];
      if (accumulate) {
        V old;
        std::memcpy(&old, c + i * ldc + j * W, sizeof(V));  // c rows need not be aligned
        cv += old;
      }
      std::memcpy(c + i * ldc + j * W, &cv, sizeof(V));
    }
}

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

// x[i] = exp(x[i] - shift) for i < n; returns their sum. exp is Cephes' single-precision
// polynomial after range reduction (within 2 ulp of expf); arguments below -87.3 give 0.
template <int W>
float exp_shifted(float* x, size_t n, float shift) {
  typedef typename FloatVec<W>::type V;
  typedef int32_t VI __attribute__((vector_size(W * sizeof(float))));
  const auto k = [](float v) { return splat<V>(v, std::make_integer_sequence<int, W>{}); };
  const V vshift = k(shift), lo = k(-87.3f), magic = k(12582912.f);  // 1.5 * 2^23: rounds to an integer
  const V log2e = k(1.44269504088896341f), ln2_hi = k(0.693359375f), ln2_lo = k(-2.12194440e-4f);
  const V c0 = k(1.9875691500e-4f), c1 = k(1.3981999507e-3f), c2 = k(8.3334519073e-3f);
  const V c3 = k(4.1665795894e-2f), c4 = k(1.6666665459e-1f), c5 = k(5.0000001201e-1f), one = k(1.f);
  V sum = V{};
  size_t i = 0;
  for (; i + W <= n; i += W) {
    V v = load_unaligned<W>(x + i) - vshift;
    const VI under = v < lo;
    v = under ? lo : v;
    const V t = v * log2e + magic;
    const V kf = t - magic;
    const V r = v - kf * ln2_hi - kf * ln2_lo;
    V y = ((((c0 * r + c1) * r + c2) * r + c3) * r + c4) * r + c5;
    y = y * r * r + r + one;
    VI bits;
    std::memcpy(&bits, &t, sizeof(bits));
    bits = (bits - 0x4b400000 + 127) << 23;  // 2^round(v * log2e)
    V scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    V e = y * scale;
    e = under ? V{} : e;
    std::memcpy(x + i, &e, sizeof(e));
    sum += e;
  }
  float total = 0.f;
  for (int l = 0; l < W; ++l) total += sum[l];
  for (; i < n; ++i) total += (x[i] = std::exp(x[i] - shift));
  return total;
}

}  // namespace
}  // namespace lmrec::simd
