// Causal multi-head self-attention over packed variable-length sequences: sequence s
// occupies rows [begin[s], begin[s] + len[s]) of the Q, K, V matrices, and a row attends to
// the rows of its own sequence up to itself (or, with a mask, to a suffix of those). No
// padding rows are ever computed. Grouped-query attention: kv_heads key/value heads, each
// shared by heads / kv_heads query heads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lmrec::nn {

struct PackedSequences {
  std::vector<uint32_t> begin, len;
  size_t rows = 0;
  // Offsets of each sequence's heads x len x len attention probabilities, and their total.
  std::vector<size_t> prob_offset;
  size_t prob_floats = 0;

  void add(uint32_t n, size_t heads);
  void clear();
  size_t count() const { return len.size(); }
};

struct AttentionShape {
  size_t heads, kv_heads, head_dim;
  // Optional, per packed row: the first row (counted within its sequence) it may see, so row i
  // sees rows [first[i], i]. Segment-local attention (a row sees only its own segment) and
  // sliding windows are both such masks. Null: plain causal, first = 0.
  const uint32_t* first = nullptr;

  size_t q_width() const { return heads * head_dim; }
  size_t kv_width() const { return kv_heads * head_dim; }
  // Multi-head attention over [rows x dim] matrices.
  static AttentionShape mha(size_t dim, size_t heads) { return {heads, heads, dim / heads}; }
};

struct AttentionDropout {
  float p = 0.f;     // 0 disables it
  uint64_t key = 0;  // nn::random stream of the keep decisions
};

// out = softmax(Q K^T / sqrt(dh) + mask), dropped out, times V, head by head. Q and out have
// rows of q_width floats, K and V of kv_width. probs (size seqs.prob_floats for `heads`, may be
// null) receives the probabilities before dropout.
void attention_forward(const float* q, const float* k, const float* v, const PackedSequences& seqs,
                       const AttentionShape& shape, const AttentionDropout& drop, float* probs, float* out,
                       int threads);

// Inference: attention of each sequence's last row only. q holds one row a sequence (in
// sequence order); k and v every row; out one row a sequence.
void attention_last_rows(const float* q, const float* k, const float* v, const PackedSequences& seqs, size_t dim,
                         size_t heads, float* out, int threads);

// Gradients of Q, K, V (overwritten) from dout, using the forward's probs.
void attention_backward(const float* q, const float* k, const float* v, const PackedSequences& seqs,
                        const AttentionShape& shape, const AttentionDropout& drop, const float* probs,
                        const float* dout, float* dq, float* dk, float* dv, int threads);

}  // namespace lmrec::nn
