// The compression module (MARC): an item's language-model state -> a small code, and the
// code's share of the item embedding.
//
//   code  = tanh(W2 · relu(W1 f + b1) + b2)      (or tanh(W1 f + b1) when linear)
//   train: code' = round(127 · clamp(code + σ·ε, ±1)) / 127, straight-through backward
//   E_eff = mask ⊙ E_id + code' · Proj
//
// tanh bounds every code to (-1, 1): the information constraint (with the noise) that keeps
// codes general, and what makes int8 a fixed-scale quantizer (code · 127), so the codes
// stored and served are exactly the ones training saw.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "srm/params.h"

namespace lmrec::srm {

struct CodeActivations {
  std::vector<float> hidden;  // n x code_hidden, after relu (MLP only)
  std::vector<float> z;       // n x code_dim, tanh outputs
  std::vector<float> codes;   // n x code_dim, what E_eff uses (noised, rounded when int8)
};

// Codes of n items' features (n x code_in). noise > 0 adds N(0, noise²) from stream noise_key;
// int8 rounds to multiples of 1/127.
void encode_codes(const Shape& s, const ParamView& w, const float* features, size_t n, float noise, uint64_t noise_key,
                  CodeActivations& acts, int threads);

// out (n x dim) = mask ⊙ id_rows + codes · Proj; id_rows may be null (code part only).
void effective_embeddings(const Shape& s, const ParamView& w, const float* codes, const float* id_rows,
                          const uint8_t* id_mask, size_t n, float* out, int threads);

// From d(loss)/d(E_eff) (n x dim), adds the compression module's and Proj's gradients to g
// (straight-through for the noise and rounding).
void codes_backward(const Shape& s, const ParamView& w, const float* features, size_t n, const CodeActivations& acts,
                    const float* dE, const ParamView& g, int threads);

inline float quantize_code(float x) {
  const float c = x > 1.f ? 1.f : x < -1.f ? -1.f : x;
  return float(int(c * 127.f + (c >= 0 ? 0.5f : -0.5f))) / 127.f;
}

}  // namespace lmrec::srm
