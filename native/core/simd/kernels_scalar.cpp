// Plain C++ kernels: the reference the SIMD kernels are tested against, and the fallback
// on CPUs with none of the wider instruction sets.

#include <cmath>

#include "quant/f16.h"
#include "simd/kernels.h"
#include "simd/f32_kernels.h"

namespace lmrec::simd {
namespace {

// Offers the 16 keys of one block to the sink.
void offer_block(const QueryBlock& q, const CodeView& x, int qi, size_t block, const float* keys,
                 TopKSink& sink) {
  const size_t base = block * kLanes;
  const float* bias = x.bias ? x.bias + base : nullptr;
  for (int lane = 0; lane < kLanes && base + lane < x.count; ++lane) {
    const float key = bias ? std::fma(keys[lane], q.key_mul[qi], bias[lane]) : keys[lane];
    if (key > sink.thresholds()[qi]) sink.push(qi, key, uint32_t(base + lane));
  }
}

void scan_int8(const QueryBlock& q, const CodeView& x, size_t b0, size_t b1, TopKSink& sink) {
  const size_t groups = x.dim_padded / 4;
  for (size_t b = b0; b < b1; ++b) {
    const uint8_t* blk = x.blocks + b * block_bytes(Storage::Int8, x.dim_padded);
    for (int qi = 0; qi < q.nq; ++qi) {
      const int8_t* qc = q.codes + size_t(qi) * x.dim_padded;
      int32_t acc[kLanes] = {};
      for (size_t g = 0; g < groups; ++g)
        for (int lane = 0; lane < kLanes; ++lane)
          for (int t = 0; t < 4; ++t)
            acc[lane] += (int32_t(blk[g * 64 + lane * 4 + t]) - 128) * qc[g * 4 + t];
      float keys[kLanes];
      for (int lane = 0; lane < kLanes; ++lane)
        keys[lane] = x.scale[b * kLanes + lane] * float(acc[lane]);
      offer_block(q, x, qi, b, keys, sink);
    }
  }
}

template <Storage S>
void scan_float(const QueryBlock& q, const CodeView& x, size_t b0, size_t b1, TopKSink& sink) {
  for (size_t b = b0; b < b1; ++b) {
    const uint8_t* blk = x.blocks + b * block_bytes(S, x.dim_padded);
    for (int qi = 0; qi < q.nq; ++qi) {
      const float* qv = q.values + size_t(qi) * x.dim_padded;
      float keys[kLanes] = {};
      for (size_t d = 0; d < x.dim_padded; ++d)
        for (int lane = 0; lane < kLanes; ++lane) {
          float v;
          if constexpr (S == Storage::F32) {
            v = reinterpret_cast<const float*>(blk)[d * kLanes + lane];
          } else {
            v = quant::half_to_float(reinterpret_cast<const uint16_t*>(blk)[d * kLanes + lane]);
          }
          keys[lane] += v * qv[d];
        }
      offer_block(q, x, qi, b, keys, sink);
    }
  }
}

uint64_t int8_peak_loop(uint64_t iterations) {
  volatile int32_t sink = 0;
  int32_t acc = 0;
  for (uint64_t i = 0; i < iterations; ++i) acc += int32_t(i & 127) * int32_t((i >> 7) & 127);
  sink = acc;
  (void)sink;
  return iterations;
}

uint64_t stream_read(const uint8_t* data, size_t bytes) {
  uint64_t sum = 0;
  const uint64_t* p = reinterpret_cast<const uint64_t*>(data);
  for (size_t i = 0; i < bytes / 8; ++i) sum += p[i];
  return sum;
}

const Kernels kTable = {"scalar", scan_int8, scan_float<Storage::F16>, scan_float<Storage::F32>,
                        int8_peak_loop, stream_read,
                        4, 8, sgemm_tile<4, 4, 2>, dot_rows<4>,
                        exp_shifted<4>};

}  // namespace

const Kernels* kernels_scalar() { return &kTable; }

}  // namespace lmrec::simd
