#include "quant/int8.h"

#include <algorithm>
#include <cmath>

namespace lmrec::quant {

float quantize_int8(const float* v, size_t dim, int8_t* codes) {
  float max_abs = 0.0f;
  for (size_t i = 0; i < dim; ++i) max_abs = std::max(max_abs, std::fabs(v[i]));
  if (max_abs == 0.0f) {
    std::fill(codes, codes + dim, int8_t(0));
    return 0.0f;
  }
  const float scale = max_abs / 127.0f;
  const float inv = 127.0f / max_abs;
  for (size_t i = 0; i < dim; ++i) {
    const float c = std::nearbyint(v[i] * inv);
    codes[i] = int8_t(std::clamp(c, -127.0f, 127.0f));
  }
  return scale;
}

}  // namespace lmrec::quant
