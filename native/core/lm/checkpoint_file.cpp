// Training checkpoints of the small decoder. Format v1 (little-endian, this machine's floats):
//   header (256 bytes): "LMRECLMT", version, header bytes, shape, options, step, corpus
//            fingerprint, parameter count
//   payload: parameters, AdamW's first and second moments, f32[param_count] each
//   last 16: CRC-32C of every byte before it, then "LMRECEND" (as in every lmrec file)
// A checkpoint is for resuming on the same machine type; models leave as Hugging Face
// directories (TypeScript writes those from the parameters).
#include <cmath>
#include <cstring>

#include "lm/lm_trainer.h"
#include "util/error.h"
#include "util/file_io.h"

namespace lmrec::lm {
namespace {

constexpr char kMagic[8] = {'L', 'M', 'R', 'E', 'C', 'L', 'M', 'T'};
constexpr uint32_t kVersion = 1;

struct Header {
  char magic[8];
  uint32_t version, header_bytes;
  // shape
  uint32_t vocab, dim, layers, heads, kv_heads, ffn, max_positions, items, aux_heads, tied;
  float rope_theta, norm_eps;
  // options
  float lr, beta1, beta2, eps, weight_decay, min_lr_ratio, clip_norm, lm_weight, item_weight, aux_weight, align_weight;
  uint32_t batch_tokens, context, freeze_layers, local_layers, corpus_fingerprint;
  uint64_t warmup_steps, total_steps, logits_bytes, seed;
  uint64_t step, param_count, payload_bytes;
  uint8_t reserved[256 - 184];
};
static_assert(sizeof(Header) == 256, "Header must be 256 bytes");

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::CorruptFile, "checkpoint '" + path + "' is damaged (" + why + "); resume from an earlier one or start again");
}

}  // namespace

void Trainer::save_checkpoint(const std::string& path) const {
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.header_bytes = sizeof(Header);
  const LlamaShape& s = shape();
  h.vocab = s.vocab, h.dim = s.dim, h.layers = s.layers, h.heads = s.heads, h.kv_heads = s.kv_heads, h.ffn = s.ffn;
  h.max_positions = s.max_positions, h.items = s.items, h.aux_heads = s.aux_heads, h.tied = s.tied;
  h.rope_theta = s.rope_theta, h.norm_eps = s.norm_eps;
  const TrainOptions& o = options_;
  h.lr = o.adam.lr, h.beta1 = o.adam.beta1, h.beta2 = o.adam.beta2, h.eps = o.adam.eps, h.weight_decay = o.adam.weight_decay;
  h.min_lr_ratio = o.min_lr_ratio, h.clip_norm = o.clip_norm, h.lm_weight = o.lm_weight, h.item_weight = o.item_weight;
  h.aux_weight = o.aux_weight, h.align_weight = o.align_weight;
  h.batch_tokens = o.batch_tokens, h.context = o.context, h.freeze_layers = o.freeze_layers, h.local_layers = o.local_layers;
  h.corpus_fingerprint = corpus_fingerprint_;
  h.warmup_steps = o.warmup_steps, h.total_steps = o.total_steps, h.logits_bytes = o.logits_bytes, h.seed = o.seed;
  h.step = step_;
  h.param_count = params_.size();
  h.payload_bytes = 3 * params_.size() * sizeof(float);
  AtomicFileWriter w(path);
  w.write(&h, sizeof(h));
  for (const auto* v : {&params_, &m_, &v_}) w.write(v->data(), v->size() * sizeof(float));
  write_trailer(w);
  w.commit();
}

std::unique_ptr<Trainer> Trainer::load_checkpoint(const std::string& path) {
  const std::shared_ptr<FileBytes> file = FileBytes::open(path, false);
  const uint8_t* p = file->data();
  const size_t size = file->size();
  if (size == 0 || std::memcmp(p, kMagic, std::min<size_t>(size, 8)) != 0)
    throw Error(ErrorCode::NotAModel, "'" + path + "' is not an lmrec training checkpoint");
  if (size < sizeof(Header)) throw Error(ErrorCode::TruncatedFile, "checkpoint '" + path + "' is cut short");
  Header h;
  std::memcpy(&h, p, sizeof(h));
  if (h.version > kVersion)
    throw Error(ErrorCode::UnsupportedVersion, "checkpoint '" + path + "' uses format v" + std::to_string(h.version) + ", newer than this lmrec reads (v1)");
  if (h.version == 0 || h.header_bytes != sizeof(Header)) corrupt(path, "bad header");
  LlamaShape s;
  s.vocab = h.vocab, s.dim = h.dim, s.layers = h.layers, s.heads = h.heads, s.kv_heads = h.kv_heads, s.ffn = h.ffn;
  s.max_positions = h.max_positions, s.items = h.items, s.aux_heads = h.aux_heads, s.tied = h.tied != 0;
  s.rope_theta = h.rope_theta, s.norm_eps = h.norm_eps;
  try {
    s.validate();
  } catch (const Error& e) {
    corrupt(path, std::string("bad shape: ") + e.what());
  }
  if (h.param_count != llama_param_count(s) || h.payload_bytes != 3 * h.param_count * sizeof(float))
    corrupt(path, "section sizes do not match the shape");
  const uint64_t total = sizeof(Header) + h.payload_bytes + sizeof(FileTrailer);
  if (size < total) throw Error(ErrorCode::TruncatedFile, "checkpoint '" + path + "' is cut short (an interrupted copy)");
  if (size > total) corrupt(path, "unexpected bytes after the end");
  if (const char* problem = trailer_problem(p, total, true)) corrupt(path, problem);

  auto t = std::make_unique<Trainer>(s, 0);
  TrainOptions& o = t->options_;
  o.adam = {h.lr, h.beta1, h.beta2, h.eps, h.weight_decay};
  o.min_lr_ratio = h.min_lr_ratio, o.clip_norm = h.clip_norm, o.lm_weight = h.lm_weight, o.item_weight = h.item_weight;
  o.aux_weight = h.aux_weight, o.align_weight = h.align_weight;
  o.batch_tokens = h.batch_tokens, o.context = h.context, o.freeze_layers = h.freeze_layers, o.local_layers = h.local_layers;
  o.warmup_steps = h.warmup_steps, o.total_steps = h.total_steps, o.logits_bytes = h.logits_bytes, o.seed = h.seed;
  try {
    o.validate(s);
  } catch (const Error& e) {
    corrupt(path, std::string("bad options: ") + e.what());
  }
  t->corpus_fingerprint_ = h.corpus_fingerprint;
  t->step_ = h.step;
  const float* src = reinterpret_cast<const float*>(p + sizeof(Header));
  const size_t n = h.param_count;
  for (auto* v : {&t->params_, &t->m_, &t->v_}) {
    std::memcpy(v->data(), src, n * sizeof(float));
    src += n;
  }
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(t->params_[i]) || !std::isfinite(t->m_[i]) || !(t->v_[i] >= 0)) corrupt(path, "non-finite values");
  return t;
}

}  // namespace lmrec::lm
