#include "lm/llama_params.h"

#include "nn/random.h"
#include "util/error.h"

namespace lmrec::lm {

void LlamaShape::validate() const {
  auto bad = [](const std::string& what) { throw Error(ErrorCode::InvalidArgument, what); };
  auto n = [](uint32_t v) { return std::to_string(v); };
  if (vocab < 2 || vocab > (1u << 20)) bad("vocab must be between 2 and 1048576, got " + n(vocab));
  if (dim < 2 || dim > 8192) bad("dim must be between 2 and 8192, got " + n(dim));
  if (layers < 1 || layers > 128) bad("layers must be between 1 and 128, got " + n(layers));
  if (heads < 1 || dim % heads) bad("heads (" + n(heads) + ") must divide dim (" + n(dim) + ")");
  if (head_dim() % 2) bad("dim / heads must be even for rotary embeddings, got " + n(head_dim()));
  if (kv_heads < 1 || heads % kv_heads) bad("kvHeads (" + n(kv_heads) + ") must divide heads (" + n(heads) + ")");
  if (ffn < 1 || ffn > 65536) bad("ffn must be between 1 and 65536, got " + n(ffn));
  if (max_positions < 2 || max_positions > 65536) bad("maxPositions must be between 2 and 65536, got " + n(max_positions));
  if (items > (1u << 24)) bad("the item head holds at most 16777216 items, got " + n(items));
  if (aux_heads && !items) bad("auxiliary item heads need an item head (items > 0)");
  if (aux_heads >= layers) bad("auxHeads must be below layers");
  if (!(rope_theta > 1.f) || !(norm_eps > 0.f && norm_eps < 1.f)) bad("ropeTheta must be > 1 and normEps in (0, 1)");
  const double floats = double(llama_param_count(*this));
  if (floats > double(1ull << 31)) bad("the model has more than 2^31 parameters; lmrec trains small models only");
}

std::vector<LmTensor> llama_layout(const LlamaShape& s) {
  std::vector<LmTensor> out;
  size_t at = 0;
  const float std = 0.02f;
  auto add = [&](std::string name, size_t rows, size_t cols, float init_std) {
    out.push_back({std::move(name), rows, cols, at, init_std});
    at += rows * cols;
  };
  const size_t d = s.dim, kw = s.kv_width();
  add("model.embed_tokens.weight", s.vocab, d, std);
  for (uint32_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", 1, d, 0.f);
    add(p + "self_attn.q_proj.weight", d, d, std);
    add(p + "self_attn.k_proj.weight", kw, d, std);
    add(p + "self_attn.v_proj.weight", kw, d, std);
    add(p + "self_attn.o_proj.weight", d, d, std);
    add(p + "post_attention_layernorm.weight", 1, d, 0.f);
    add(p + "mlp.gate_proj.weight", s.ffn, d, std);
    add(p + "mlp.up_proj.weight", s.ffn, d, std);
    add(p + "mlp.down_proj.weight", d, s.ffn, std);
  }
  add("model.norm.weight", 1, d, 0.f);
  if (!s.tied) add("lm_head.weight", s.vocab, d, std);
  if (s.items) add("item_head.weight", s.items, d, std);
  for (uint32_t h = 0; h < s.aux_heads; ++h) add("aux_item_heads." + std::to_string(h) + ".weight", s.items, d, std);
  return out;
}

size_t llama_param_count(const LlamaShape& s) {
  const auto layout = llama_layout(s);
  return layout.back().offset + layout.back().rows * layout.back().cols;
}

size_t llama_layer_offset(const std::vector<LmTensor>& layout, uint32_t layer) {
  return layout[1 + size_t(layer) * 9].offset;  // the embedding, then 9 tensors a layer
}

LlamaView view_llama(const LlamaShape& s, const std::vector<LmTensor>& layout, float* base) {
  LlamaView v;
  size_t t = 0;
  auto next = [&] { return base + layout[t++].offset; };
  v.embed = next();
  v.layers.resize(s.layers);
  for (auto& l : v.layers) {
    l.attn_norm = next();
    l.wq = next();
    l.wk = next();
    l.wv = next();
    l.wo = next();
    l.ffn_norm = next();
    l.w_gate = next();
    l.w_up = next();
    l.w_down = next();
  }
  v.norm = next();
  v.head = s.tied ? v.embed : next();
  v.item_head = s.items ? next() : nullptr;
  for (uint32_t h = 0; h < s.aux_heads; ++h) v.aux_heads.push_back(next());
  return v;
}

void init_llama(const std::vector<LmTensor>& layout, float* base, uint64_t seed) {
  for (size_t t = 0; t < layout.size(); ++t) {
    const LmTensor& info = layout[t];
    float* p = base + info.offset;
    const size_t n = info.rows * info.cols;
    const uint64_t key = nn::stream_key(seed, t);
    for (size_t i = 0; i < n; ++i) p[i] = info.init_std > 0 ? info.init_std * nn::normal(key, i) : 1.f;
  }
}

}  // namespace lmrec::lm
