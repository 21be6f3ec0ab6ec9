#include "srm/params.h"

#include <cmath>

#include "nn/random.h"
#include "util/error.h"

namespace lmrec::srm {

void Shape::validate() const {
  auto bad = [](const std::string& what) { throw Error(ErrorCode::InvalidArgument, what); };
  if (items < 1) bad("items must be at least 1");
  if (dim < 1 || dim > 4096) bad("dim must be between 1 and 4096, got " + std::to_string(dim));
  if (blocks < 1 || blocks > 16) bad("blocks must be between 1 and 16, got " + std::to_string(blocks));
  if (heads < 1 || dim % heads) bad("heads (" + std::to_string(heads) + ") must divide dim (" + std::to_string(dim) + ")");
  if (max_len < 1 || max_len > 4096) bad("maxLen must be between 1 and 4096, got " + std::to_string(max_len));
  if (double(items) * dim > 2e9) bad("items x dim is too large for one embedding table");
  if (code_in > 65536) bad("the item features' width must be at most 65536, got " + std::to_string(code_in));
  if (has_codes() && (code_dim < 1 || code_dim > 4096)) bad("the code width must be between 1 and 4096, got " + std::to_string(code_dim));
  if (code_hidden > 16384) bad("the compression's hidden width must be at most 16384, got " + std::to_string(code_hidden));
}

void TrainOptions::validate() const {
  auto bad = [](const std::string& what) { throw Error(ErrorCode::InvalidArgument, what); };
  auto finite = [](float x) { return std::isfinite(x); };
  if (!(finite(adam.lr) && adam.lr > 0)) bad("lr must be a positive number");
  if (!(adam.beta1 >= 0 && adam.beta1 < 1 && adam.beta2 >= 0 && adam.beta2 < 1)) bad("betas must be in [0, 1)");
  if (!(finite(adam.eps) && adam.eps > 0)) bad("eps must be positive");
  if (!(finite(adam.weight_decay) && adam.weight_decay >= 0)) bad("weightDecay must be >= 0");
  if (!(dropout >= 0 && dropout < 1)) bad("dropout must be in [0, 1)");
  if (batch_size < 1) bad("batchSize must be at least 1");
  if (loss == Loss::Sampled && negatives < 1) bad("negatives must be at least 1");
  if (!(finite(sample_power) && sample_power >= 0)) bad("samplePower must be >= 0");
  if (logits_bytes < 1) bad("logitsBytes must be at least 1");
  if (!(code_noise >= 0 && code_noise <= 10)) bad("codeNoise must be in [0, 10]");
  if (!(id_dropout >= 0 && id_dropout < 1)) bad("idDropout must be in [0, 1)");
}

std::vector<TensorInfo> param_layout(const Shape& s) {
  std::vector<TensorInfo> out;
  size_t at = 0;
  auto add = [&](std::string name, size_t rows, size_t cols, Init init, float scale = 1.f) {
    out.push_back({std::move(name), rows, cols, at, init, scale});
    at += rows * cols;
  };
  const size_t d = s.dim;
  add("item_emb", s.items, d, Init::Xavier);
  add("pos_emb", s.max_len, d, Init::Xavier);
  for (uint32_t b = 0; b < s.blocks; ++b) {
    const std::string p = "block" + std::to_string(b) + ".";
    add(p + "ln1.gain", 1, d, Init::One);
    add(p + "ln1.bias", 1, d, Init::Zero);
    for (const char* w : {"q", "k", "v", "o"}) {
      add(p + "attn.w" + w, d, d, Init::Xavier);
      add(p + "attn.b" + w, 1, d, Init::Zero);
    }
    add(p + "ln2.gain", 1, d, Init::One);
    add(p + "ln2.bias", 1, d, Init::Zero);
    add(p + "ffn.w1", d, d, Init::Xavier);
    add(p + "ffn.b1", 1, d, Init::Zero);
    add(p + "ffn.w2", d, d, Init::Xavier);
    add(p + "ffn.b2", 1, d, Init::Zero);
  }
  add("final_ln.gain", 1, d, Init::One);
  add("final_ln.bias", 1, d, Init::Zero);
  if (s.has_codes()) {
    const size_t c = s.code_dim, h = s.code_hidden;
    add("codes.w1", s.code_in, h ? h : c, Init::Xavier);
    add("codes.b1", 1, h ? h : c, Init::Zero);
    if (h) {
      add("codes.w2", h, c, Init::Xavier);
      add("codes.b2", 1, c, Init::Zero);
    }
    // code · Proj starts as small as an ID-only model's Xavier item rows (std sqrt(2/(items+d))):
    // at the usual Xavier scale the code part was ~60x larger, its logits saturated the softmax,
    // and training took 2-3x the epochs of the ID-only model to reach the same quality
    add("codes.proj", c, d, Init::Xavier, std::sqrt(float(c + d) / float(size_t(s.items) + d) / float(c)));
  }
  return out;
}

size_t param_count(const Shape& s) {
  const auto l = param_layout(s);
  return l.back().offset + l.back().rows * l.back().cols;
}

ParamView view_params(const Shape& s, const std::vector<TensorInfo>& layout, float* base) {
  size_t i = 0;
  auto next = [&]() { return base + layout[i++].offset; };
  ParamView v;
  v.item_emb = next();
  v.pos_emb = next();
  v.blocks.resize(s.blocks);
  for (BlockView& b : v.blocks) {
    b.ln1_g = next(), b.ln1_b = next();
    b.wq = next(), b.bq = next(), b.wk = next(), b.bk = next();
    b.wv = next(), b.bv = next(), b.wo = next(), b.bo = next();
    b.ln2_g = next(), b.ln2_b = next();
    b.w1 = next(), b.b1 = next(), b.w2 = next(), b.b2 = next();
  }
  v.lnf_g = next();
  v.lnf_b = next();
  if (s.has_codes()) {
    v.code_w1 = next(), v.code_b1 = next();
    if (s.code_hidden) v.code_w2 = next(), v.code_b2 = next();
    v.code_proj = next();
  }
  return v;
}

void init_params(const Shape& s, float* base, uint64_t seed) {
  const auto layout = param_layout(s);
  for (size_t t = 0; t < layout.size(); ++t) {
    const TensorInfo& info = layout[t];
    float* p = base + info.offset;
    const size_t n = info.rows * info.cols;
    const uint64_t key = nn::stream_key(seed, 0x1417, t);
    const float std = info.scale * std::sqrt(2.f / float(info.rows + info.cols));
    for (size_t i = 0; i < n; ++i)
      p[i] = info.init == Init::Xavier ? std * nn::normal(key, i) : info.init == Init::One ? 1.f : 0.f;
  }
}

}  // namespace lmrec::srm
