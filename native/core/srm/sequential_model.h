// The small sequential recommender: a SASRec model with its optimiser state, popularity
// counts (the fallback for empty histories), training loop and scoring. Scoring reads an
// immutable snapshot of the parameters, published by training at most every
// kPublishSeconds: requests never wait for a training step (only for CPU time).
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "srm/loss.h"
#include "srm/model.h"

namespace lmrec::srm {

// Item sequences in CSR form: sequence i is items[offsets[i] .. offsets[i+1]).
struct Sequences {
  std::vector<int32_t> items;
  std::vector<uint64_t> offsets{0};
  size_t count() const { return offsets.size() - 1; }
  const int32_t* data(size_t i) const { return items.data() + offsets[i]; }
  uint32_t len(size_t i) const { return uint32_t(offsets[i + 1] - offsets[i]); }
};

struct TrainReport {
  double loss = 0;  // mean over the steps
  uint64_t steps = 0, windows = 0, targets = 0;
  bool cancelled = false;  // stopped by cancel() before the last step
};

// Proof that its holder has this model's one training slot; released when destroyed. Taken on
// the caller's thread (the JS thread) before work is queued, so of two back-to-back trainings
// the second is refused (BUSY) deterministically.
class TrainingLease {
 public:
  explicit TrainingLease(std::shared_ptr<std::atomic<bool>> flag) : flag_(std::move(flag)) {}
  ~TrainingLease() { *flag_ = false; }
  TrainingLease(const TrainingLease&) = delete;
  TrainingLease& operator=(const TrainingLease&) = delete;

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

class SequentialModel {
 public:
  SequentialModel(const Shape& shape, uint64_t seed);
  static std::unique_ptr<SequentialModel> load(const std::string& path);
  void save(const std::string& path) const;

  Shape shape() const;
  uint64_t steps_done() const { return step_; }

  // Every item id in [0, items); throws UnknownId naming the first that is not.
  void check_items(const int32_t* items, size_t n, const char* what) const;
  void check_items(const Sequences& s, const char* what) const { check_items(s.items.data(), s.items.size(), what); }

  // Item embeddings from given vectors [items x dim] (e.g. compressed LM codes).
  void set_item_embeddings(const float* v);

  // --- The compression module (shape().has_codes(); see srm/item_codes.h) ---
  // Item features [items x code_in] (the LM's states): while set, training trains the
  // compression jointly and the codes follow it; without them the codes and the module stay
  // fixed (incremental updates after a load).
  void set_features(const float* f, size_t n);
  void drop_features();
  bool has_features() const;
  // Which items have an ID embedding (1) and which only their code (0: cold items). The ID
  // rows of cold items are zero and stay so.
  void set_id_mask(const uint8_t* mask, size_t n);
  std::vector<uint8_t> id_mask() const;
  // Gives these items an ID embedding (they now have events); it starts at zero.
  void warm_items(const int32_t* items, size_t n);
  // Appends n items (features n x code_in): encoded and compressed, code part only. Needs
  // the training slot (the shape changes).
  void add_items(const float* features, size_t n, const TrainingLease&);
  std::vector<float> codes() const;  // items x code_dim, as stored
  // The item embeddings scoring uses (items x dim): ID (where present) + code · Proj.
  std::vector<float> item_vectors() const;
  // The same written into out (n floats): no array of its own. DimMismatch unless n is the
  // published snapshot's items x dim.
  void item_vectors_into(float* out, size_t n) const;
  // The user states (count x dim) after each history: score(item) = state · item_vectors()[item].
  // Reads the published snapshot only, never the training lock: a request is not held up by a
  // training step in progress. Items are checked against that snapshot's catalog.
  void user_vectors(const Sequences& histories, float* out, int threads) const;
  // The width user_vectors writes per history (the snapshot's).
  uint32_t serving_dim() const { return serving()->shape.dim; }
  // Popularity = occurrences of each item in s (replacing or adding to the counts).
  void count_popularity(const Sequences& s, bool reset);
  const std::vector<float>& popularity() const { return popularity_; }

  // The training slot; throws Busy while another training holds it. Clears a pending cancel.
  std::unique_ptr<TrainingLease> lease_training();
  // Stops the training in progress at its next step (it returns with `cancelled` set).
  void cancel() { cancel_ = true; }

  // One pass over every event of `data` as a target: each sequence is cut into windows of
  // max_len + 1 events from its end, windows are shuffled (seeded by o.seed and `epoch`) and
  // batched.
  TrainReport train_epoch(const Sequences& data, const TrainOptions& o, uint64_t epoch, const TrainingLease&);
  // Incremental training: one window ending at each sequence's end, the loss only on its
  // last `fresh` events, `passes` passes.
  TrainReport train_recent(const Sequences& data, uint32_t fresh, const TrainOptions& o, uint32_t passes,
                           const TrainingLease&);

  // Scores of every item after each history (count x items, out resized; returns items: the
  // catalog may grow between calls). Histories must be non-empty.
  size_t score_all(const Sequences& histories, std::vector<float>& out, int threads) const;
  // Scores of the candidates after one history.
  void score(const int32_t* history, uint32_t n, const int32_t* candidates, size_t m, float* out) const;
  // The k best items after one history (best first), the history's own items excluded when
  // asked; returns how many were written (fewer than k only when the catalog runs out).
  size_t top_k(const int32_t* history, uint32_t n, size_t k, bool exclude_history, int32_t* items, float* scores) const;

  // Loss and full gradient of one batch holding every window of `data` (as in an epoch),
  // with dropout and negatives as at step `step`; for gradient checks.
  double loss_and_gradients(const Sequences& data, const TrainOptions& o, uint64_t step, std::vector<float>& grads);

  std::vector<float> params() const;
  void set_params(const float* p, size_t n);
  size_t param_count() const { return params_.size(); }

  void checkpoint();  // remembers the current parameters
  void restore();     // returns to them (no-op without a checkpoint)

 private:
  // What scoring reads: a copy of the parameters with the effective item embeddings in the
  // item rows, and the shape and layout they follow (add_items changes both).
  struct Served {
    std::vector<float> params;
    Shape shape;
    std::vector<TensorInfo> layout;
  };
  using Snapshot = std::shared_ptr<const Served>;
  static constexpr double kPublishSeconds = 0.1;

  // The parameters scoring reads: the latest published copy.
  Snapshot serving() const;
  // A snapshot of the current state; the caller holds mu_ (shared is enough).
  Snapshot snapshot_now() const;
  // Publishes params_ for scoring; the caller holds mu_.
  void publish();
  // codes_ from the features and the current compression module (no noise) when features are
  // set; the caller holds mu_ exclusively.
  void sync_codes();
  size_t code_params_offset() const;  // where the compression module's parameters start
  // The final hidden state after each history (count x dim).
  static void encode(const Served& p, const Sequences& histories, float* out, int threads);
  static void score_all(const Served& p, const Sequences& histories, float* out, int threads);

  struct Window {
    uint32_t seq, begin, len, loss_from;  // inputs items[begin, begin+len); targets from row loss_from
  };
  // Every event of every sequence as a target once: windows of max_len + 1 events from the end.
  std::vector<Window> epoch_windows(const Sequences& data) const;
  TrainReport run_windows(const Sequences& data, std::vector<Window> windows, const TrainOptions& o,
                          uint64_t shuffle_seed);
  double step(const Batch& b, const TrainOptions& o, const AliasSampler* sampler, std::vector<float>& grads);
  AliasSampler make_sampler(float power) const;
  void add_window(Batch& b, const Sequences& data, const Window& w) const;

  Shape shape_;
  std::vector<TensorInfo> layout_;  // of the parameters (and of gradients and moments)
  std::vector<float> params_, m_, v_, best_, popularity_;
  std::vector<float> features_;  // items x code_in while fitting, else empty
  std::vector<float> codes_;     // items x code_dim (multiples of 1/127 when int8)
  std::vector<uint8_t> id_mask_;
  std::atomic<int> threads_{0};  // of the last training, for publishing
  uint64_t step_ = 0;
  mutable std::shared_mutex mu_;  // params_ (changed by training steps and setters), popularity_
  mutable std::mutex serve_mu_;   // serving_ (taken after mu_ when both are)
  std::mutex warm_mu_;            // pending_warm_ (taken after mu_ when both are)
  std::vector<int32_t> pending_warm_;  // items warmed while a training step held mu_
  void apply_pending_warm();      // with mu_ held exclusively
  mutable Snapshot serving_;
  std::shared_ptr<std::atomic<bool>> training_ = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> cancel_{false};
};

}  // namespace lmrec::srm
