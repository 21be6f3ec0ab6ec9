#include "nn/rms_norm.h"

#include <cmath>
#include <vector>

#include "nn/parallel.h"

namespace lmrec::nn {

void rms_norm_forward(const float* x, size_t rows, size_t dim, const float* gain, float eps, float* y, float* rstd,
                      int threads) {
  parallel_ranges(rows, 32, threads, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * dim;
      double ss = 0;
      for (size_t j = 0; j < dim; ++j) ss += double(xr[j]) * xr[j];
      const float rs = float(1.0 / std::sqrt(ss / double(dim) + double(eps)));
      if (rstd) rstd[r] = rs;
      float* yr = y + r * dim;
      for (size_t j = 0; j < dim; ++j) yr[j] = xr[j] * rs * gain[j];
    }
  });
}

void rms_norm_backward(const float* x, const float* dy, size_t rows, size_t dim, const float* gain,
                       const float* rstd, float* dx, float* dgain, int threads) {
  // dx = rstd * (g*dy - xhat * mean(g*dy*xhat)), xhat = x * rstd.
  parallel_ranges(rows, 32, threads, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * dim;
      const float* dyr = dy + r * dim;
      const float rs = rstd[r];
      double dot = 0;
      for (size_t j = 0; j < dim; ++j) dot += double(gain[j]) * dyr[j] * xr[j] * rs;
      const float m = float(dot / double(dim));
      float* dxr = dx + r * dim;
      for (size_t j = 0; j < dim; ++j) dxr[j] += rs * (gain[j] * dyr[j] - xr[j] * rs * m);
    }
  });
  // Column sums in row order: the same result on any thread count.
  parallel_ranges(dim, 16, threads, [&](size_t c0, size_t c1) {
    std::vector<double> acc(c1 - c0, 0.0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t j = c0; j < c1; ++j) acc[j - c0] += double(dy[r * dim + j]) * x[r * dim + j] * rstd[r];
    for (size_t j = c0; j < c1; ++j) dgain[j] = float(acc[j - c0]);
  });
}

}  // namespace lmrec::nn
