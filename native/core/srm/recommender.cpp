#include "srm/recommender.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>

#include "nn/adamw.h"
#include "nn/gemm.h"
#include "nn/parallel.h"
#include "nn/random.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace lmrec::srm {
namespace {

int thread_count(int requested) { return requested > 0 ? requested : hardware_threads(); }

constexpr size_t kInferenceChunk = 64;

Sequences single(const int32_t* items, uint32_t n) {
  Sequences s;
  s.items.assign(items, items + n);
  s.offsets.push_back(n);
  return s;
}  // histories a forward pass, to bound activation memory

}  // namespace

Recommender::Recommender(const Shape& shape, uint64_t seed) : shape_(shape) {
  shape_.validate();
  layout_ = param_layout(shape_);
  const size_t n = layout_.back().offset + layout_.back().rows * layout_.back().cols;
  params_.resize(n);
  init_params(shape_, params_.data(), seed);
  m_.assign(n, 0.f);
  v_.assign(n, 0.f);
  popularity_.assign(shape_.items, 0.f);
}

void Recommender::check_items(const int32_t* items, size_t n, const char* what) const {
  for (size_t i = 0; i < n; ++i) {
    const int32_t it = items[i];
    if (it < 0 || uint32_t(it) >= shape_.items)
      throw Error(ErrorCode::UnknownId, std::string(what) + " hold item " + std::to_string(it) +
                                            ", outside this model's catalog of " + std::to_string(shape_.items) + " items");
  }
}

std::unique_ptr<TrainingLease> Recommender::lease_training() {
  if (training_->exchange(true)) throw Error(ErrorCode::Busy, "this model is already training; wait for it to finish");
  cancel_ = false;
  return std::make_unique<TrainingLease>(training_);
}

Recommender::Snapshot Recommender::serving() const {
  {
    std::lock_guard g(serve_mu_);
    if (serving_) return serving_;
  }
  std::shared_lock lock(mu_);  // first use (a new or loaded model): publish what there is
  auto fresh = std::make_shared<const std::vector<float>>(params_);
  std::lock_guard g(serve_mu_);
  if (!serving_) serving_ = std::move(fresh);
  return serving_;
}

void Recommender::publish() {
  auto fresh = std::make_shared<const std::vector<float>>(params_);
  std::lock_guard g(serve_mu_);
  serving_ = std::move(fresh);
}

void Recommender::set_item_embeddings(const float* v) {
  const size_t n = size_t(shape_.items) * shape_.dim;
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      throw Error(ErrorCode::NonFinite, "item embedding " + std::to_string(i / shape_.dim) + " holds a non-finite value at dimension " +
                                            std::to_string(i % shape_.dim));
  std::unique_lock lock(mu_);
  std::copy_n(v, n, params_.data() + layout_[0].offset);
  publish();
}

void Recommender::count_popularity(const Sequences& s, bool reset) {
  check_items(s, "the sequences");
  std::unique_lock lock(mu_);
  if (reset) std::fill(popularity_.begin(), popularity_.end(), 0.f);
  for (int32_t it : s.items) popularity_[size_t(it)] += 1.f;
}

AliasSampler Recommender::make_sampler(float power) const {
  std::vector<double> w(shape_.items);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::pow(std::max(1.0, double(popularity_[i])), double(power));
  return AliasSampler(w);
}

void Recommender::add_window(Batch& b, const Sequences& data, const Window& w) const {
  const int32_t* seq = data.data(w.seq) + w.begin;
  std::vector<int32_t> targets(seq + 1, seq + 1 + w.len);
  std::fill(targets.begin(), targets.begin() + w.loss_from, -1);
  b.add(seq, targets.data(), w.len, shape_);
}

double Recommender::step(const Batch& b, const TrainOptions& o, const AliasSampler* sampler, std::vector<float>& grads) {
  const int threads = thread_count(o.threads);
  const size_t d = shape_.dim, T = b.seqs.rows;
  ParamView P = view_params(shape_, layout_, params_.data());
  grads.assign(params_.size(), 0.f);
  ParamView G = view_params(shape_, layout_, grads.data());
  const DropoutPlan drop{o.dropout, o.seed, step_ + 1};
  Activations acts;
  forward(shape_, P, b, drop, acts, threads);

  // Rows without a target (outside the loss) are left out of the output layer.
  std::vector<uint32_t> rows;
  for (uint32_t r = 0; r < T; ++r)
    if (b.targets[r] >= 0) rows.push_back(r);
  if (rows.empty()) return 0;
  const bool all = rows.size() == T;
  std::vector<float> out, dout;
  std::vector<int32_t> targets;
  if (!all) {
    out.resize(rows.size() * d);
    for (size_t i = 0; i < rows.size(); ++i) {
      std::copy_n(acts.final_out.data() + size_t(rows[i]) * d, d, out.data() + i * d);
      targets.push_back(b.targets[rows[i]]);
    }
  }
  const LossInput in{all ? acts.final_out.data() : out.data(), all ? b.targets.data() : targets.data(), rows.size(),
                     P.item_emb, shape_.items, d};
  const double loss =
      o.loss == Loss::Full
          ? full_softmax_loss(in, o.logits_bytes, dout, G.item_emb, threads)
          : sampled_softmax_loss(in, *sampler, o.negatives, nn::stream_key(o.seed, step_ + 1, 0x5a3), dout, G.item_emb,
                                 threads);
  std::vector<float> dfinal;
  if (all) {
    dfinal = std::move(dout);
  } else {
    dfinal.assign(T * d, 0.f);
    for (size_t i = 0; i < rows.size(); ++i) std::copy_n(dout.data() + i * d, d, dfinal.data() + size_t(rows[i]) * d);
  }
  backward(shape_, P, b, drop, acts, dfinal, G, threads);
  return loss;
}

TrainReport Recommender::run_windows(const Sequences& data, std::vector<Window> windows, const TrainOptions& o,
                                     uint64_t shuffle_seed) {
  nn::Rng rng(shuffle_seed);
  for (size_t i = windows.size(); i > 1; --i) std::swap(windows[i - 1], windows[rng.below(i)]);
  const AliasSampler sampler = o.loss == Loss::Sampled ? make_sampler(o.sample_power) : AliasSampler();
  TrainReport report;
  std::vector<float> grads;
  Batch batch;
  double loss_sum = 0;
  using Clock = std::chrono::steady_clock;
  Clock::time_point published = Clock::now();
  for (size_t w0 = 0; w0 < windows.size(); w0 += o.batch_size) {
    if (cancel_) {
      report.cancelled = true;
      break;
    }
    batch.clear();
    const size_t w1 = std::min(windows.size(), w0 + o.batch_size);
    for (size_t w = w0; w < w1; ++w) {
      add_window(batch, data, windows[w]);
      report.targets += windows[w].len - windows[w].loss_from;
    }
    std::unique_lock lock(mu_);
    const double loss = step(batch, o, o.loss == Loss::Sampled ? &sampler : nullptr, grads);
    if (!std::isfinite(loss))
      throw Error(ErrorCode::NonFinite, "the training loss became " + std::to_string(loss) + " at step " +
                                            std::to_string(step_ + 1) + "; lower the learning rate");
    ++step_;
    nn::adamw_step(params_.data(), grads.data(), m_.data(), v_.data(), params_.size(), step_, o.adam,
                   thread_count(o.threads));
    loss_sum += loss;
    ++report.steps;
    if (std::chrono::duration<double>(Clock::now() - published).count() >= kPublishSeconds) {
      publish();
      published = Clock::now();
    }
  }
  {
    std::shared_lock lock(mu_);
    publish();
  }
  report.windows = windows.size();
  report.loss = report.steps ? loss_sum / double(report.steps) : 0;
  return report;
}

TrainReport Recommender::train_epoch(const Sequences& data, const TrainOptions& o, uint64_t epoch,
                                     const TrainingLease&) {
  o.validate();
  check_items(data, "the training sequences");
  return run_windows(data, epoch_windows(data), o, nn::stream_key(o.seed, 0xe90c, epoch));
}

std::vector<Recommender::Window> Recommender::epoch_windows(const Sequences& data) const {
  std::vector<Window> windows;
  const uint32_t L = shape_.max_len;
  for (uint32_t i = 0; i < data.count(); ++i)
    for (uint32_t e = data.len(i); e >= 2; e = e > L ? e - L : 0) {
      const uint32_t s = e > L + 1 ? e - L - 1 : 0;
      windows.push_back({i, s, e - 1 - s, 0});
    }
  return windows;
}

TrainReport Recommender::train_recent(const Sequences& data, uint32_t fresh, const TrainOptions& o, uint32_t passes,
                                      const TrainingLease&) {
  o.validate();
  check_items(data, "the update sequences");
  std::vector<Window> windows;
  const uint32_t L = shape_.max_len;
  for (uint32_t i = 0; i < data.count(); ++i) {
    const uint32_t e = data.len(i);
    if (e < 2) continue;
    const uint32_t s = e > L + 1 ? e - L - 1 : 0, len = e - 1 - s;
    windows.push_back({i, s, len, len - std::min(fresh, len)});
  }
  TrainReport total;
  for (uint32_t p = 0; p < passes; ++p) {
    const TrainReport r = run_windows(data, windows, o, nn::stream_key(o.seed, 0x7e5e, step_, p));
    total.loss += r.loss / passes;
    total.steps += r.steps;
    total.windows += r.windows;
    total.targets += r.targets;
    if (r.cancelled) {
      total.cancelled = true;
      break;
    }
  }
  return total;
}

void Recommender::encode(const float* p, const Sequences& histories, float* out, int threads) const {
  const size_t d = shape_.dim;
  const ParamView P = view_params(shape_, layout_, const_cast<float*>(p));
  Batch b;
  Activations acts;
  for (size_t c0 = 0; c0 < histories.count(); c0 += kInferenceChunk) {
    const size_t c1 = std::min(histories.count(), c0 + kInferenceChunk);
    b.clear();
    for (size_t i = c0; i < c1; ++i) {
      const uint32_t n = histories.len(i);
      if (n == 0) throw Error(ErrorCode::InvalidArgument, "history " + std::to_string(i) + " is empty");
      const uint32_t keep = std::min(n, shape_.max_len);  // the most recent events
      b.add(histories.data(i) + (n - keep), nullptr, keep, shape_);
    }
    forward(shape_, P, b, DropoutPlan{}, acts, threads, true);
    std::copy_n(acts.final_out.data(), (c1 - c0) * d, out + c0 * d);
  }
}

void Recommender::score_all(const Sequences& histories, float* out, int threads) const {
  const Snapshot p = serving();
  score_all(p->data(), histories, out, threads);
}

void Recommender::score_all(const float* p, const Sequences& histories, float* out, int threads) const {
  const size_t d = shape_.dim, n = histories.count();
  std::vector<float> h(n * d);
  encode(p, histories, h.data(), threads);
  const float* emb = p;  // item_emb comes first
  if (n >= 4) {
    nn::sgemm_parallel(n, shape_.items, d, 1.f, nn::Mat{h.data(), d}, nn::T(nn::Mat{emb, d}), 0.f, out, shape_.items,
                       threads);
    return;
  }
  // A GEMM tile would be mostly padding for so few rows: dot products over the item rows.
  const simd::Kernels& k = simd::best_kernels();
  nn::parallel_ranges(shape_.items, 4096, threads, [&](size_t i0, size_t i1) {
    for (size_t q = 0; q < n; ++q) k.dot_rows(emb + i0 * d, i1 - i0, d, h.data() + q * d, out + q * shape_.items + i0);
  });
}

void Recommender::score(const int32_t* history, uint32_t n, const int32_t* candidates, size_t m, float* out) const {
  const Sequences one = single(history, n);
  const size_t d = shape_.dim;
  const Snapshot p = serving();
  std::vector<float> h(d);
  encode(p->data(), one, h.data(), 1);
  for (size_t c = 0; c < m; ++c) {
    const float* e = p->data() + size_t(candidates[c]) * d;
    float s = 0.f;
    for (size_t j = 0; j < d; ++j) s += h[j] * e[j];
    out[c] = s;
  }
}

size_t Recommender::top_k(const int32_t* history, uint32_t n, size_t k, bool exclude_history, int32_t* items,
                          float* scores) const {
  const Sequences one = single(history, n);
  std::vector<float> all(shape_.items);
  score_all(one, all.data(), 1);
  std::vector<uint8_t> excluded(shape_.items, 0);
  if (exclude_history)
    for (uint32_t i = 0; i < n; ++i) excluded[size_t(history[i])] = 1;
  std::vector<int32_t> order;
  order.reserve(shape_.items);
  for (uint32_t i = 0; i < shape_.items; ++i)
    if (!excluded[i]) order.push_back(int32_t(i));
  k = std::min(k, order.size());
  // Best first; equal scores by item id, so results are stable.
  auto better = [&](int32_t a, int32_t b) { return all[size_t(a)] > all[size_t(b)] || (all[size_t(a)] == all[size_t(b)] && a < b); };
  std::partial_sort(order.begin(), order.begin() + ptrdiff_t(k), order.end(), better);
  for (size_t i = 0; i < k; ++i) {
    items[i] = order[i];
    scores[i] = all[size_t(order[i])];
  }
  return k;
}

double Recommender::loss_and_gradients(const Sequences& data, const TrainOptions& o, uint64_t at_step,
                                       std::vector<float>& grads) {
  o.validate();
  check_items(data, "the sequences");
  const auto lease = lease_training();
  Batch b;
  for (const Window& w : epoch_windows(data)) add_window(b, data, w);
  if (b.seqs.rows == 0) throw Error(ErrorCode::InvalidArgument, "no sequence has 2 or more events");
  const AliasSampler sampler = o.loss == Loss::Sampled ? make_sampler(o.sample_power) : AliasSampler();
  std::unique_lock lock(mu_);
  const uint64_t saved = step_;
  step_ = at_step - 1;  // step() keys dropout and sampling by step_ + 1
  const double loss = step(b, o, &sampler, grads);
  step_ = saved;
  return loss;
}

std::vector<float> Recommender::params() const {
  std::shared_lock lock(mu_);
  return params_;
}

void Recommender::set_params(const float* p, size_t n) {
  if (n != params_.size())
    throw Error(ErrorCode::DimMismatch, "the model has " + std::to_string(params_.size()) + " parameters, got " + std::to_string(n));
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) throw Error(ErrorCode::NonFinite, "parameter " + std::to_string(i) + " is not finite");
  std::unique_lock lock(mu_);
  std::copy_n(p, n, params_.data());
  publish();
}

void Recommender::checkpoint() {
  std::shared_lock lock(mu_);
  best_ = params_;
}

void Recommender::restore() {
  std::unique_lock lock(mu_);
  if (best_.empty()) return;
  params_ = best_;
  publish();
}

}  // namespace lmrec::srm
