#include "nn/rope.h"

#include <cmath>

#include "nn/parallel.h"

namespace lmrec::nn {
namespace {

void rotate(const RopeTable& t, const uint32_t* positions, size_t rows, size_t heads, float* x, float sign,
            int threads) {
  const size_t half = t.head_dim / 2, width = heads * t.head_dim;
  parallel_ranges(rows, 64, threads, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* c = t.cos.data() + size_t(positions[r]) * half;
      const float* s = t.sin.data() + size_t(positions[r]) * half;
      for (size_t h = 0; h < heads; ++h) {
        float* a = x + r * width + h * t.head_dim;
        float* b = a + half;
        for (size_t i = 0; i < half; ++i) {
          const float ai = a[i], bi = b[i], si = sign * s[i];
          a[i] = ai * c[i] - bi * si;
          b[i] = bi * c[i] + ai * si;
        }
      }
    }
  });
}

}  // namespace

RopeTable::RopeTable(size_t head_dim_, size_t max_positions, double theta) : head_dim(head_dim_), positions(max_positions) {
  const size_t half = head_dim / 2;
  cos.resize(positions * half);
  sin.resize(positions * half);
  for (size_t i = 0; i < half; ++i) {
    // As transformers computes it: inv_freq in float32, then position * inv_freq in float32.
    const float inv_freq = float(1.0 / std::pow(theta, double(2 * i) / double(head_dim)));
    for (size_t p = 0; p < positions; ++p) {
      const float angle = float(p) * inv_freq;
      cos[p * half + i] = std::cos(angle);
      sin[p * half + i] = std::sin(angle);
    }
  }
}

void rope_forward(const RopeTable& t, const uint32_t* positions, size_t rows, size_t heads, float* x, int threads) {
  rotate(t, positions, rows, heads, x, 1.f, threads);
}

void rope_backward(const RopeTable& t, const uint32_t* positions, size_t rows, size_t heads, float* dx, int threads) {
  rotate(t, positions, rows, heads, dx, -1.f, threads);
}

}  // namespace lmrec::nn
