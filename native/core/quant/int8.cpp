#include "quant/int8.h"

#include <algorithm>
#include <cmath>

namespace lmrec::quant {

float quantize_int8(const float* v, size_t dim, int8_t* codes) {
  // Eight running maxima: one would be a chain of dependent max instructions (most of an
  // index's add); eight are independent, and the compiler turns them into one vector.
  float m[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8)
    for (size_t j = 0; j < 8; ++j) {
      const float a = std::fabs(v[i + j]);
      m[j] = a > m[j] ? a : m[j];
    }
  for (; i < dim; ++i) m[0] = std::max(m[0], std::fabs(v[i]));
  float max_abs = 0.0f;
  for (float x : m) max_abs = std::max(max_abs, x);
  if (max_abs == 0.0f) {
    std::fill(codes, codes + dim, int8_t(0));
    return 0.0f;
  }
  const float scale = max_abs / 127.0f;
  const float inv = 127.0f / max_abs;
  // Round half to even, as nearbyint does in the default rounding mode, by adding and taking
  // away 1.5 x 2^23 (exact for |c| < 2^22): no libm call per value, so the loop vectorises
  // (nearbyintf without SSE4.1 is a call, which made this most of an index's add).
  constexpr float kRound = 12582912.0f;
  for (i = 0; i < dim; ++i) {
    float c = v[i] * inv;
    c = c < -127.0f ? -127.0f : c;
    c = c > 127.0f ? 127.0f : c;
    codes[i] = int8_t(int32_t((c + kRound) - kRound));
  }
  return scale;
}

}  // namespace lmrec::quant
