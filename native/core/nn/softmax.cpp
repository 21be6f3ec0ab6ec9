#include "nn/softmax.h"

#include <algorithm>
#include <cmath>

#include "simd/kernels.h"

namespace lmrec::nn {

double softmax_in_place(float* x, size_t n, float scale) {
  const float mx = *std::max_element(x, x + n);
  const double sum = simd::best_kernels().exp_shifted(x, n, mx);
  const float k = float(double(scale) / sum);
  for (size_t j = 0; j < n; ++j) x[j] *= k;
  return std::log(sum) + double(mx);
}

}  // namespace lmrec::nn
