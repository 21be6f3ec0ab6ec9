// AVX2 + FMA + F16C kernels for x86-64 CPUs without AVX-512 VNNI. A block of 16 lanes is two
// 8-lane halves. int8 has no u8*s8 dot instruction here, so codes are un-biased back to s8 and
// multiplied with the sign trick (|x| * sign(q, x)); |x| <= 127 keeps maddubs from saturating.
#include <immintrin.h>

#include "simd/kernels.h"
#include "simd/f32_kernels.h"

namespace lmrec::simd {
namespace {

constexpr int kQB = 3;

inline int valid_bits(const CodeView& x, size_t block) {
  const size_t base = block * kLanes;
  if (base >= x.count) return 0;
  const size_t left = x.count - base;
  return left >= size_t(kLanes) ? 0xFFFF : int((1u << left) - 1);
}

inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

template <int QB>
void offer_tile(const QueryBlock& q, const CodeView& x, int q0, size_t b, __m256 (&key)[QB][2],
                const float* thr, TopKSink& sink) {
  const int valid = valid_bits(x, b);
  if (!valid) return;
  __m256 bias[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  if (x.bias) {
    bias[0] = _mm256_loadu_ps(x.bias + b * kLanes);
    bias[1] = _mm256_loadu_ps(x.bias + b * kLanes + 8);
  }
#pragma GCC unroll 4
  for (int i = 0; i < QB; ++i) {
    const __m256 t = _mm256_set1_ps(thr[q0 + i]);
    __m256 k[2] = {key[i][0], key[i][1]};
    if (x.bias) {
      const __m256 mul = _mm256_set1_ps(q.key_mul[q0 + i]);
      k[0] = _mm256_fmadd_ps(k[0], mul, bias[0]);
      k[1] = _mm256_fmadd_ps(k[1], mul, bias[1]);
    }
    int m = (_mm256_movemask_ps(_mm256_cmp_ps(k[0], t, _CMP_GT_OQ)) |
             (_mm256_movemask_ps(_mm256_cmp_ps(k[1], t, _CMP_GT_OQ)) << 8)) & valid;
    if (__builtin_expect(m != 0, 0)) {
      alignas(32) float keys[kLanes];
      _mm256_store_ps(keys, k[0]);
      _mm256_store_ps(keys + 8, k[1]);
      do {
        const int lane = __builtin_ctz(unsigned(m));
        sink.push(q0 + i, keys[lane], uint32_t(b * kLanes + lane));
        m &= m - 1;
      } while (m);
    }
  }
}

template <int QB>
void tile_int8(const QueryBlock& q, const CodeView& x, int q0, size_t b, const float* thr,
               TopKSink& sink) {
  const size_t dp = x.dim_padded;
  const uint8_t* xb = x.blocks + b * dp * kLanes;
  const int8_t* qc = q.codes + size_t(q0) * dp;
  const __m256i bias = _mm256_set1_epi8(char(0x80));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[QB][2];
#pragma GCC unroll 4
  for (int i = 0; i < QB; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  for (size_t g = 0; g < dp / 4; ++g) {
    __m256i xs[2], xa[2];
    for (int h = 0; h < 2; ++h) {
      xs[h] = _mm256_xor_si256(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + g * 64 + h * 32)), bias);
      xa[h] = _mm256_abs_epi8(xs[h]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < QB; ++i) {
      const __m256i qv = _mm256_set1_epi32(load_i32(qc + i * dp + g * 4));
      for (int h = 0; h < 2; ++h) {
        const __m256i pairs = _mm256_maddubs_epi16(xa[h], _mm256_sign_epi8(qv, xs[h]));
        acc[i][h] = _mm256_add_epi32(acc[i][h], _mm256_madd_epi16(pairs, ones));
      }
    }
  }
  __m256 key[QB][2];
  const __m256 s0 = _mm256_loadu_ps(x.scale + b * kLanes), s1 = _mm256_loadu_ps(x.scale + b * kLanes + 8);
#pragma GCC unroll 4
  for (int i = 0; i < QB; ++i) {
    key[i][0] = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[i][0]), s0);
    key[i][1] = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[i][1]), s1);
  }
  offer_tile<QB>(q, x, q0, b, key, thr, sink);
}

template <int QB, bool kHalf>
void tile_float(const QueryBlock& q, const CodeView& x, int q0, size_t b, const float* thr,
                TopKSink& sink) {
  const size_t dp = x.dim_padded;
  const size_t row = kLanes * (kHalf ? 2 : 4);
  const uint8_t* xb = x.blocks + b * dp * row;
  const float* qv = q.values + size_t(q0) * dp;
  __m256 acc[QB][2];
#pragma GCC unroll 4
  for (int i = 0; i < QB; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (size_t d = 0; d < dp; ++d) {
    __m256 xv[2];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* p = xb + d * row + h * (row / 2);
      xv[h] = kHalf ? _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))
                    : _mm256_loadu_ps(reinterpret_cast<const float*>(p));
    }
#pragma GCC unroll 4
    for (int i = 0; i < QB; ++i) {
      const __m256 qb = _mm256_set1_ps(qv[i * dp + d]);
      acc[i][0] = _mm256_fmadd_ps(xv[0], qb, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(xv[1], qb, acc[i][1]);
    }
  }
  offer_tile<QB>(q, x, q0, b, acc, thr, sink);
}

template <int QB> struct Int8Tile { static void run(const QueryBlock& q, const CodeView& x, int q0, size_t b, const float* t, TopKSink& s) { tile_int8<QB>(q, x, q0, b, t, s); } };
template <int QB> struct F16Tile { static void run(const QueryBlock& q, const CodeView& x, int q0, size_t b, const float* t, TopKSink& s) { tile_float<QB, true>(q, x, q0, b, t, s); } };
template <int QB> struct F32Tile { static void run(const QueryBlock& q, const CodeView& x, int q0, size_t b, const float* t, TopKSink& s) { tile_float<QB, false>(q, x, q0, b, t, s); } };

template <template <int> class Tile>
void scan(const QueryBlock& q, const CodeView& x, size_t b0, size_t b1, TopKSink& sink) {
  const float* thr = sink.thresholds();
  for (size_t b = b0; b < b1; ++b) {
    int i = 0;
    for (; i + kQB <= q.nq; i += kQB) Tile<kQB>::run(q, x, i, b, thr, sink);
    switch (q.nq - i) {
      case 2: Tile<2>::run(q, x, i, b, thr, sink); break;
      case 1: Tile<1>::run(q, x, i, b, thr, sink); break;
      default: break;
    }
  }
}
static_assert(kQB == 3, "scan() handles remainders of at most 2 queries");

uint64_t int8_peak_loop(uint64_t iterations) {
  const __m256i x = _mm256_set1_epi8(1), y = _mm256_set1_epi8(2), ones = _mm256_set1_epi16(1);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  for (uint64_t it = 0; it < iterations; ++it) {
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
  }
  const __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                                     _mm256_add_epi32(a4, a5));
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  volatile int32_t keep = lanes[0];
  (void)keep;
  return iterations * 6 * 32;
}

uint64_t stream_read(const uint8_t* data, size_t bytes) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 128 <= bytes; i += 128) {
    s0 = _mm256_add_epi64(s0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i)));
    s1 = _mm256_add_epi64(s1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 32)));
    s2 = _mm256_add_epi64(s2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 64)));
    s3 = _mm256_add_epi64(s3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 96)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)));
  uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < bytes; ++i) sum += data[i];
  return sum;
}

const Kernels kTable = {"avx2", scan<Int8Tile>, scan<F16Tile>, scan<F32Tile>, int8_peak_loop,
                        stream_read,
                        6, 16, sgemm_tile<8, 6, 2>, dot_rows<8>,
                        exp_shifted<8>};

}  // namespace

const Kernels* kernels_avx2() { return &kTable; }

}  // namespace lmrec::simd
