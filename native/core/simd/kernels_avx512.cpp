// AVX-512 kernels (F/BW/VL/DQ + VNNI). Compiled with those flags alone and run only when
// cpu_features() reports them; nothing here is shared with other files but the table.
//
// A tile is QB queries x VB blocks of 16 vectors: QB*VB accumulators live in registers while
// the blocks' codes stream from L1, so each byte of codes loaded serves QB queries.
#include <immintrin.h>

#include <cstdint>
#include <utility>

#include "simd/kernels.h"
#include "simd/f32_kernels.h"

namespace lmrec::simd {
namespace {

constexpr int kQB = 6;  // 6 x 4 accumulators + 4 code registers + 1 broadcast of 32 zmm
constexpr int kVB = 4;

inline __mmask16 valid_lanes(const CodeView& x, size_t block) {
  const size_t base = block * kLanes;
  if (base >= x.count) return 0;
  const size_t left = x.count - base;
  return left >= size_t(kLanes) ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
}

inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// Calls f(integral_constant<int, I>) for I in [0, N). Unrolling by the front end (rather than
// `#pragma GCC unroll`) makes every accumulator index a constant early enough for GCC to keep
// the accumulators in registers instead of spilling them each step.
template <class F, int... I>
__attribute__((always_inline)) inline void unroll_impl(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, class F>
__attribute__((always_inline)) inline void unroll(F&& f) {
  unroll_impl(f, std::make_integer_sequence<int, N>{});
}

// acc += u8 x s8 (4-byte groups). Written as asm so GCC ties the accumulator to one register:
// with the intrinsic, GCC 12 copies and spills every accumulator on every step.
__attribute__((always_inline)) inline void dpbusd(__m512i& acc, __m512i u8, __m512i s8) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
}

// Pushes the lanes of `keys` set in m (the rare survivors of a threshold test).
__attribute__((always_inline)) inline void push_lanes(__mmask16 m, __m512 keys, int qi, size_t block,
                                                      TopKSink& sink) {
  alignas(64) float k[kLanes];
  _mm512_store_ps(k, keys);
  do {
    const int lane = __builtin_ctz(m);
    sink.push(qi, k[lane], uint32_t(block * kLanes + lane));
    m &= m - 1;
  } while (m);
}

// Adds the bias, compares with each query's threshold and pushes the few survivors.
template <int QB, int VB>
__attribute__((always_inline)) inline void offer_tile(const QueryBlock& q, const CodeView& x, int q0,
                                                      size_t b0, __m512 (&key)[QB][VB],
                                                      const float* thr, TopKSink& sink) {
  unroll<VB>([&](auto j) {
    const size_t b = b0 + j;
    const __mmask16 valid = valid_lanes(x, b);
    if (!valid) return;
    const __m512 bias = x.bias ? _mm512_loadu_ps(x.bias + b * kLanes) : _mm512_setzero_ps();
    unroll<QB>([&](auto i) {
      __m512 k = key[i][j];
      if (x.bias) k = _mm512_fmadd_ps(k, _mm512_set1_ps(q.key_mul[q0 + i]), bias);
      const __mmask16 m = _mm512_mask_cmp_ps_mask(valid, k, _mm512_set1_ps(thr[q0 + i]), _CMP_GT_OQ);
      if (__builtin_expect(m != 0, 0)) push_lanes(m, k, q0 + i, b, sink);
    });
  });
}

// Upper bounds over a group of blocks, for the int8 prefilter below.
struct GroupBounds {
  float inv_max_scale;  // 1 / max scale (0 when every scale is 0)
  float max_bias;       // max bias (0 without a bias)
};

// For each of the tile's QB queries, the largest integer dot product that provably cannot
// beat its threshold in this group of blocks. Keys satisfy
//   key <= key_mul * max_scale * max(acc, 0) + max_bias,
// so acc <= (thr - max_bias) / (key_mul * max_scale) cannot pass. Where no such bound holds
// (heap not yet full, or a negative margin) the bound is INT32_MIN, which every accumulator
// passes. All rows at once in one vector: per-row scalar math would compete with vpdpbusd for
// the same ports. The margin absorbs float rounding.
template <int QB>
__attribute__((always_inline)) inline void int8_bounds(const QueryBlock& q, const CodeView& x, int q0,
                                                       const GroupBounds& gb, const float* thr,
                                                       int32_t (&out)[8]) {
  const __mmask8 rows = __mmask8((1u << QB) - 1);
  const __m256 room = _mm256_sub_ps(_mm256_maskz_loadu_ps(rows, thr + q0), _mm256_set1_ps(gb.max_bias));
  __m256 v = _mm256_mul_ps(room, _mm256_set1_ps(gb.inv_max_scale));
  if (x.bias) v = _mm256_mul_ps(v, _mm256_maskz_loadu_ps(rows, q.inv_key_mul + q0));
  const __mmask8 usable = _mm256_cmp_ps_mask(room, _mm256_setzero_ps(), _CMP_GE_OQ) &
                          (gb.inv_max_scale > 0 ? __mmask8(0xFF) : __mmask8(0));
  const __mmask8 huge = _mm256_cmp_ps_mask(v, _mm256_set1_ps(2e9f), _CMP_GE_OQ);
  const __m256i t = _mm256_sub_epi32(
      _mm256_cvttps_epi32(_mm256_fnmadd_ps(v, _mm256_set1_ps(1e-6f), v)), _mm256_set1_epi32(2));
  __m256i bound = _mm256_mask_blend_epi32(usable, _mm256_set1_epi32(INT32_MIN), t);
  bound = _mm256_mask_blend_epi32(usable & huge, bound, _mm256_set1_epi32(INT32_MAX));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), bound);
}

// Offers one query row of an int8 tile. Most rows have no accumulator above the integer
// bound: one compare per accumulator instead of a convert, scale and compare, and only the
// blocks that fail it are looked at exactly.
template <int VB>
__attribute__((always_inline)) inline void offer_int8_row(const QueryBlock& q, const CodeView& x,
                                                          int qi, size_t b0, int32_t bound,
                                                          const __m512 (&scale)[4],
                                                          const __m512i (&acc)[4],
                                                          const float* thr, TopKSink& sink) {
  const __m512i t = _mm512_set1_epi32(bound);
  if constexpr (VB == 4) {  // max first: one compare per row on the ports vpdpbusd needs
    const __m512i top = _mm512_max_epi32(_mm512_max_epi32(acc[0], acc[1]), _mm512_max_epi32(acc[2], acc[3]));
    if (__builtin_expect(_mm512_cmpgt_epi32_mask(top, t) == 0, 1)) return;
  } else {
    if (__builtin_expect(_mm512_cmpgt_epi32_mask(acc[0], t) == 0, 1)) return;
  }
  const float key_mul = x.bias ? q.key_mul[qi] : 1.0f;
  unroll<VB>([&](auto j) {
    const __mmask16 hit = _mm512_cmpgt_epi32_mask(acc[j], t);
    if (!hit) return;
    const size_t b = b0 + j;
    const __mmask16 valid = valid_lanes(x, b) & hit;
    __m512 k = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[j]), scale[j]);
    if (x.bias) k = _mm512_fmadd_ps(k, _mm512_set1_ps(key_mul), _mm512_loadu_ps(x.bias + b * kLanes));
    const __mmask16 m = _mm512_mask_cmp_ps_mask(valid, k, _mm512_set1_ps(thr[qi]), _CMP_GT_OQ);
    if (m) push_lanes(m, k, qi, b, sink);
  });
}

// The int8 micro-kernel. Its accumulators are 24 named variables rather than an array: GCC
// keeps an array of this size in memory and stores every accumulator on every step, which
// halves throughput. Heights below kQB and VB = 1 drop the unused variables at compile time.
#define LMREC_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
template <int QB, int VB>
void tile_int8(const QueryBlock& q, const CodeView& x, int q0, size_t b0, const GroupBounds& gb,
               const float* thr, TopKSink& sink) {
  static_assert(QB >= 1 && QB <= 6 && (VB == 1 || VB == 4), "tile shape");
  const size_t dp = x.dim_padded;
  const size_t stride = dp * kLanes;
  const uint8_t* xb = x.blocks + b0 * stride;
  const int8_t* qc = q.codes + size_t(q0) * dp;
#define LMREC_DECLARE(i) __m512i a##i##0, a##i##1, a##i##2, a##i##3;
  LMREC_ROWS(LMREC_DECLARE)
#define LMREC_INIT(i)                                                  \
  if constexpr (QB > i) {                                              \
    a##i##0 = a##i##1 = a##i##2 = a##i##3 = _mm512_set1_epi32(q.acc_init[q0 + i]); \
  }
  LMREC_ROWS(LMREC_INIT)
  for (size_t g = 0; g < dp / 4; ++g) {
    const uint8_t* xg = xb + g * 64;
    const __m512i x0 = _mm512_loadu_si512(xg);
    __m512i x1, x2, x3;
    if constexpr (VB == 4) {
      x1 = _mm512_loadu_si512(xg + stride);
      x2 = _mm512_loadu_si512(xg + 2 * stride);
      x3 = _mm512_loadu_si512(xg + 3 * stride);
    }
#define LMREC_STEP(i)                                                       \
  if constexpr (QB > i) {                                                   \
    const __m512i qv = _mm512_set1_epi32(load_i32(qc + i * dp + g * 4));    \
    dpbusd(a##i##0, x0, qv);                                                \
    if constexpr (VB == 4) {                                                \
      dpbusd(a##i##1, x1, qv);                                              \
      dpbusd(a##i##2, x2, qv);                                              \
      dpbusd(a##i##3, x3, qv);                                              \
    }                                                                       \
  }
    LMREC_ROWS(LMREC_STEP)
  }
  __m512 scale[4];
  unroll<VB>([&](auto j) { scale[j] = _mm512_loadu_ps(x.scale + (b0 + j) * kLanes); });
  int32_t bounds[8];
  int8_bounds<QB>(q, x, q0, gb, thr, bounds);
#define LMREC_OFFER(i)                                                               \
  if constexpr (QB > i) {                                                            \
    const __m512i row[4] = {a##i##0, a##i##1, a##i##2, a##i##3};                     \
    offer_int8_row<VB>(q, x, q0 + i, b0, bounds[i], scale, row, thr, sink);          \
  }
  LMREC_ROWS(LMREC_OFFER)
#undef LMREC_DECLARE
#undef LMREC_INIT
#undef LMREC_STEP
#undef LMREC_OFFER
}
#undef LMREC_ROWS

template <int QB, int VB, bool kHalf>
void tile_float(const QueryBlock& q, const CodeView& x, int q0, size_t b0, const GroupBounds&,
                const float* thr, TopKSink& sink) {
  const size_t dp = x.dim_padded;
  const size_t row = kLanes * (kHalf ? 2 : 4);
  const uint8_t* xb = x.blocks + b0 * dp * row;
  const float* qv = q.values + size_t(q0) * dp;
  __m512 acc[QB][VB];
  unroll<QB>([&](auto i) { unroll<VB>([&](auto j) { acc[i][j] = _mm512_setzero_ps(); }); });
  for (size_t d = 0; d < dp; ++d) {
    __m512 xv[VB];
    unroll<VB>([&](auto j) {
      const uint8_t* p = xb + j * dp * row + d * row;
      xv[j] = kHalf ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))
                    : _mm512_loadu_ps(reinterpret_cast<const float*>(p));
    });
    unroll<QB>([&](auto i) {
      const __m512 qb = _mm512_set1_ps(qv[i * dp + d]);
      unroll<VB>([&](auto j) { acc[i][j] = _mm512_fmadd_ps(xv[j], qb, acc[i][j]); });
    });
  }
  offer_tile<QB, VB>(q, x, q0, b0, acc, thr, sink);
}

// Tile functions for every query-tile height 1..kQB, indexed by height - 1.
using TileFn = void (*)(const QueryBlock&, const CodeView&, int, size_t, const GroupBounds&,
                       const float*, TopKSink&);

struct TileRow {
  TileFn by_height[kQB];
};

template <template <int, int> class Tile, int VB, int... H>
constexpr TileRow make_rows(std::integer_sequence<int, H...>) {
  return TileRow{{&Tile<H + 1, VB>::run...}};
}

template <int QB, int VB> struct Int8Tile { static void run(const QueryBlock& q, const CodeView& x, int q0, size_t b0, const GroupBounds& gb, const float* t, TopKSink& s) { tile_int8<QB, VB>(q, x, q0, b0, gb, t, s); } };
template <int QB, int VB> struct F16Tile { static void run(const QueryBlock& q, const CodeView& x, int q0, size_t b0, const GroupBounds& gb, const float* t, TopKSink& s) { tile_float<QB, VB, true>(q, x, q0, b0, gb, t, s); } };
template <int QB, int VB> struct F32Tile { static void run(const QueryBlock& q, const CodeView& x, int q0, size_t b0, const GroupBounds& gb, const float* t, TopKSink& s) { tile_float<QB, VB, false>(q, x, q0, b0, gb, t, s); } };

// Walks blocks in groups of kVB (then singles) and, for each group, every query tile, so a
// group's codes are loaded from memory once and reused from L1 by all queries.
template <template <int, int> class Tile>
void scan(const QueryBlock& q, const CodeView& x, size_t b0, size_t b1, TopKSink& sink) {
  static constexpr TileRow wide = make_rows<Tile, kVB>(std::make_integer_sequence<int, kQB>{});
  static constexpr TileRow narrow = make_rows<Tile, 1>(std::make_integer_sequence<int, kQB>{});
  const float* thr = sink.thresholds();
  auto all_queries = [&](const TileRow& rows, size_t b, size_t nblocks) {
    GroupBounds gb{0, 0};
    if (x.scale) {  // computed once per group of blocks, shared by every query tile
      __m512 ms = _mm512_setzero_ps(), mb = _mm512_set1_ps(-3.4e38f);
      for (size_t j = 0; j < nblocks; ++j) {
        ms = _mm512_max_ps(ms, _mm512_loadu_ps(x.scale + (b + j) * kLanes));
        if (x.bias) mb = _mm512_max_ps(mb, _mm512_loadu_ps(x.bias + (b + j) * kLanes));
      }
      const float max_scale = _mm512_reduce_max_ps(ms);
      gb.inv_max_scale = max_scale > 0 ? 1.0f / max_scale : 0.0f;
      gb.max_bias = x.bias ? _mm512_reduce_max_ps(mb) : 0.0f;
    }
    int i = 0;
    for (; i + kQB <= q.nq; i += kQB) rows.by_height[kQB - 1](q, x, i, b, gb, thr, sink);
    if (i < q.nq) rows.by_height[q.nq - i - 1](q, x, i, b, gb, thr, sink);
  };
  size_t b = b0;
  for (; b + kVB <= b1; b += kVB) all_queries(wide, b, kVB);
  for (; b < b1; ++b) all_queries(narrow, b, 1);
}

uint64_t int8_peak_loop(uint64_t iterations) {
  const __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
          a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  for (uint64_t it = 0; it < iterations; ++it) {
    a0 = _mm512_dpbusd_epi32(a0, x, y); a1 = _mm512_dpbusd_epi32(a1, x, y);
    a2 = _mm512_dpbusd_epi32(a2, x, y); a3 = _mm512_dpbusd_epi32(a3, x, y);
    a4 = _mm512_dpbusd_epi32(a4, x, y); a5 = _mm512_dpbusd_epi32(a5, x, y);
    a6 = _mm512_dpbusd_epi32(a6, x, y); a7 = _mm512_dpbusd_epi32(a7, x, y);
    a8 = _mm512_dpbusd_epi32(a8, x, y); a9 = _mm512_dpbusd_epi32(a9, x, y);
    a10 = _mm512_dpbusd_epi32(a10, x, y); a11 = _mm512_dpbusd_epi32(a11, x, y);
    // Keep the compiler from folding the constant chain.
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                     "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  const __m512i s = _mm512_add_epi32(
      _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
      _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)),
                       _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11))));
  volatile int32_t keep = _mm512_reduce_add_epi32(s);
  (void)keep;
  return iterations * 12 * 64;
}

uint64_t stream_read(const uint8_t* data, size_t bytes) {
  __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 256 <= bytes; i += 256) {
    s0 = _mm512_add_epi64(s0, _mm512_loadu_si512(data + i));
    s1 = _mm512_add_epi64(s1, _mm512_loadu_si512(data + i + 64));
    s2 = _mm512_add_epi64(s2, _mm512_loadu_si512(data + i + 128));
    s3 = _mm512_add_epi64(s3, _mm512_loadu_si512(data + i + 192));
  }
  uint64_t sum = uint64_t(_mm512_reduce_add_epi64(
      _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3))));
  for (; i < bytes; ++i) sum += data[i];
  return sum;
}

const Kernels kTable = {"avx512vnni", scan<Int8Tile>, scan<F16Tile>, scan<F32Tile>,
                        int8_peak_loop, stream_read,
                        8, 32, sgemm_tile<16, 8, 2>, dot_rows<16>,
                        exp_shifted<16>};

}  // namespace

const Kernels* kernels_avx512vnni() { return &kTable; }

}  // namespace lmrec::simd
