// The output layer and its loss. Scores of a row are out · E[item] (the item embeddings are
// tied to the output), trained with cross-entropy over the next item:
//  - full softmax over every item, computed in row blocks so the logits held at once stay
//    within a byte budget;
//  - sampled softmax for catalogs too large for that: negatives shared by the batch, drawn
//    from q(item) ~ count^power, with each logit corrected by -log(S q) (logQ correction) and
//    negatives that equal the row's target removed.
#pragma once
#include <cstdint>
#include <vector>

#include "srm/srm_config.h"

namespace lmrec::srm {

// Walker's alias table: O(1) draws from a fixed discrete distribution.
class AliasSampler {
 public:
  AliasSampler() = default;
  explicit AliasSampler(const std::vector<double>& weights);
  uint32_t draw(uint64_t random_bits) const;
  double probability(uint32_t i) const { return prob_[i]; }
  size_t size() const { return prob_.size(); }

 private:
  std::vector<double> prob_;     // normalised weights
  std::vector<float> accept_;
  std::vector<uint32_t> alias_;
};

struct LossInput {
  const float* out;      // [rows x dim] final hidden states
  const int32_t* targets;  // [rows]
  size_t rows;
  const float* item_emb;   // [items x dim]
  size_t items, dim;
  // Full softmax: items that may compete (null: all). Items without training events are left
  // out, so that being absent from the logs is not learnt as a property of their text.
  const uint8_t* candidates = nullptr;
};

// Mean cross-entropy over the rows. Writes dout (rows x dim) and adds the output layer's
// share of the item-embedding gradient to ditem (items x dim; null: not wanted). Every
// gradient is divided by rows.
double full_softmax_loss(const LossInput& in, size_t logits_bytes, std::vector<float>& dout, float* ditem,
                         int threads);

double sampled_softmax_loss(const LossInput& in, const AliasSampler& sampler, uint32_t negatives, uint64_t key,
                            std::vector<float>& dout, float* ditem, int threads);

}  // namespace lmrec::srm
