// IEEE half <-> float, portable (round to nearest even). Out of line on purpose: per-ISA
// kernel files convert with their own instructions and must not share inline helpers.
#pragma once
#include <cstdint>

namespace lmrec::quant {

uint16_t float_to_half(float value);
float half_to_float(uint16_t half);

}  // namespace lmrec::quant
