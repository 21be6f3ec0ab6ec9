// Shape of lmrec's small Llama-style decoder (the architecture of Hugging Face's
// LlamaForCausalLM with tied embeddings and no biases), plus its optional item heads.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lmrec::lm {

struct LlamaShape {
  uint32_t vocab = 0;
  uint32_t dim = 256;
  uint32_t layers = 4;
  uint32_t heads = 8;
  uint32_t kv_heads = 8;       // grouped-query attention when fewer than heads; must divide heads
  uint32_t ffn = 704;          // SwiGLU hidden width
  uint32_t max_positions = 512;
  uint32_t items = 0;          // rows of the item head (next-item prediction); 0 = no head
  uint32_t aux_heads = 0;      // extra item heads on intermediate block boundaries (distillation)
  bool tied = true;            // the output layer is the token embedding (else lm_head.weight)
  float rope_theta = 10000.f;
  float norm_eps = 1e-5f;

  uint32_t head_dim() const { return dim / heads; }
  uint32_t kv_width() const { return kv_heads * head_dim(); }
  void validate() const;  // throws InvalidArgument naming the bad field
};

}  // namespace lmrec::lm
