#include "nn/adamw.h"

#include <cmath>

#include "nn/parallel.h"

namespace lmrec::nn {

void adamw_step(float* params, const float* grads, float* m, float* v, size_t n, uint64_t t,
                const AdamWOptions& o, int threads) {
  const float c1 = 1.f / float(1.0 - std::pow(double(o.beta1), double(t)));
  const float c2 = 1.f / float(1.0 - std::pow(double(o.beta2), double(t)));
  const float decay = 1.f - o.lr * o.weight_decay;
  parallel_ranges(n, 1 << 14, threads, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      const float g = grads[i];
      m[i] = o.beta1 * m[i] + (1.f - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1.f - o.beta2) * g * g;
      params[i] = params[i] * decay - o.lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + o.eps);
    }
  });
}

}  // namespace lmrec::nn
