// AdamW (Loshchilov & Hutter): Adam with weight decay decoupled from the gradient.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lmrec::nn {

struct AdamWOptions {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.98f, eps = 1e-8f, weight_decay = 0.f;
};

// One step over a flat parameter array; m and v are the moment estimates, t the step number
// counted from 1.
void adamw_step(float* params, const float* grads, float* m, float* v, size_t n, uint64_t t,
                const AdamWOptions& o, int threads);

}  // namespace lmrec::nn
