// The decoder's parameters live in one flat float array, in a fixed layout of named tensors
// (Hugging Face's names, so export is a rename-free copy). Gradients and AdamW's moments use
// the same layout. The embedding and the bottom layers come first, so "everything from layer
// F up" is one contiguous range: freezing the bottom of the model is an offset.
#pragma once
#include <string>
#include <vector>

#include "lm/llama_shape.h"

namespace lmrec::lm {

struct LmTensor {
  std::string name;
  size_t rows, cols, offset;
  float init_std;  // normal(0, init_std); 0 means a gain of ones
};

std::vector<LmTensor> llama_layout(const LlamaShape& s);
size_t llama_param_count(const LlamaShape& s);
// Offset of layer `layer`'s first tensor (layer = s.layers: the final norm's).
size_t llama_layer_offset(const std::vector<LmTensor>& layout, uint32_t layer);

struct LlamaLayerView {
  float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w_gate, *w_up, *w_down;
};

struct LlamaView {
  float* embed;  // [vocab x dim]; also the output layer
  std::vector<LlamaLayerView> layers;
  float* norm;                      // [dim]
  float* head;                      // [vocab x dim]: lm_head.weight, or the embedding when tied
  float* item_head;                 // [items x dim] or null
  std::vector<float*> aux_heads;    // aux_heads x [items x dim]
};

LlamaView view_llama(const LlamaShape& s, const std::vector<LmTensor>& layout, float* base);

// Deterministic in the seed: normal(0, 0.02) matrices (transformers' initializer_range), unit gains.
void init_llama(const std::vector<LmTensor>& layout, float* base, uint64_t seed);

}  // namespace lmrec::lm
