#include <cstring>

#include "simd/cpu_features.h"
#include "simd/kernels.h"

namespace lmrec::simd {

// Tables of instruction sets this build does not compile report themselves as absent.
#ifndef LMREC_HAVE_AVX2
const Kernels* kernels_avx2() { return nullptr; }
#endif
#ifndef LMREC_HAVE_AVX512
const Kernels* kernels_avx512vnni() { return nullptr; }
#endif
#ifndef LMREC_HAVE_NEON
const Kernels* kernels_neon() { return nullptr; }
#endif

int available_kernels(const Kernels** out, int max) {
  const CpuFeatures& f = cpu_features();
  int n = 0;
  auto add = [&](const Kernels* k, bool runs) {
    if (k && runs && n < max) out[n++] = k;
  };
  add(kernels_avx512vnni(), f.avx512vnni);
  add(kernels_avx2(), f.avx2);
  add(kernels_neon(), f.neon);
  add(kernels_scalar(), true);
  return n;
}

const Kernels& best_kernels() {
  static const Kernels* best = [] {
    const Kernels* list[8];
    available_kernels(list, 8);
    return list[0];
  }();
  return *best;
}

const Kernels* find_kernels(const char* name) {
  const Kernels* list[8];
  const int n = available_kernels(list, 8);
  for (int i = 0; i < n; ++i)
    if (std::strcmp(list[i]->name, name) == 0) return list[i];
  return nullptr;
}

}  // namespace lmrec::simd
