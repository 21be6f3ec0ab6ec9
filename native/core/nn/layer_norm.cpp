#include "nn/layer_norm.h"

#include <cmath>
#include <vector>

#include "nn/parallel.h"

namespace lmrec::nn {

void layer_norm_forward(const float* x, size_t rows, size_t dim, const float* gain, const float* bias, float eps,
                        float* y, const LayerNormCache* cache, int threads) {
  parallel_ranges(rows, 64, threads, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * dim;
      double s = 0, s2 = 0;
      for (size_t j = 0; j < dim; ++j) s += xr[j];
      const double mean = s / double(dim);
      for (size_t j = 0; j < dim; ++j) s2 += (xr[j] - mean) * (xr[j] - mean);
      const float rstd = float(1.0 / std::sqrt(s2 / double(dim) + eps));
      const float m = float(mean);
      float* yr = y + r * dim;
      for (size_t j = 0; j < dim; ++j) yr[j] = (xr[j] - m) * rstd * gain[j] + bias[j];
      if (cache) {
        cache->mean[r] = m;
        cache->rstd[r] = rstd;
      }
    }
  });
}

void layer_norm_backward(const float* x, const float* dy, size_t rows, size_t dim, const float* gain,
                         const float* mean, const float* rstd, float* dx, float* dgain, float* dbias, int threads) {
  // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gain.
  parallel_ranges(rows, 64, threads, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * dim;
      const float* dyr = dy + r * dim;
      const float m = mean[r], rs = rstd[r];
      double sg = 0, sgx = 0;
      for (size_t j = 0; j < dim; ++j) {
        const float g = dyr[j] * gain[j];
        sg += g;
        sgx += g * (xr[j] - m) * rs;
      }
      const float mg = float(sg / double(dim)), mgx = float(sgx / double(dim));
      float* dxr = dx + r * dim;
      for (size_t j = 0; j < dim; ++j) dxr[j] += rs * (dyr[j] * gain[j] - mg - (xr[j] - m) * rs * mgx);
    }
  });
  // Parameter gradients by column groups: each column sums its rows in order.
  parallel_ranges(dim, 16, threads, [&](size_t c0, size_t c1) {
    std::vector<double> g(c1 - c0, 0.0), b(c1 - c0, 0.0);
    for (size_t r = 0; r < rows; ++r) {
      const float m = mean[r], rs = rstd[r];
      for (size_t j = c0; j < c1; ++j) {
        const float d = dy[r * dim + j];
        g[j - c0] += d * (x[r * dim + j] - m) * rs;
        b[j - c0] += d;
      }
    }
    for (size_t j = c0; j < c1; ++j) {
      dgain[j] = float(g[j - c0]);
      dbias[j] = float(b[j - c0]);
    }
  });
}

}  // namespace lmrec::nn
