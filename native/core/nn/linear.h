// A dense layer y = x W^T + b over [rows x in] inputs, W stored [out x in] (PyTorch's layout).
#pragma once
#include <cstddef>

namespace lmrec::nn {

struct LinearRef {
  const float* w;  // [out x in]
  const float* b;  // [out]
  size_t in, out;
};

void linear_forward(const LinearRef& l, const float* x, size_t rows, float* y, int threads);

// dW, db overwritten; dx = dy W, added to dx when accumulate, else overwritten (dx may be null).
void linear_backward(const LinearRef& l, const float* x, const float* dy, size_t rows, float* dw, float* db,
                     float* dx, bool accumulate, int threads);

// out[j] = sum over rows of m[r][j], each column summed in row order.
void column_sums(const float* m, size_t rows, size_t cols, float* out, int threads);

}  // namespace lmrec::nn
