#include "lm/lm_trainer.h"

#include <algorithm>
#include <cmath>

#include "nn/gemm.h"
#include "nn/parallel.h"
#include "nn/random.h"
#include "nn/rms_norm.h"
#include "srm/loss.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace lmrec::lm {
namespace {

using nn::Mat;

int thread_count(int requested) { return requested > 0 ? requested : hardware_threads(); }

[[noreturn]] void bad(const std::string& what) { throw Error(ErrorCode::InvalidArgument, what); }

// Rows of m [.. x d] at `rows`, packed.
std::vector<float> gather(const float* m, const std::vector<uint32_t>& rows, size_t d) {
  std::vector<float> out(rows.size() * d);
  for (size_t i = 0; i < rows.size(); ++i) std::copy_n(m + size_t(rows[i]) * d, d, out.data() + i * d);
  return out;
}

void scatter_add(const float* packed, const std::vector<uint32_t>& rows, size_t d, float scale, float* m) {
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < d; ++j) m[size_t(rows[i]) * d + j] += scale * packed[i * d + j];
}

void scale_in_place(float* p, size_t n, float s) {
  if (s != 1.f)
    for (size_t i = 0; i < n; ++i) p[i] *= s;
}

// Mean softmax cross-entropy of rows `rows` of h against `targets` through W [classes x d].
// Adds scale x its gradient to dh's rows, and scale x its gradient to dW, which must hold
// zeros on entry (each head's gradient comes from this loss alone, or first from it: the tied
// embedding's), so the scale applies to the whole tensor without a classes x d scratch copy.
// dh and dW null: the loss only (evaluation).
double head_loss(const float* h, const std::vector<uint32_t>& rows, const std::vector<int32_t>& targets,
                 const float* W, size_t classes, size_t d, float scale, size_t logits_bytes, float* dh, float* dW,
                 int threads) {
  if (rows.empty()) return 0;
  const std::vector<float> H = gather(h, rows, d);
  std::vector<float> dout;
  const srm::LossInput in{H.data(), targets.data(), rows.size(), W, classes, d};
  const double loss = srm::full_softmax_loss(in, logits_bytes, dout, dW, threads);
  if (dh) scatter_add(dout.data(), rows, d, scale, dh);
  if (dW) scale_in_place(dW, classes * d, scale);
  return loss;
}

}  // namespace

void Corpus::validate(const LlamaShape& s) const {
  if (offsets.empty() || offsets[0] != 0 || offsets.back() != tokens.size()) bad("offsets must start at 0 and end at the number of tokens");
  for (size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] < offsets[i - 1]) bad("offsets must be non-decreasing");
  for (int32_t t : tokens)
    if (t < 0 || uint32_t(t) >= s.vocab)
      throw Error(ErrorCode::UnknownId, "token " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(s.vocab));
  if (event_ends.size() != next_items.size()) bad("eventEnds and nextItems must have the same length");
  for (size_t e = 0; e < event_ends.size(); ++e) {
    if (event_ends[e] >= tokens.size() || (e && event_ends[e] <= event_ends[e - 1]))
      bad("eventEnds must be increasing token indices");
    const int32_t it = next_items[e];
    if (it < -1 || (it >= 0 && uint32_t(it) >= s.items))
      throw Error(ErrorCode::UnknownId, "next item " + std::to_string(it) + " is outside the item head's " + std::to_string(s.items) + " items");
  }
  if (!score_from.empty()) {
    if (score_from.size() != count()) bad("scoreFrom must hold one token index per sequence");
    for (size_t s = 0; s < count(); ++s)
      if (score_from[s] < offsets[s] || score_from[s] > offsets[s + 1]) bad("scoreFrom[" + std::to_string(s) + "] is outside its sequence");
  }
  if (!teacher.empty()) {
    if (teacher_dim != s.dim) bad("the teacher's hidden states have " + std::to_string(teacher_dim) + " dimensions, the student " + std::to_string(s.dim));
    if (teacher.size() != count() * size_t(teacher_points) * teacher_dim) bad("teacher states must hold points x dim floats per sequence");
    for (float x : teacher)
      if (!std::isfinite(x)) throw Error(ErrorCode::NonFinite, "the teacher's hidden states hold a non-finite value");
  }
}

uint32_t Corpus::fingerprint() const {
  uint32_t c = crc32c(tokens.data(), tokens.size() * sizeof(int32_t));
  c = crc32c(offsets.data(), offsets.size() * sizeof(uint64_t), c);
  c = crc32c(event_ends.data(), event_ends.size() * sizeof(uint64_t), c);
  c = crc32c(next_items.data(), next_items.size() * sizeof(int32_t), c);
  c = crc32c(&teacher_points, sizeof(teacher_points), c);
  return crc32c(teacher.data(), teacher.size() * sizeof(float), c);
}

void TrainOptions::validate(const LlamaShape& s) const {
  auto finite_pos = [](float x) { return std::isfinite(x) && x > 0; };
  if (!finite_pos(adam.lr)) bad("lr must be a positive number");
  if (!(adam.beta1 >= 0 && adam.beta1 < 1 && adam.beta2 >= 0 && adam.beta2 < 1)) bad("betas must be in [0, 1)");
  if (!finite_pos(adam.eps)) bad("eps must be positive");
  if (!(std::isfinite(adam.weight_decay) && adam.weight_decay >= 0)) bad("weightDecay must be >= 0");
  if (!(min_lr_ratio >= 0 && min_lr_ratio <= 1)) bad("minLrRatio must be in [0, 1]");
  if (total_steps < 1) bad("totalSteps must be at least 1");
  if (!(std::isfinite(clip_norm) && clip_norm >= 0)) bad("clipNorm must be >= 0");
  if (batch_tokens < 2) bad("batchTokens must be at least 2");
  if (context < 2 || context > s.max_positions) bad("context must be between 2 and the model's " + std::to_string(s.max_positions) + " positions");
  for (float w : {lm_weight, item_weight, aux_weight, align_weight})
    if (!(std::isfinite(w) && w >= 0)) bad("loss weights must be finite and >= 0");
  if (freeze_layers >= s.layers) bad("freezeLayers must leave at least one layer to train");
  if (local_layers > s.layers) bad("localLayers cannot exceed the layers");
  if (logits_bytes < 1) bad("logitsBytes must be at least 1");
}

Trainer::Trainer(const LlamaShape& shape, uint64_t seed) : model_(shape) {
  params_.resize(llama_param_count(shape));
  init_llama(model_.layout(), params_.data(), seed);
  reset_optimizer();
}

void Trainer::reset_optimizer() {
  m_.assign(params_.size(), 0.f);
  v_.assign(params_.size(), 0.f);
  step_ = 0;
}

void Trainer::set_corpus(std::shared_ptr<const Corpus> corpus, const TrainOptions& o, bool resuming) {
  o.validate(shape());
  corpus->validate(shape());
  if (resuming && corpus->fingerprint() != corpus_fingerprint_)
    bad("this corpus differs from the one the checkpoint was trained on: resume with the same data and options");
  if (o.align_weight > 0 && (corpus->teacher.empty() || corpus->teacher_points != shape().aux_heads + 1))
    bad("alignment needs teacher states at auxHeads + 1 block boundaries");
  if (o.item_weight > 0 && !corpus->event_ends.empty() && !shape().items) bad("next-item targets need an item head (items > 0)");
  std::vector<Window> windows = windows_of(*corpus, o.context);
  if (windows.empty()) bad("the corpus holds no tokens");
  // Nothing changes until every check has passed.
  corpus_fingerprint_ = corpus->fingerprint();
  corpus_ = std::move(corpus);
  options_ = o;
  windows_ = std::move(windows);
  epoch_ = UINT64_MAX;
}

std::vector<Trainer::Window> Trainer::windows_of(const Corpus& c, uint32_t context) {
  std::vector<Window> out;
  for (uint32_t s = 0; s < c.count(); ++s)
    for (uint64_t b = c.offsets[s]; b < c.offsets[s + 1]; b += context)
      out.push_back({s, b, uint32_t(std::min<uint64_t>(context, c.offsets[s + 1] - b))});
  return out;
}

std::vector<Trainer::Window> Trainer::batch_windows(uint64_t step) {
  auto build = [&](uint64_t epoch) {
    epoch_order_.resize(windows_.size());
    for (uint32_t i = 0; i < epoch_order_.size(); ++i) epoch_order_[i] = i;
    nn::Rng rng(nn::stream_key(options_.seed, 0x5eed, epoch));
    for (size_t i = epoch_order_.size(); i > 1; --i) std::swap(epoch_order_[i - 1], epoch_order_[rng.below(i)]);
    epoch_batches_.assign(1, 0);
    uint64_t tokens = 0;
    for (size_t i = 0; i < epoch_order_.size(); ++i) {
      const uint32_t len = windows_[epoch_order_[i]].len;
      if (tokens && tokens + len > options_.batch_tokens) {
        epoch_batches_.push_back(i);
        tokens = 0;
      }
      tokens += len;
    }
    epoch_batches_.push_back(epoch_order_.size());
  };
  if (epoch_ == UINT64_MAX || step < epoch_first_step_) {
    epoch_ = 0;
    epoch_first_step_ = 0;
    build(0);
  }
  while (step >= epoch_first_step_ + (epoch_batches_.size() - 1)) {
    epoch_first_step_ += epoch_batches_.size() - 1;
    build(++epoch_);
  }
  const size_t i = step - epoch_first_step_;
  std::vector<Window> out;
  for (size_t j = epoch_batches_[i]; j < epoch_batches_[i + 1]; ++j) out.push_back(windows_[epoch_order_[j]]);
  return out;
}

namespace {

// Appends tokens [begin, begin + len) of c to b as one sequence; with segments, a new segment
// starts after each event's last token (what segment-local attention reads).
void add_span(const Corpus& c, uint64_t begin, uint32_t len, bool segments, size_t heads, LlamaBatch& b) {
  thread_local std::vector<uint8_t> starts;
  if (segments) {
    starts.assign(len, 0);
    starts[0] = 1;
    auto e = std::lower_bound(c.event_ends.begin(), c.event_ends.end(), begin);
    for (; e != c.event_ends.end() && *e + 1 < begin + len; ++e) starts[*e + 1 - begin] = 1;
  }
  b.add(c.tokens.data() + begin, len, segments ? starts.data() : nullptr, heads);
}

}  // namespace

void Trainer::fill_batch(const Corpus& c, const std::vector<Window>& ws, LlamaBatch& b) const {
  b.clear();
  for (const Window& w : ws) add_span(c, w.begin, w.len, options_.local_layers > 0, shape().heads, b);
}

uint32_t Trainer::boundary_layer(uint32_t point, uint32_t points) const {
  return uint32_t(uint64_t(shape().layers) * (point + 1) / points) - 1;
}

float Trainer::lr_at(uint64_t t) const {
  const TrainOptions& o = options_;
  if (o.warmup_steps && t <= o.warmup_steps) return o.adam.lr * float(t) / float(o.warmup_steps);
  const uint64_t span = o.total_steps > o.warmup_steps ? o.total_steps - o.warmup_steps : 1;
  const double progress = std::min(1.0, double(t - std::min(t, o.warmup_steps)) / double(span));
  const double floor = o.min_lr_ratio;
  return float(o.adam.lr * (floor + (1 - floor) * 0.5 * (1 + std::cos(3.141592653589793 * progress))));
}

Trainer::StepLosses Trainer::forward_backward(const std::vector<Window>& ws, std::vector<float>& grads) {
  const LlamaShape& s = shape();
  const Corpus& c = *corpus_;
  const TrainOptions& o = options_;
  const int threads = thread_count(o.threads);
  const size_t d = s.dim;
  LlamaBatch b;
  fill_batch(c, ws, b);
  const ForwardPlan plan{o.local_layers, true};
  LlamaActivations a;
  model_.forward(params_.data(), b, plan, a, threads);
  const size_t T = b.seqs.rows;
  grads.assign(params_.size(), 0.f);
  const LlamaView g = view_llama(s, layout(), grads.data());
  const LlamaView w = view_llama(s, layout(), params_.data());
  std::vector<float> dfinal(T * d, 0.f);
  StepLosses L;

  // Next token: every row but each window's last.
  std::vector<uint32_t> rows;
  std::vector<int32_t> targets;
  for (size_t q = 0; q < ws.size(); ++q)
    for (uint32_t i = 0; i + 1 < ws[q].len; ++i) {
      rows.push_back(b.seqs.begin[q] + i);
      targets.push_back(c.tokens[ws[q].begin + i + 1]);
    }
  L.tokens = rows.size();
  if (o.lm_weight > 0)
    L.lm = head_loss(a.final_out.data(), rows, targets, w.head, s.vocab, d, o.lm_weight, o.logits_bytes,
                     dfinal.data(), g.head, threads);

  // Next item: the rows where an event ends and another follows.
  rows.clear();
  targets.clear();
  for (size_t q = 0; q < ws.size(); ++q) {
    auto e = std::lower_bound(c.event_ends.begin(), c.event_ends.end(), ws[q].begin);
    for (; e != c.event_ends.end() && *e < ws[q].begin + ws[q].len; ++e) {
      const int32_t next = c.next_items[size_t(e - c.event_ends.begin())];
      if (next < 0) continue;
      rows.push_back(uint32_t(b.seqs.begin[q] + (*e - ws[q].begin)));
      targets.push_back(next);
    }
  }
  L.item_targets = rows.size();
  std::vector<std::vector<float>> d_layer(s.layers);
  if (s.items && o.item_weight > 0)
    L.item = head_loss(a.final_out.data(), rows, targets, w.item_head, s.items, d, o.item_weight, o.logits_bytes,
                       dfinal.data(), g.item_head, threads);

  // SLMRec's multiple supervision: an item head on each intermediate block boundary, reading
  // the residual stream there through a gain-free RMS norm.
  if (s.aux_heads && o.aux_weight > 0 && !rows.empty()) {
    const std::vector<float> ones(d, 1.f);
    std::vector<float> dgain(d);
    for (uint32_t k = 0; k < s.aux_heads; ++k) {
      const uint32_t layer = boundary_layer(k, s.aux_heads + 1);
      const std::vector<float> X = gather(a.layers[layer].out.data(), rows, d);
      std::vector<float> N(X.size()), rstd(rows.size()), dN(X.size(), 0.f), dX(X.size(), 0.f);
      nn::rms_norm_forward(X.data(), rows.size(), d, ones.data(), s.norm_eps, N.data(), rstd.data(), threads);
      std::vector<uint32_t> packed(rows.size());
      for (uint32_t i = 0; i < packed.size(); ++i) packed[i] = i;
      L.aux += head_loss(N.data(), packed, targets, w.aux_heads[k], s.items, d, o.aux_weight, o.logits_bytes,
                         dN.data(), g.aux_heads[k], threads);
      nn::rms_norm_backward(X.data(), dN.data(), rows.size(), d, ones.data(), rstd.data(), dX.data(), dgain.data(),
                            threads);
      d_layer[layer].resize(T * d, 0.f);
      scatter_add(dX.data(), rows, d, 1.f, d_layer[layer].data());
    }
  }

  // Alignment with the teacher at each whole sequence's last token, at every block boundary:
  // lambda (1 - cos(h_s, h_t)) + 0.1 ||h_s - h_t||_2, averaged over the sequences.
  if (o.align_weight > 0) {
    const uint32_t points = c.teacher_points;
    std::vector<std::pair<uint32_t, uint32_t>> aligned;  // (sequence, packed row)
    for (size_t q = 0; q < ws.size(); ++q) {
      const uint32_t seq = ws[q].seq;
      if (ws[q].begin == c.offsets[seq] && ws[q].begin + ws[q].len == c.offsets[seq + 1])
        aligned.push_back({seq, b.seqs.begin[q] + ws[q].len - 1});
    }
    const double inv = aligned.empty() ? 0 : 1.0 / double(aligned.size());
    for (uint32_t j = 0; j < points; ++j) {
      const uint32_t layer = boundary_layer(j, points);
      if (aligned.empty()) break;
      d_layer[layer].resize(T * d, 0.f);
      for (auto [seq, row] : aligned) {
        const float* h = a.layers[layer].out.data() + size_t(row) * d;
        const float* t = c.teacher.data() + (size_t(seq) * points + j) * d;
        double hh = 0, tt = 0, ht = 0, dd = 0;
        for (size_t i = 0; i < d; ++i) {
          hh += double(h[i]) * h[i];
          tt += double(t[i]) * t[i];
          ht += double(h[i]) * t[i];
          dd += double(h[i] - t[i]) * (h[i] - t[i]);
        }
        const double nh = std::sqrt(std::max(hh, 1e-24)), nt = std::sqrt(std::max(tt, 1e-24)), nd = std::sqrt(dd);
        const double cos = ht / (nh * nt);
        L.align += inv * (o.align_weight * (1 - cos) + 0.1 * nd);
        float* dh = d_layer[layer].data() + size_t(row) * d;
        for (size_t i = 0; i < d; ++i) {
          const double dcos = t[i] / (nh * nt) - cos * h[i] / (nh * nh);
          const double dnorm = nd > 1e-12 ? (h[i] - t[i]) / nd : 0.0;
          dh[i] += float(inv * (-o.align_weight * dcos + 0.1 * dnorm));
        }
      }
    }
  }
  L.total = o.lm_weight * L.lm + o.item_weight * L.item + o.aux_weight * L.aux + L.align;
  std::vector<const float*> dl(s.layers, nullptr);
  for (uint32_t l = 0; l < s.layers; ++l)
    if (!d_layer[l].empty()) dl[l] = d_layer[l].data();
  model_.backward(params_.data(), b, plan, a, dfinal, dl, o.freeze_layers, grads.data(), threads);
  return L;
}

double Trainer::loss_and_gradients(uint64_t step, std::vector<float>& grads) {
  if (!corpus_) bad("set a corpus first");
  return forward_backward(batch_windows(step), grads).total;
}

StepReport Trainer::train(uint64_t steps) {
  if (!corpus_) bad("set a corpus first");
  StepReport r;
  const TrainOptions& o = options_;
  const int threads = thread_count(o.threads);
  const size_t train_from = o.freeze_layers ? llama_layer_offset(layout(), o.freeze_layers) : 0;
  std::vector<float> grads;
  for (uint64_t i = 0; i < steps && step_ < o.total_steps; ++i) {
    if (cancel_.exchange(false)) {
      r.cancelled = true;
      break;
    }
    const StepLosses L = forward_backward(batch_windows(step_), grads);
    // Global gradient norm over the trained range, in fixed chunks summed in order.
    const size_t n = params_.size() - train_from, chunk = 1 << 16, chunks = (n + chunk - 1) / chunk;
    std::vector<double> partial(chunks, 0.0);
    ThreadPool::global().parallel_for(int(chunks), threads, [&](int k) {
      double acc = 0;
      const size_t b = train_from + size_t(k) * chunk, e = std::min(params_.size(), b + chunk);
      for (size_t j = b; j < e; ++j) acc += double(grads[j]) * grads[j];
      partial[size_t(k)] = acc;
    });
    double norm2 = 0;
    for (double p : partial) norm2 += p;
    const double norm = std::sqrt(norm2);
    if (!std::isfinite(norm) || !std::isfinite(L.total))
      throw Error(ErrorCode::NonFinite, "training diverged at step " + std::to_string(step_ + 1) +
                                            " (the loss or its gradient is not finite); lower lr or raise warmup");
    const float clip = o.clip_norm > 0 && norm > o.clip_norm ? float(o.clip_norm / norm) : 1.f;
    if (clip != 1.f) scale_in_place(grads.data() + train_from, n, clip);
    const uint64_t step = ++step_;
    const float lr = lr_at(step);
    for (const LmTensor& t : layout()) {
      if (t.offset < train_from) continue;
      nn::AdamWOptions a = o.adam;
      a.lr = lr;
      a.weight_decay = t.rows > 1 ? o.adam.weight_decay : 0.f;  // no decay on norm gains
      const size_t count = t.rows * t.cols;
      nn::adamw_step(params_.data() + t.offset, grads.data() + t.offset, m_.data() + t.offset, v_.data() + t.offset,
                     count, step, a, threads);
    }
    ++r.steps;
    r.tokens += L.tokens;
    r.item_targets += L.item_targets;
    r.lm_loss += L.lm;
    r.item_loss += L.item;
    r.aux_loss += L.aux;
    r.align_loss += L.align;
    r.grad_norm = norm;
    r.lr = lr;
  }
  if (r.steps)
    for (double* v : {&r.lm_loss, &r.item_loss, &r.aux_loss, &r.align_loss}) *v /= double(r.steps);
  return r;
}

namespace {

// Calls fn(batch, windows) over `c`'s sequences cut to their last `context` tokens (tail) or
// into windows (all), batched up to batch_tokens.
struct Span {
  size_t seq;
  uint64_t begin;
  uint32_t len;
};

template <class F>
void for_each_batch(const Corpus& c, uint32_t context, uint32_t batch_tokens, bool tail_only, bool segments, size_t heads,
                    F&& fn) {
  std::vector<Span> ws;
  for (size_t s = 0; s < c.count(); ++s) {
    const uint64_t b = c.offsets[s], e = c.offsets[s + 1];
    if (tail_only) {
      if (e == b) bad("sequence " + std::to_string(s) + " is empty");
      const uint64_t from = e - std::min<uint64_t>(context, e - b);
      ws.push_back({s, from, uint32_t(e - from)});
    } else {
      for (uint64_t x = b; x < e; x += context) ws.push_back({s, x, uint32_t(std::min<uint64_t>(context, e - x))});
    }
  }
  LlamaBatch batch;
  std::vector<Span> in_batch;
  size_t first = 0;
  auto flush = [&] {
    if (in_batch.empty()) return;
    fn(batch, in_batch, first);
    first += in_batch.size();
    batch.clear();
    in_batch.clear();
  };
  for (const auto& w : ws) {
    if (batch.seqs.rows && batch.seqs.rows + w.len > batch_tokens) flush();
    add_span(c, w.begin, w.len, segments, heads, batch);
    in_batch.push_back(w);
  }
  flush();
}

}  // namespace

uint32_t Trainer::inference_context(uint32_t context) const {
  return std::min(context ? context : options_.context, shape().max_positions);
}

uint32_t Trainer::inference_local_layers(int local_layers) const {
  if (local_layers > int(shape().layers)) bad("localLayers cannot exceed the layers");
  return local_layers < 0 ? options_.local_layers : uint32_t(local_layers);
}

EvalReport Trainer::evaluate(const Corpus& c, const Inference& how) const {
  c.validate(shape());
  const int threads = thread_count(how.threads);
  const uint32_t local = inference_local_layers(how.local_layers);
  const LlamaShape& s = shape();
  const LlamaView w = view_llama(s, layout(), const_cast<float*>(params_.data()));
  EvalReport r;
  double lm_sum = 0, item_sum = 0;
  std::vector<float> scratch;
  for_each_batch(c, inference_context(how.context), options_.batch_tokens, false, local > 0, s.heads,
                 [&](const LlamaBatch& b, const std::vector<Span>& ws, size_t) {
                   LlamaActivations a;
                   model_.forward(params_.data(), b, {local, false}, a, threads);
                   std::vector<uint32_t> rows, item_rows;
                   std::vector<int32_t> targets, items;
                   for (size_t q = 0; q < ws.size(); ++q) {
                     const uint64_t from = c.score_from.empty() ? 0 : c.score_from[ws[q].seq];
                     for (uint32_t i = 0; i + 1 < ws[q].len; ++i) {
                       if (ws[q].begin + i + 1 < from) continue;
                       rows.push_back(b.seqs.begin[q] + i);
                       targets.push_back(c.tokens[ws[q].begin + i + 1]);
                     }
                     auto e = std::lower_bound(c.event_ends.begin(), c.event_ends.end(), ws[q].begin);
                     for (; e != c.event_ends.end() && *e < ws[q].begin + ws[q].len; ++e) {
                       const int32_t next = c.next_items[size_t(e - c.event_ends.begin())];
                       if (next < 0) continue;
                       item_rows.push_back(uint32_t(b.seqs.begin[q] + (*e - ws[q].begin)));
                       items.push_back(next);
                     }
                   }
                   lm_sum += double(rows.size()) * head_loss(a.final_out.data(), rows, targets, w.head, s.vocab, s.dim, 0.f,
                                                             options_.logits_bytes, nullptr, nullptr, threads);
                   if (s.items)
                     item_sum += double(item_rows.size()) * head_loss(a.final_out.data(), item_rows, items, w.item_head, s.items,
                                                                      s.dim, 0.f, options_.logits_bytes, nullptr, nullptr, threads);
                   r.tokens += rows.size();
                   r.item_targets += s.items ? item_rows.size() : 0;
                 });
  r.lm_loss = r.tokens ? lm_sum / double(r.tokens) : 0;
  r.item_loss = r.item_targets ? item_sum / double(r.item_targets) : 0;
  return r;
}

void Trainer::last_hidden(const Corpus& c, uint32_t layer, const Inference& how, float* out) const {
  if (layer > shape().layers) bad("layer must be between 0 and " + std::to_string(shape().layers));
  const int threads = thread_count(how.threads);
  const uint32_t local = inference_local_layers(how.local_layers);
  const size_t d = shape().dim;
  for_each_batch(c, inference_context(how.context), options_.batch_tokens, true, local > 0, shape().heads,
                 [&](const LlamaBatch& b, const std::vector<Span>& ws, size_t first) {
                   LlamaActivations a;
                   model_.forward(params_.data(), b, {local, false}, a, threads);
                   const float* src = layer == 0 ? a.x0.data() : a.layers[layer - 1].out.data();
                   for (size_t q = 0; q < ws.size(); ++q)
                     std::copy_n(src + (size_t(b.seqs.begin[q]) + ws[q].len - 1) * d, d, out + (first + q) * d);
                 });
}

void Trainer::item_scores(const Corpus& c, const Inference& how, float* out) const {
  const LlamaShape& s = shape();
  if (!s.items) throw Error(ErrorCode::Unsupported, "this model has no item head");
  const int threads = thread_count(how.threads);
  const uint32_t local = inference_local_layers(how.local_layers);
  const LlamaView w = view_llama(s, layout(), const_cast<float*>(params_.data()));
  for_each_batch(c, inference_context(how.context), options_.batch_tokens, true, local > 0, s.heads,
                 [&](const LlamaBatch& b, const std::vector<Span>& ws, size_t first) {
                   LlamaActivations a;
                   model_.forward(params_.data(), b, {local, false}, a, threads);
                   std::vector<uint32_t> rows;
                   for (size_t q = 0; q < ws.size(); ++q) rows.push_back(b.seqs.begin[q] + ws[q].len - 1);
                   const std::vector<float> H = gather(a.final_out.data(), rows, s.dim);
                   nn::sgemm_parallel(rows.size(), s.items, s.dim, 1.f, Mat{H.data(), s.dim}, nn::T(Mat{w.item_head, s.dim}), 0.f,
                                      out + first * s.items, s.items, threads);
                 });
}

void Trainer::logits(const int32_t* tokens, uint32_t n, float* out, int threads) const {
  const LlamaShape& s = shape();
  threads = thread_count(threads);
  LlamaBatch b;
  b.add(tokens, n, nullptr, s.heads);
  LlamaActivations a;
  model_.forward(params_.data(), b, {options_.local_layers, false}, a, threads);
  const LlamaView w = view_llama(s, layout(), const_cast<float*>(params_.data()));
  nn::sgemm_parallel(n, s.vocab, s.dim, 1.f, Mat{a.final_out.data(), s.dim}, nn::T(Mat{w.head, s.dim}), 0.f, out,
                     s.vocab, threads);
}

}  // namespace lmrec::lm
