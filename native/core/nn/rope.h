// Rotary position embedding as Hugging Face's Llama applies it ("rotate half"): within each
// head, dimension i < dh/2 pairs with i + dh/2 and the pair turns by position * theta^(-2i/dh).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lmrec::nn {

// cos and sin of every (position, frequency) for positions [0, max_positions).
struct RopeTable {
  size_t head_dim = 0, positions = 0;
  std::vector<float> cos, sin;  // [positions x head_dim / 2]
  RopeTable(size_t head_dim, size_t max_positions, double theta);
};

// Rotates, in place, each row of x ([rows x heads * head_dim]) by its row's position.
void rope_forward(const RopeTable& t, const uint32_t* positions, size_t rows, size_t heads, float* x, int threads);
// The transpose (the inverse rotation): turns the gradient of the output into the input's.
void rope_backward(const RopeTable& t, const uint32_t* positions, size_t rows, size_t heads, float* dx, int threads);

}  // namespace lmrec::nn
