#include "srm/sequential_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>

#include "nn/adamw.h"
#include "nn/gemm.h"
#include "nn/parallel.h"
#include "nn/random.h"
#include "srm/item_codes.h"
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

SequentialModel::SequentialModel(const Shape& shape, uint64_t seed) : shape_(shape) {
  shape_.validate();
  layout_ = param_layout(shape_);
  const size_t n = layout_.back().offset + layout_.back().rows * layout_.back().cols;
  params_.resize(n);
  init_params(shape_, params_.data(), seed);
  m_.assign(n, 0.f);
  v_.assign(n, 0.f);
  popularity_.assign(shape_.items, 0.f);
  id_mask_.assign(shape_.items, 1);
  if (shape_.has_codes()) {
    codes_.assign(size_t(shape_.items) * shape_.code_dim, 0.f);
    // ID embeddings start at zero: they learn what the codes leave unexplained
    std::fill_n(params_.data() + layout_[0].offset, size_t(shape_.items) * shape_.dim, 0.f);
  }
}

void SequentialModel::check_items(const int32_t* items, size_t n, const char* what) const {
  std::shared_lock lock(mu_);
  for (size_t i = 0; i < n; ++i) {
    const int32_t it = items[i];
    if (it < 0 || uint32_t(it) >= shape_.items)
      throw Error(ErrorCode::UnknownId, std::string(what) + " hold item " + std::to_string(it) +
                                            ", outside this model's catalog of " + std::to_string(shape_.items) + " items");
  }
}

std::unique_ptr<TrainingLease> SequentialModel::lease_training() {
  if (training_->exchange(true)) throw Error(ErrorCode::Busy, "this model is already training; wait for it to finish");
  cancel_ = false;
  return std::make_unique<TrainingLease>(training_);
}

Shape SequentialModel::shape() const {
  std::shared_lock lock(mu_);
  return shape_;
}

SequentialModel::Snapshot SequentialModel::serving() const {
  {
    std::lock_guard g(serve_mu_);
    if (serving_) return serving_;
  }
  std::shared_lock lock(mu_);  // first use (a new or loaded model): publish what there is
  Snapshot fresh = snapshot_now();
  std::lock_guard g(serve_mu_);
  if (!serving_) serving_ = std::move(fresh);
  return serving_;
}

SequentialModel::Snapshot SequentialModel::snapshot_now() const {
  auto fresh = std::make_shared<Served>(Served{params_, shape_, layout_});
  if (shape_.has_codes()) {
    const ParamView P = view_params(shape_, layout_, fresh->params.data());
    effective_embeddings(shape_, P, codes_.data(), params_.data(), id_mask_.data(), shape_.items, P.item_emb,
                         thread_count(threads_));
  }
  return fresh;
}

void SequentialModel::publish() {
  Snapshot fresh = snapshot_now();
  std::lock_guard g(serve_mu_);
  serving_ = std::move(fresh);
}

size_t SequentialModel::code_params_offset() const {
  for (const TensorInfo& t : layout_)
    if (t.name == "codes.w1") return t.offset;
  return params_.size();
}

void SequentialModel::sync_codes() {
  if (features_.empty()) return;
  const ParamView P = view_params(shape_, layout_, params_.data());
  CodeActivations acts;
  encode_codes(shape_, P, features_.data(), shape_.items, 0.f, 0, acts, thread_count(threads_));
  codes_ = std::move(acts.codes);
}

static void require_codes(const Shape& s, const char* what) {
  if (!s.has_codes())
    throw Error(ErrorCode::InvalidArgument, std::string(what) + " needs a model with a compression module (item features)");
}

void SequentialModel::set_features(const float* f, size_t n) {
  require_codes(shape_, "item features");
  if (n != shape_.items)
    throw Error(ErrorCode::DimMismatch, "features for " + std::to_string(n) + " items, the model has " + std::to_string(shape_.items));
  const size_t total = n * shape_.code_in;
  for (size_t i = 0; i < total; ++i)
    if (!std::isfinite(f[i]))
      throw Error(ErrorCode::NonFinite, "the features of item " + std::to_string(i / shape_.code_in) + " hold a non-finite value");
  std::unique_lock lock(mu_);
  features_.assign(f, f + total);
  sync_codes();
  publish();
}

void SequentialModel::drop_features() {
  std::unique_lock lock(mu_);
  features_.clear();
  features_.shrink_to_fit();
}

bool SequentialModel::has_features() const {
  std::shared_lock lock(mu_);
  return !features_.empty();
}

void SequentialModel::set_id_mask(const uint8_t* mask, size_t n) {
  if (n != shape_.items)
    throw Error(ErrorCode::DimMismatch, "ID flags for " + std::to_string(n) + " items, the model has " + std::to_string(shape_.items));
  std::unique_lock lock(mu_);
  const size_t d = shape_.dim;
  for (size_t i = 0; i < n; ++i) {
    id_mask_[i] = mask[i] ? 1 : 0;
    if (!id_mask_[i])  // a cold item's ID row is zero, with no optimiser state to move it
      for (std::vector<float>* a : {&params_, &m_, &v_}) std::fill_n(a->data() + i * d, d, 0.f);
  }
  publish();
}

std::vector<uint8_t> SequentialModel::id_mask() const {
  std::shared_lock lock(mu_);
  return id_mask_;
}

void SequentialModel::warm_items(const int32_t* items, size_t n) {
  // checked against the serving snapshot: check_items would wait for a training step
  const Snapshot p = serving();
  for (size_t i = 0; i < n; ++i)
    if (items[i] < 0 || uint32_t(items[i]) >= p->shape.items)
      throw Error(ErrorCode::UnknownId, "the items hold item " + std::to_string(items[i]) + ", outside this model's catalog of " +
                                            std::to_string(p->shape.items) + " items");
  {
    std::lock_guard g(warm_mu_);
    pending_warm_.insert(pending_warm_.end(), items, items + n);
  }
  // at once unless a training is running (its next step applies them: no waiting on a step)
  std::unique_lock lock(mu_, std::defer_lock);
  if (training_->load() ? lock.try_lock() : (lock.lock(), true)) apply_pending_warm();
}

void SequentialModel::apply_pending_warm() {
  std::lock_guard g(warm_mu_);
  for (const int32_t it : pending_warm_)
    if (size_t(it) < id_mask_.size()) id_mask_[size_t(it)] = 1;
  pending_warm_.clear();
}

void SequentialModel::add_items(const float* features, size_t n, const TrainingLease&) {
  require_codes(shape_, "adding items");
  const size_t in = shape_.code_in, d = shape_.dim;
  for (size_t i = 0; i < n * in; ++i)
    if (!std::isfinite(features[i]))
      throw Error(ErrorCode::NonFinite, "the features of new item " + std::to_string(i / in) + " hold a non-finite value");
  if (uint64_t(shape_.items) + n > 0x7fffffffu) throw Error(ErrorCode::InvalidArgument, "too many items for one model");
  Shape grown = shape_;
  grown.items = uint32_t(shape_.items + n);
  grown.validate();
  std::unique_lock lock(mu_);
  CodeActivations acts;
  encode_codes(shape_, view_params(shape_, layout_, params_.data()), features, n, 0.f, 0, acts, thread_count(threads_));
  const size_t old_rows = size_t(shape_.items) * d;
  // item_emb comes first: the new rows (zero: code part only) go between it and the rest
  for (std::vector<float>* a : {&params_, &m_, &v_}) a->insert(a->begin() + ptrdiff_t(old_rows), n * d, 0.f);
  popularity_.resize(grown.items, 0.f);
  id_mask_.resize(grown.items, 0);
  codes_.insert(codes_.end(), acts.codes.begin(), acts.codes.end());
  if (!features_.empty()) features_.insert(features_.end(), features, features + n * in);
  shape_ = grown;
  layout_ = param_layout(shape_);
  best_.clear();
  publish();
}

std::vector<float> SequentialModel::codes() const {
  std::shared_lock lock(mu_);
  return codes_;
}

std::vector<float> SequentialModel::item_vectors() const {
  const Snapshot p = serving();
  return std::vector<float>(p->params.begin(), p->params.begin() + ptrdiff_t(size_t(p->shape.items) * p->shape.dim));
}

void SequentialModel::item_vectors_into(float* out, size_t n) const {
  const Snapshot p = serving();
  const size_t want = size_t(p->shape.items) * p->shape.dim;
  if (n != want)
    throw Error(ErrorCode::DimMismatch, "the item vectors are " + std::to_string(p->shape.items) + " x " +
                                            std::to_string(p->shape.dim) + " floats, the array holds " + std::to_string(n));
  std::copy_n(p->params.data(), want, out);
}

void SequentialModel::user_vectors(const Sequences& histories, float* out, int threads) const {
  const Snapshot p = serving();
  for (const int32_t it : histories.items)
    if (it < 0 || uint32_t(it) >= p->shape.items)
      throw Error(ErrorCode::UnknownId, "the histories hold item " + std::to_string(it) + ", outside this model's catalog of " +
                                            std::to_string(p->shape.items) + " items");
  encode(*p, histories, out, thread_count(threads));
}

void SequentialModel::set_item_embeddings(const float* v) {
  const size_t n = size_t(shape_.items) * shape_.dim;
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      throw Error(ErrorCode::NonFinite, "item embedding " + std::to_string(i / shape_.dim) + " holds a non-finite value at dimension " +
                                            std::to_string(i % shape_.dim));
  std::unique_lock lock(mu_);
  std::copy_n(v, n, params_.data() + layout_[0].offset);
  publish();
}

void SequentialModel::count_popularity(const Sequences& s, bool reset) {
  check_items(s, "the sequences");
  std::unique_lock lock(mu_);
  if (reset) std::fill(popularity_.begin(), popularity_.end(), 0.f);
  for (int32_t it : s.items) popularity_[size_t(it)] += 1.f;
}

AliasSampler SequentialModel::make_sampler(float power) const {
  std::vector<double> w(shape_.items);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::pow(std::max(1.0, double(popularity_[i])), double(power));
  // with codes, items without training events are not negatives (as in the full softmax)
  if (shape_.has_codes())
    for (size_t i = 0; i < w.size(); ++i)
      if (!id_mask_[i]) w[i] = 0;
  return AliasSampler(w);
}

void SequentialModel::add_window(Batch& b, const Sequences& data, const Window& w) const {
  const int32_t* seq = data.data(w.seq) + w.begin;
  std::vector<int32_t> targets(seq + 1, seq + 1 + w.len);
  std::fill(targets.begin(), targets.begin() + w.loss_from, -1);
  b.add(seq, targets.data(), w.len, shape_);
}

double SequentialModel::step(const Batch& b, const TrainOptions& o, const AliasSampler* sampler, std::vector<float>& grads) {
  const int threads = thread_count(o.threads);
  const size_t d = shape_.dim, T = b.seqs.rows;
  ParamView P = view_params(shape_, layout_, params_.data());
  grads.assign(params_.size(), 0.f);
  ParamView G = view_params(shape_, layout_, grads.data());
  const DropoutPlan drop{o.dropout, o.seed, step_ + 1};
  // With a compression module the model reads the effective item embeddings.
  std::vector<float> eff;
  CodeActivations cacts;
  const bool train_codes = shape_.has_codes() && !features_.empty();
  const uint8_t* use_id = id_mask_.data();
  std::vector<uint8_t> step_ids;
  if (shape_.has_codes() && o.id_dropout > 0) {
    step_ids = id_mask_;
    const uint64_t key = nn::stream_key(o.seed, step_ + 1, 0x1dd0);
    for (size_t i = 0; i < step_ids.size(); ++i)
      if (step_ids[i] && nn::uniform(key, i) < o.id_dropout) step_ids[i] = 0;
    use_id = step_ids.data();
  }
  // With sampled softmax a step reads the embeddings of its batch's items and its negatives
  // only: the compression runs on those rows (`touched`), so a step's cost does not grow with
  // the catalog. The full softmax scores every item, so every code is computed.
  const bool sparse_codes = train_codes && o.loss == Loss::Sampled && sampler != nullptr;
  std::vector<int32_t> touched;
  std::vector<float> touched_features;
  if (sparse_codes) {
    std::vector<uint8_t> seen(shape_.items, 0);
    auto touch = [&](int32_t it) {
      if (it >= 0 && !seen[size_t(it)]) seen[size_t(it)] = 1, touched.push_back(it);
    };
    for (const int32_t it : b.items) touch(it);
    for (const int32_t it : b.targets) touch(it);
    nn::Rng rng(nn::stream_key(o.seed, step_ + 1, 0x5a3));  // the loss's own negatives, drawn the same way
    for (uint32_t j = 0; j < o.negatives; ++j) touch(int32_t(sampler->draw(rng.next())));
    std::sort(touched.begin(), touched.end());
    const size_t in = shape_.code_in;
    touched_features.resize(touched.size() * in);
    for (size_t r = 0; r < touched.size(); ++r)
      std::copy_n(features_.data() + size_t(touched[r]) * in, in, touched_features.data() + r * in);
  }
  if (shape_.has_codes()) {
    eff.resize(size_t(shape_.items) * d);
    if (sparse_codes) {
      encode_codes(shape_, P, touched_features.data(), touched.size(), o.code_noise,
                   nn::stream_key(o.seed, step_ + 1, 0xc0de), cacts, threads);
      std::vector<float> ids(touched.size() * d), rows(touched.size() * d);
      std::vector<uint8_t> mask(touched.size());
      for (size_t r = 0; r < touched.size(); ++r) {
        std::copy_n(P.item_emb + size_t(touched[r]) * d, d, ids.data() + r * d);
        mask[r] = use_id[touched[r]];
      }
      effective_embeddings(shape_, P, cacts.codes.data(), ids.data(), mask.data(), touched.size(), rows.data(), threads);
      for (size_t r = 0; r < touched.size(); ++r) std::copy_n(rows.data() + r * d, d, eff.data() + size_t(touched[r]) * d);
    } else {
      if (train_codes)
        encode_codes(shape_, P, features_.data(), shape_.items, o.code_noise, nn::stream_key(o.seed, step_ + 1, 0xc0de),
                     cacts, threads);
      effective_embeddings(shape_, P, train_codes ? cacts.codes.data() : codes_.data(), P.item_emb, use_id,
                           shape_.items, eff.data(), threads);
    }
    P.item_emb = eff.data();
  }
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
                     P.item_emb, shape_.items, d, shape_.has_codes() ? id_mask_.data() : nullptr};
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
  if (shape_.has_codes()) {
    if (sparse_codes) {
      std::vector<float> dE(touched.size() * d);  // only the touched rows have a gradient
      for (size_t r = 0; r < touched.size(); ++r) std::copy_n(G.item_emb + size_t(touched[r]) * d, d, dE.data() + r * d);
      codes_backward(shape_, P, touched_features.data(), touched.size(), cacts, dE.data(), G, threads);
    } else if (train_codes) {
      codes_backward(shape_, P, features_.data(), shape_.items, cacts, G.item_emb, G, threads);
    }
    for (size_t i = 0; i < shape_.items; ++i)  // G.item_emb holds d/dE_eff: the ID part of the items that used it
      if (!use_id[i]) std::fill_n(G.item_emb + i * d, d, 0.f);
  }
  return loss;
}

TrainReport SequentialModel::run_windows(const Sequences& data, std::vector<Window> windows, const TrainOptions& o,
                                     uint64_t shuffle_seed) {
  nn::Rng rng(shuffle_seed);
  for (size_t i = windows.size(); i > 1; --i) std::swap(windows[i - 1], windows[rng.below(i)]);
  const AliasSampler sampler = o.loss == Loss::Sampled ? make_sampler(o.sample_power) : AliasSampler();
  TrainReport report;
  std::vector<float> grads;
  Batch batch;
  threads_ = o.threads;
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
    apply_pending_warm();
    const double loss = step(batch, o, o.loss == Loss::Sampled ? &sampler : nullptr, grads);
    if (!std::isfinite(loss))
      throw Error(ErrorCode::NonFinite, "the training loss became " + std::to_string(loss) + " at step " +
                                            std::to_string(step_ + 1) + "; lower the learning rate");
    ++step_;
    // Without features the compression module stays as it is (its moments would move it).
    const size_t trained = features_.empty() ? code_params_offset() : params_.size();
    nn::adamw_step(params_.data(), grads.data(), m_.data(), v_.data(), trained, step_, o.adam,
                   thread_count(o.threads));
    loss_sum += loss;
    ++report.steps;
    // While the compression trains (a fit, not serving) publishing would recompute every
    // code: only at the end.
    if (features_.empty() && std::chrono::duration<double>(Clock::now() - published).count() >= kPublishSeconds) {
      publish();
      published = Clock::now();
    }
  }
  {
    std::unique_lock lock(mu_);
    apply_pending_warm();
    sync_codes();
    publish();
  }
  report.windows = windows.size();
  report.loss = report.steps ? loss_sum / double(report.steps) : 0;
  return report;
}

TrainReport SequentialModel::train_epoch(const Sequences& data, const TrainOptions& o, uint64_t epoch,
                                     const TrainingLease&) {
  o.validate();
  check_items(data, "the training sequences");
  return run_windows(data, epoch_windows(data), o, nn::stream_key(o.seed, 0xe90c, epoch));
}

std::vector<SequentialModel::Window> SequentialModel::epoch_windows(const Sequences& data) const {
  std::vector<Window> windows;
  const uint32_t L = shape_.max_len;
  for (uint32_t i = 0; i < data.count(); ++i)
    for (uint32_t e = data.len(i); e >= 2; e = e > L ? e - L : 0) {
      const uint32_t s = e > L + 1 ? e - L - 1 : 0;
      windows.push_back({i, s, e - 1 - s, 0});
    }
  return windows;
}

TrainReport SequentialModel::train_recent(const Sequences& data, uint32_t fresh, const TrainOptions& o, uint32_t passes,
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

void SequentialModel::encode(const Served& p, const Sequences& histories, float* out, int threads) {
  const Shape& s = p.shape;
  const size_t d = s.dim;
  const ParamView P = view_params(s, p.layout, const_cast<float*>(p.params.data()));
  for (int32_t it : histories.items)
    if (it < 0 || uint32_t(it) >= s.items)
      throw Error(ErrorCode::UnknownId, "the histories hold item " + std::to_string(it) + ", outside this model's catalog of " +
                                            std::to_string(s.items) + " items");
  Batch b;
  Activations acts;
  for (size_t c0 = 0; c0 < histories.count(); c0 += kInferenceChunk) {
    const size_t c1 = std::min(histories.count(), c0 + kInferenceChunk);
    b.clear();
    for (size_t i = c0; i < c1; ++i) {
      const uint32_t n = histories.len(i);
      if (n == 0) throw Error(ErrorCode::InvalidArgument, "history " + std::to_string(i) + " is empty");
      const uint32_t keep = std::min(n, s.max_len);  // the most recent events
      b.add(histories.data(i) + (n - keep), nullptr, keep, s);
    }
    forward(s, P, b, DropoutPlan{}, acts, threads, true);
    std::copy_n(acts.final_out.data(), (c1 - c0) * d, out + c0 * d);
  }
}

size_t SequentialModel::score_all(const Sequences& histories, std::vector<float>& out, int threads) const {
  const Snapshot p = serving();
  out.resize(histories.count() * p->shape.items);
  score_all(*p, histories, out.data(), threads);
  return p->shape.items;
}

void SequentialModel::score_all(const Served& p, const Sequences& histories, float* out, int threads) {
  const size_t d = p.shape.dim, n = histories.count(), items = p.shape.items;
  std::vector<float> h(n * d);
  encode(p, histories, h.data(), threads);
  const float* emb = p.params.data();  // item_emb comes first
  if (n >= 4) {
    nn::sgemm_parallel(n, items, d, 1.f, nn::Mat{h.data(), d}, nn::T(nn::Mat{emb, d}), 0.f, out, items, threads);
    return;
  }
  // A GEMM tile would be mostly padding for so few rows: dot products over the item rows.
  const simd::Kernels& k = simd::best_kernels();
  nn::parallel_ranges(items, 4096, threads, [&](size_t i0, size_t i1) {
    for (size_t q = 0; q < n; ++q) k.dot_rows(emb + i0 * d, i1 - i0, d, h.data() + q * d, out + q * items + i0);
  });
}

void SequentialModel::score(const int32_t* history, uint32_t n, const int32_t* candidates, size_t m, float* out) const {
  const Sequences one = single(history, n);
  const Snapshot p = serving();
  const size_t d = p->shape.dim;
  for (size_t c = 0; c < m; ++c)
    if (candidates[c] < 0 || uint32_t(candidates[c]) >= p->shape.items)
      throw Error(ErrorCode::UnknownId, "the candidates hold item " + std::to_string(candidates[c]) + ", outside this model's catalog");
  std::vector<float> h(d);
  encode(*p, one, h.data(), 1);
  for (size_t c = 0; c < m; ++c) {
    const float* e = p->params.data() + size_t(candidates[c]) * d;
    float s = 0.f;
    for (size_t j = 0; j < d; ++j) s += h[j] * e[j];
    out[c] = s;
  }
}

size_t SequentialModel::top_k(const int32_t* history, uint32_t n, size_t k, bool exclude_history, int32_t* items,
                          float* scores) const {
  const Sequences one = single(history, n);
  const Snapshot p = serving();
  const uint32_t count = p->shape.items;
  std::vector<float> all(count);
  score_all(*p, one, all.data(), 1);
  std::vector<uint8_t> excluded(count, 0);
  if (exclude_history)
    for (uint32_t i = 0; i < n; ++i) excluded[size_t(history[i])] = 1;
  std::vector<int32_t> order;
  order.reserve(count);
  for (uint32_t i = 0; i < count; ++i)
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

double SequentialModel::loss_and_gradients(const Sequences& data, const TrainOptions& o, uint64_t at_step,
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

std::vector<float> SequentialModel::params() const {
  std::shared_lock lock(mu_);
  return params_;
}

void SequentialModel::set_params(const float* p, size_t n) {
  if (n != params_.size())
    throw Error(ErrorCode::DimMismatch, "the model has " + std::to_string(params_.size()) + " parameters, got " + std::to_string(n));
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) throw Error(ErrorCode::NonFinite, "parameter " + std::to_string(i) + " is not finite");
  std::unique_lock lock(mu_);
  std::copy_n(p, n, params_.data());
  sync_codes();
  publish();
}

void SequentialModel::checkpoint() {
  std::shared_lock lock(mu_);
  best_ = params_;
}

void SequentialModel::restore() {
  std::unique_lock lock(mu_);
  if (best_.empty()) return;
  params_ = best_;
  sync_codes();
  publish();
}

}  // namespace lmrec::srm
