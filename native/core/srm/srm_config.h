// Shape and training options of the small sequential recommender (SASRec-style).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "nn/adamw.h"

namespace lmrec::srm {

struct Shape {
  uint32_t items = 0;    // catalog size; item ids are 0..items-1
  uint32_t dim = 64;     // embedding width d (also the feed-forward width, as in SASRec)
  uint32_t blocks = 2;   // self-attention blocks
  uint32_t heads = 1;    // attention heads; must divide dim
  uint32_t max_len = 50;  // longest history the model reads (the most recent events); SRM_DEFAULTS in src/srm says the same
  // The compression module (srm/item_codes.h); code_in = 0: none, item embeddings are IDs only.
  uint32_t code_in = 0;      // width of the item features (the LM's hidden size)
  uint32_t code_dim = 64;    // width of the stored code
  uint32_t code_hidden = 0;  // 0: linear compression; else one hidden ReLU layer this wide
  bool code_int8 = true;     // codes rounded to int8 in training (straight-through) and storage

  bool has_codes() const { return code_in > 0; }

  void validate() const;  // throws InvalidArgument naming the bad field
};

enum class Loss : uint8_t { Full = 0, Sampled = 1 };

struct TrainOptions {
  nn::AdamWOptions adam;
  float dropout = 0.2f;
  uint32_t batch_size = 128;  // sequences (windows) a step
  Loss loss = Loss::Full;
  uint32_t negatives = 256;     // sampled loss: shared negatives a step
  float sample_power = 0.75f;   // sampled loss: negatives drawn with probability ~ count^power
  // Full loss: bound on the logits block held at once. A block that stays in cache is faster
  // than a large one (28 vs 38 s per 1M events at 3,706 items).
  size_t logits_bytes = 8u << 20;
  uint64_t seed = 1;
  int threads = 0;  // 0 = all hardware threads
  float code_noise = 0.05f;  // σ of the Gaussian noise added to codes in training
  // Share of warm items whose ID part is left out of a step (DropoutNet): the code alone must
  // then score them, as it alone scores cold items.
  float id_dropout = 0.25f;

  void validate() const;
};

}  // namespace lmrec::srm
