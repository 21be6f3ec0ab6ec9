// RMS normalisation (Llama's): y = x / sqrt(mean(x^2) + eps) * gain, over [rows x dim].
#pragma once
#include <cstddef>

namespace lmrec::nn {

// rstd (may be null at inference) receives 1 / sqrt(mean(x^2) + eps) of each row.
void rms_norm_forward(const float* x, size_t rows, size_t dim, const float* gain, float eps, float* y, float* rstd,
                      int threads);

// Adds the input gradient to dx and writes dgain (overwritten), from dy and the forward's rstd.
void rms_norm_backward(const float* x, const float* dy, size_t rows, size_t dim, const float* gain,
                       const float* rstd, float* dx, float* dgain, int threads);

}  // namespace lmrec::nn
