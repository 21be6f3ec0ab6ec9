// Training of the small decoder: packed token sequences (text, or behaviour written as text),
// next-token loss through the tied head, an optional next-item loss at the end of each event
// (SLMRec / E4SRec), optional distillation terms (SLMRec: per-block item heads and alignment
// with a teacher's hidden states), AdamW with warm-up + cosine decay and global-norm clipping.
//
// Batches are a pure function of (seed, step, corpus), and every sum runs in a fixed order,
// so a run gives the same weights on any thread count, and a run resumed from a checkpoint
// reaches the same weights as one that never stopped.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lm/llama_model.h"
#include "nn/adamw.h"

namespace lmrec::lm {

// Token sequences in CSR form, with the events written in them: event e of the corpus ends at
// token event_ends[e] (an absolute index, increasing), and the hidden state there predicts
// next_items[e] (-1: nothing to predict, e.g. a history's last event).
struct Corpus {
  std::vector<int32_t> tokens;
  std::vector<uint64_t> offsets{0};
  std::vector<uint64_t> event_ends;
  std::vector<int32_t> next_items;
  // Evaluation only: per sequence, the first token whose prediction counts (absolute index);
  // empty: every token. Held-out text is scored given its history without scoring the history.
  std::vector<uint64_t> score_from;
  // Distillation: per sequence, the teacher's hidden state at its last token at each of
  // teacher_points block boundaries ([sequences x teacher_points x teacher_dim]); empty: none.
  std::vector<float> teacher;
  uint32_t teacher_points = 0, teacher_dim = 0;

  size_t count() const { return offsets.size() - 1; }
  void validate(const LlamaShape& s) const;  // throws InvalidArgument / UnknownId
  uint32_t fingerprint() const;              // CRC-32C of the token and event arrays
};

struct TrainOptions {
  nn::AdamWOptions adam{3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f};
  float min_lr_ratio = 0.1f;  // the cosine ends at lr * min_lr_ratio
  uint64_t warmup_steps = 50;
  uint64_t total_steps = 1000;  // length of the schedule (training may stop earlier)
  float clip_norm = 1.f;        // 0: no clipping
  uint32_t batch_tokens = 8192;
  uint32_t context = 256;       // longer sequences are cut into windows of this many tokens
  float lm_weight = 1.f;        // next-token loss
  float item_weight = 1.f;      // next-item loss (needs an item head)
  float aux_weight = 1.f;       // each auxiliary item head's loss
  float align_weight = 0.f;     // lambda of the alignment term (0: no alignment)
  uint32_t freeze_layers = 0;   // train only layers >= this (and nothing below, embedding included)
  uint32_t local_layers = 0;    // bottom layers with segment-local attention (segments = events)
  size_t logits_bytes = 8u << 20;
  uint64_t seed = 1;
  int threads = 0;  // 0 = all hardware threads

  void validate(const LlamaShape& s) const;
};

struct StepReport {
  uint64_t steps = 0, tokens = 0, item_targets = 0;
  double lm_loss = 0, item_loss = 0, aux_loss = 0, align_loss = 0;  // means over the steps
  double grad_norm = 0, lr = 0;  // of the last step
  bool cancelled = false;
};

struct EvalReport {
  double lm_loss = 0, item_loss = 0;
  uint64_t tokens = 0, item_targets = 0;
};

class Trainer {
 public:
  Trainer(const LlamaShape& shape, uint64_t seed);
  static std::unique_ptr<Trainer> load_checkpoint(const std::string& path);
  // Atomic; holds the weights, optimiser moments, step, options and the corpus's fingerprint.
  void save_checkpoint(const std::string& path) const;

  const LlamaShape& shape() const { return model_.shape(); }
  const std::vector<LmTensor>& layout() const { return model_.layout(); }
  uint64_t step() const { return step_.load(); }
  const TrainOptions& options() const { return options_; }

  // The corpus and options the next train() calls use. A checkpoint's own corpus fingerprint
  // must match the new corpus when resuming (the batches of a step depend on it).
  void set_corpus(std::shared_ptr<const Corpus> corpus, const TrainOptions& o, bool resuming);
  // Runs `steps` more steps (fewer when cancelled or the schedule's end is reached).
  StepReport train(uint64_t steps);
  // Stops the train() in progress at its next step. clear_cancel() drops a cancel no train()
  // saw; the addon calls it on the JS thread when it queues a train().
  void cancel() { cancel_ = true; }
  void clear_cancel() { cancel_ = false; }

  // How inference runs: sequences are cut into windows of `context` tokens (0: the training
  // options' context); `local_layers` bottom layers attend within each event's segment (-1: the
  // training options' count) — a model evaluated the way late interaction serves it.
  struct Inference {
    uint32_t context = 0;
    int local_layers = -1;
    int threads = 0;
  };
  // Validation: mean next-token and next-item losses over every window of `c`, as training cut them.
  EvalReport evaluate(const Corpus& c, const Inference& how) const;
  // Item-head scores after each sequence's last `context` tokens: [count x items].
  void item_scores(const Corpus& c, const Inference& how, float* out) const;
  // Tied-head logits of every token of one sequence: [n x vocab] (tests and checks).
  void logits(const int32_t* tokens, uint32_t n, float* out, int threads) const;
  // Hidden states after layer `layer` (0 = embeddings, layers = after the last layer, before
  // the final norm) at each sequence's last token: [count x dim].
  void last_hidden(const Corpus& c, uint32_t layer, const Inference& how, float* out) const;

  // Loss and full gradient of the batch of step `step` (gradient checks); no update.
  double loss_and_gradients(uint64_t step, std::vector<float>& grads);

  std::vector<float>& params() { return params_; }
  const std::vector<float>& params() const { return params_; }
  void reset_optimizer();

 private:
  struct Window {
    uint32_t seq;
    uint64_t begin;  // absolute token index
    uint32_t len;
  };
  struct StepLosses {
    double total = 0, lm = 0, item = 0, aux = 0, align = 0;
    uint64_t tokens = 0, item_targets = 0;
  };
  // Every window of `c`: each sequence cut into pieces of `context` tokens.
  static std::vector<Window> windows_of(const Corpus& c, uint32_t context);
  // The windows of step `step` (0-based), in batch order.
  std::vector<Window> batch_windows(uint64_t step);
  void fill_batch(const Corpus& c, const std::vector<Window>& ws, LlamaBatch& b) const;
  StepLosses forward_backward(const std::vector<Window>& ws, std::vector<float>& grads);
  float lr_at(uint64_t step) const;  // step counted from 1
  uint32_t inference_context(uint32_t context) const;  // 0: the options' context; at most max_positions
  uint32_t inference_local_layers(int local_layers) const;  // -1: the options' count
  uint32_t boundary_layer(uint32_t point, uint32_t points) const;  // 0-based layer index

  LlamaModel model_;
  std::vector<float> params_, m_, v_;
  std::atomic<uint64_t> step_{0};  // read by info() while a step runs
  TrainOptions options_;
  std::shared_ptr<const Corpus> corpus_;
  uint32_t corpus_fingerprint_ = 0;  // of the checkpoint's corpus, until a corpus is set
  std::vector<Window> windows_;
  // The epoch whose batches batch_windows last built: its first step and batch boundaries.
  uint64_t epoch_ = UINT64_MAX, epoch_first_step_ = 0;
  std::vector<uint32_t> epoch_order_;
  std::vector<size_t> epoch_batches_;  // batch i = epoch_order_[epoch_batches_[i], epoch_batches_[i+1])
  std::atomic<bool> cancel_{false};
};

}  // namespace lmrec::lm
