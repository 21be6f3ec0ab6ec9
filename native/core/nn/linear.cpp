#include "nn/linear.h"

#include <vector>

#include "nn/gemm.h"
#include "nn/parallel.h"

namespace lmrec::nn {

void linear_forward(const LinearRef& l, const float* x, size_t rows, float* y, int threads) {
  sgemm_parallel(rows, l.out, l.in, 1.f, Mat{x, l.in}, T(Mat{l.w, l.in}), 0.f, y, l.out, threads);
  parallel_ranges(rows, 256, threads, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r)
      for (size_t j = 0; j < l.out; ++j) y[r * l.out + j] += l.b[j];
  });
}

void linear_backward(const LinearRef& l, const float* x, const float* dy, size_t rows, float* dw, float* db,
                     float* dx, bool accumulate, int threads) {
  sgemm_parallel(l.out, l.in, rows, 1.f, T(Mat{dy, l.out}), Mat{x, l.in}, 0.f, dw, l.in, threads);
  column_sums(dy, rows, l.out, db, threads);
  if (dx) sgemm_parallel(rows, l.in, l.out, 1.f, Mat{dy, l.out}, Mat{l.w, l.in}, accumulate ? 1.f : 0.f, dx, l.in, threads);
}

void column_sums(const float* m, size_t rows, size_t cols, float* out, int threads) {
  parallel_ranges(cols, 16, threads, [&](size_t c0, size_t c1) {
    std::vector<double> acc(c1 - c0, 0.0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t j = c0; j < c1; ++j) acc[j - c0] += m[r * cols + j];
    for (size_t j = c0; j < c1; ++j) out[j] = float(acc[j - c0]);
  });
}

}  // namespace lmrec::nn
