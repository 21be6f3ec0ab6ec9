#include "index/block_layout.h"

#include <cstring>

#include "quant/f16.h"

namespace lmrec::layout {
namespace {

using simd::kLanes;
using simd::Storage;

// A lane owns `unit` bytes in each row of 16 * unit bytes: int8 rows are groups of 4 dims.
size_t unit_bytes(Storage s) { return s == Storage::F16 ? 2 : 4; }
size_t rows(Storage s, size_t dim_padded) { return s == Storage::Int8 ? dim_padded / 4 : dim_padded; }

}  // namespace

void write_lane(Storage s, uint8_t* block, size_t dp, int lane, size_t dim, const int8_t* codes,
                const float* values) {
  clear_lane(s, block, lane, dp);
  for (size_t d = 0; d < dim; ++d) {
    switch (s) {
      case Storage::Int8:
        block[(d / 4) * 64 + lane * 4 + d % 4] = uint8_t(int(codes[d]) + 128);
        break;
      case Storage::F16: {
        const uint16_t h = quant::float_to_half(values[d]);
        std::memcpy(block + (d * kLanes + lane) * 2, &h, 2);
        break;
      }
      case Storage::F32:
        std::memcpy(block + (d * kLanes + lane) * 4, &values[d], 4);
        break;
    }
  }
}

void read_lane(Storage s, const uint8_t* block, size_t /*dp*/, int lane, size_t dim, float* out) {
  for (size_t d = 0; d < dim; ++d) {
    switch (s) {
      case Storage::Int8:
        out[d] = float(int(block[(d / 4) * 64 + lane * 4 + d % 4]) - 128);
        break;
      case Storage::F16: {
        uint16_t h;
        std::memcpy(&h, block + (d * kLanes + lane) * 2, 2);
        out[d] = quant::half_to_float(h);
        break;
      }
      case Storage::F32:
        std::memcpy(&out[d], block + (d * kLanes + lane) * 4, 4);
        break;
    }
  }
}

void copy_lane(Storage s, const uint8_t* src, int src_lane, uint8_t* dst, int dst_lane, size_t dp) {
  const size_t u = unit_bytes(s);
  for (size_t r = 0; r < rows(s, dp); ++r)
    std::memcpy(dst + r * kLanes * u + dst_lane * u, src + r * kLanes * u + src_lane * u, u);
}

void clear_lane(Storage s, uint8_t* block, int lane, size_t dp) {
  const size_t u = unit_bytes(s);
  const int fill = s == Storage::Int8 ? 128 : 0;
  for (size_t r = 0; r < rows(s, dp); ++r) std::memset(block + r * kLanes * u + lane * u, fill, u);
}

void clear_block(Storage s, uint8_t* block, size_t dp) {
  std::memset(block, s == Storage::Int8 ? 128 : 0, simd::block_bytes(s, dp));
}

}  // namespace lmrec::layout
