// Run-time CPU detection, so one binary picks the best kernels on any x86-64 or arm64.
#pragma once

namespace lmrec::simd {

struct CpuFeatures {
  bool avx2 = false;       // with FMA and F16C
  bool avx512 = false;     // F, BW, VL, DQ
  bool avx512vnni = false;
  bool neon = false;
};

const CpuFeatures& cpu_features();

}  // namespace lmrec::simd
