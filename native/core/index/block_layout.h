// Reads and writes single vectors (lanes) in the block-interleaved layout of simd/kernels.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "simd/kernels.h"

namespace lmrec::layout {

// Writes lane `lane` of `block`; for Int8 `codes` holds dim codes, else `values` holds dim floats.
void write_lane(simd::Storage s, uint8_t* block, size_t dim_padded, int lane, size_t dim,
                const int8_t* codes, const float* values);
// Reads lane `lane` back as floats (int8 as raw codes, unscaled).
void read_lane(simd::Storage s, const uint8_t* block, size_t dim_padded, int lane, size_t dim,
               float* out);
void copy_lane(simd::Storage s, const uint8_t* src_block, int src_lane, uint8_t* dst_block,
               int dst_lane, size_t dim_padded);
// Sets a lane to the zero vector (int8 code 128 = 0 after the bias).
void clear_lane(simd::Storage s, uint8_t* block, int lane, size_t dim_padded);
// Fills a whole block with zero vectors.
void clear_block(simd::Storage s, uint8_t* block, size_t dim_padded);

}  // namespace lmrec::layout
