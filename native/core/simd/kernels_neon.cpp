// NEON kernels for arm64 (Advanced SIMD is part of the AArch64 baseline). A block row of 16
// lanes is four 4-lane quarters; int8 codes are un-biased to s8 and widened with vmull_s8.
#include <arm_neon.h>

#include "simd/kernels.h"
#include "simd/f32_kernels.h"

namespace lmrec::simd {
namespace {

void offer_block(const QueryBlock& q, const CodeView& x, int qi, size_t block, const float* keys,
                 const float* thr, TopKSink& sink) {
  const size_t base = block * kLanes;
  for (int lane = 0; lane < kLanes && base + lane < x.count; ++lane) {
    const float key = x.bias ? q.key_mul[qi] * keys[lane] + x.bias[base + lane] : keys[lane];
    if (key > thr[qi]) sink.push(qi, key, uint32_t(base + lane));
  }
}

void scan_int8(const QueryBlock& q, const CodeView& x, size_t b0, size_t b1, TopKSink& sink) {
  const size_t dp = x.dim_padded;
  const float* thr = sink.thresholds();
  const uint8x16_t bias = vdupq_n_u8(0x80);
  for (size_t b = b0; b < b1; ++b) {
    const uint8_t* blk = x.blocks + b * dp * kLanes;
    for (int qi = 0; qi < q.nq; ++qi) {
      const int8_t* qc = q.codes + size_t(qi) * dp;
      int32x4_t lo[4], hi[4];  // per quarter: pair sums of lanes (0,1) and (2,3)
      for (int k = 0; k < 4; ++k) lo[k] = hi[k] = vdupq_n_s32(0);
      for (size_t g = 0; g < dp / 4; ++g) {
        int32_t q4;
        __builtin_memcpy(&q4, qc + g * 4, 4);
        const int8x16_t qv = vreinterpretq_s8_s32(vdupq_n_s32(q4));
        for (int k = 0; k < 4; ++k) {
          const int8x16_t xv = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(blk + g * 64 + k * 16), bias));
          lo[k] = vpadalq_s16(lo[k], vmull_s8(vget_low_s8(xv), vget_low_s8(qv)));
          hi[k] = vpadalq_s16(hi[k], vmull_high_s8(xv, qv));
        }
      }
      float keys[kLanes];
      for (int k = 0; k < 4; ++k) {
        const float32x4_t dots = vcvtq_f32_s32(vpaddq_s32(lo[k], hi[k]));
        vst1q_f32(keys + k * 4, vmulq_f32(dots, vld1q_f32(x.scale + b * kLanes + k * 4)));
      }
      offer_block(q, x, qi, b, keys, thr, sink);
    }
  }
}

template <bool kHalf>
void scan_float(const QueryBlock& q, const CodeView& x, size_t b0, size_t b1, TopKSink& sink) {
  const size_t dp = x.dim_padded;
  const size_t row = kLanes * (kHalf ? 2 : 4);
  const float* thr = sink.thresholds();
  for (size_t b = b0; b < b1; ++b) {
    const uint8_t* blk = x.blocks + b * dp * row;
    for (int qi = 0; qi < q.nq; ++qi) {
      const float* qv = q.values + size_t(qi) * dp;
      float32x4_t acc[4];
      for (int k = 0; k < 4; ++k) acc[k] = vdupq_n_f32(0);
      for (size_t d = 0; d < dp; ++d)
        for (int k = 0; k < 4; ++k) {
          const uint8_t* p = blk + d * row + k * (row / 4);
          const float32x4_t xv =
              kHalf ? vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(p))))
                    : vld1q_f32(reinterpret_cast<const float*>(p));
          acc[k] = vfmaq_n_f32(acc[k], xv, qv[d]);
        }
      float keys[kLanes];
      for (int k = 0; k < 4; ++k) vst1q_f32(keys + k * 4, acc[k]);
      offer_block(q, x, qi, b, keys, thr, sink);
    }
  }
}

uint64_t int8_peak_loop(uint64_t iterations) {
  const int8x16_t a = vdupq_n_s8(1), c = vdupq_n_s8(2);
  int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
  for (uint64_t it = 0; it < iterations; ++it) {
    s0 = vpadalq_s16(s0, vmull_s8(vget_low_s8(a), vget_low_s8(c)));
    s1 = vpadalq_s16(s1, vmull_high_s8(a, c));
    s2 = vpadalq_s16(s2, vmull_s8(vget_low_s8(c), vget_low_s8(a)));
    s3 = vpadalq_s16(s3, vmull_high_s8(c, a));
    __asm__ volatile("" : "+w"(s0), "+w"(s1), "+w"(s2), "+w"(s3));
  }
  volatile int32_t keep = vaddvq_s32(vaddq_s32(vaddq_s32(s0, s1), vaddq_s32(s2, s3)));
  (void)keep;
  return iterations * 4 * 8;
}

uint64_t stream_read(const uint8_t* data, size_t bytes) {
  uint64x2_t s0 = vdupq_n_u64(0), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 64 <= bytes; i += 64) {
    s0 = vaddq_u64(s0, vreinterpretq_u64_u8(vld1q_u8(data + i)));
    s1 = vaddq_u64(s1, vreinterpretq_u64_u8(vld1q_u8(data + i + 16)));
    s2 = vaddq_u64(s2, vreinterpretq_u64_u8(vld1q_u8(data + i + 32)));
    s3 = vaddq_u64(s3, vreinterpretq_u64_u8(vld1q_u8(data + i + 48)));
  }
  uint64_t sum = vaddvq_u64(vaddq_u64(vaddq_u64(s0, s1), vaddq_u64(s2, s3)));
  for (; i < bytes; ++i) sum += data[i];
  return sum;
}

const Kernels kTable = {"neon", scan_int8, scan_float<true>, scan_float<false>, int8_peak_loop,
                        stream_read,
                        6, 8, sgemm_tile<4, 6, 2>, dot_rows<4>,
                        exp_shifted<4>};

}  // namespace

const Kernels* kernels_neon() { return &kTable; }

}  // namespace lmrec::simd
