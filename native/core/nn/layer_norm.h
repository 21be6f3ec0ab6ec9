// Layer normalisation over the last dimension of a [rows x dim] matrix.
#pragma once
#include <cstddef>

namespace lmrec::nn {

struct LayerNormCache {
  float* mean;  // [rows]
  float* rstd;  // [rows]
};

// y = (x - mean) * rstd * gain + bias. cache may be null at inference.
void layer_norm_forward(const float* x, size_t rows, size_t dim, const float* gain, const float* bias, float eps,
                        float* y, const LayerNormCache* cache, int threads);

// From dy, adds to dx (dx += ...) and writes dgain, dbias (overwritten). x is the forward input.
void layer_norm_backward(const float* x, const float* dy, size_t rows, size_t dim, const float* gain,
                         const float* mean, const float* rstd, float* dx, float* dgain, float* dbias, int threads);

}  // namespace lmrec::nn
