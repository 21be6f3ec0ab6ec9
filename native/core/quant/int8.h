// Symmetric per-vector int8: scale = max|x| / 127, code = round(x / scale) in [-127, 127].
// -128 is never produced, so |code| <= 127 everywhere (the AVX2 kernel relies on it).
#pragma once
#include <cstddef>
#include <cstdint>

namespace lmrec::quant {

// Writes dim codes and returns the scale (0 for an all-zero vector).
float quantize_int8(const float* v, size_t dim, int8_t* codes);

}  // namespace lmrec::quant
