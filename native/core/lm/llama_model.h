// The decoder's forward and backward passes, by hand, over a packed batch of sequences:
//
//   x0  = E[token]
//   per layer:
//     h   = x + Wo · attention(rope(Wq n1), rope(Wk n1), Wv n1),   n1 = rmsnorm(x)
//     x'  = h + Wdown · (silu(Wgate n2) * Wup n2),                 n2 = rmsnorm(h)
//   out = rmsnorm(x_L)                 logits of a row = out · E^T (tied head)
//
// Attention is causal within each sequence, or segment-local in the bottom `local_layers`
// layers (a row then sees only the rows of its own segment: the late-interaction layout,
// where those layers' states can be computed once per segment and cached).
#pragma once
#include <cstdint>
#include <vector>

#include "lm/llama_params.h"
#include "nn/attention.h"
#include "nn/rope.h"

namespace lmrec::lm {

struct LlamaBatch {
  std::vector<int32_t> tokens;
  std::vector<uint32_t> positions;  // within the sequence, from 0
  std::vector<uint32_t> segment_first;  // per row: the first row of its segment, within the sequence
  nn::PackedSequences seqs;

  void clear();
  // Appends tokens[0..n) as one sequence. segment_starts (may be null) marks, per token, the
  // first token of a new segment; with null the whole sequence is one segment.
  void add(const int32_t* tokens, uint32_t n, const uint8_t* segment_starts, size_t heads);
};

struct LayerActivations {
  std::vector<float> rstd1, n1, q, k, v, probs, attn, h, rstd2, n2, gate, up, act, out;
};

struct LlamaActivations {
  std::vector<float> x0, rstd_final, final_out;
  std::vector<LayerActivations> layers;
};

struct ForwardPlan {
  uint32_t local_layers = 0;  // bottom layers with segment-local attention
  bool keep = true;           // keep what backward needs (training); false at inference
};

class LlamaModel {
 public:
  explicit LlamaModel(const LlamaShape& shape);
  const LlamaShape& shape() const { return shape_; }
  const std::vector<LmTensor>& layout() const { return layout_; }

  // Fills acts; acts.layers[l].out holds the residual stream after layer l and
  // acts.final_out the normalised output rows.
  void forward(const float* params, const LlamaBatch& b, const ForwardPlan& plan, LlamaActivations& acts,
               int threads) const;

  // From d(loss)/d(final_out) and, optionally, extra gradients of each layer's output
  // (d_layer_out[l] null or [rows x dim], for losses on intermediate layers), writes the
  // gradients of layers >= first_layer, the final norm and, with first_layer = 0, the token
  // embedding, into grads. The embedding's gradient is added to (the tied head's share may be
  // there already); every other tensor's is overwritten.
  void backward(const float* params, const LlamaBatch& b, const ForwardPlan& plan, const LlamaActivations& acts,
                std::vector<float>& dfinal, const std::vector<const float*>& d_layer_out, uint32_t first_layer,
                float* grads, int threads) const;

 private:
  nn::AttentionShape attention_shape(const LlamaBatch& b, uint32_t layer, const ForwardPlan& plan) const;

  LlamaShape shape_;
  std::vector<LmTensor> layout_;
  nn::RopeTable rope_;
};

}  // namespace lmrec::lm
