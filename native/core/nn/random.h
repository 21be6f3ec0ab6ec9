// Counter-based random numbers: a value depends only on (key, index), never on which thread
// asked or in what order, which keeps seeded training reproducible under any thread count.
#pragma once
#include <cmath>
#include <cstdint>

namespace lmrec::nn {

inline uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A key for one stream, from a seed and up to three stream coordinates (step, tensor, ...).
inline uint64_t stream_key(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return mix64(mix64(mix64(seed ^ mix64(a)) ^ b) ^ c);
}

// Uniform in [0, 1) with 24 bits.
inline float uniform(uint64_t key, uint64_t index) { return float(mix64(key ^ (index * 0xd1342543de82ef95ull)) >> 40) * 0x1p-24f; }

// Standard normal (Box-Muller on two uniforms of the stream).
inline float normal(uint64_t key, uint64_t index) {
  const double u1 = (double(mix64(key ^ (2 * index * 0xd1342543de82ef95ull)) >> 11) + 1.0) * 0x1p-53;
  const double u2 = double(mix64(key ^ ((2 * index + 1) * 0xd1342543de82ef95ull)) >> 11) * 0x1p-53;
  return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

// A sequential generator for shuffles and sampling, seeded explicitly (std::shuffle's
// algorithm differs between standard libraries; this does not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() { return mix64(state_++); }
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32).
  uint64_t below(uint64_t n) { return uint64_t((unsigned __int128)next() * n >> 64); }
  double unit() { return double(next() >> 11) * 0x1p-53; }

 private:
  uint64_t state_;
};

}  // namespace lmrec::nn
