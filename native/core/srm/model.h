// The SASRec forward and backward passes, by hand, over a packed batch of sequences.
//
//   x0   = dropout(E[item] * sqrt(d) + P[position])
//   per block (as in SASRec's reference code):
//     q    = LN1(x)
//     h    = q + Wo · attention(Wq q, Wk x, Wv x)        causal, dropout on the probabilities
//     n    = LN2(h)
//     x'   = n + dropout(W2 · dropout(relu(W1 n)))
//   out  = LN_final(x)                  scores of a row = out · E[item] for every item
#pragma once
#include <cstdint>
#include <vector>

#include "nn/attention.h"
#include "srm/params.h"

namespace lmrec::srm {

// Rows of several sequences, packed without padding. A sequence of n rows gets positions
// max_len-n .. max_len-1, so the newest event always has the last position.
struct Batch {
  std::vector<int32_t> items;    // per row: the item read
  std::vector<int32_t> targets;  // per row: the next item (training), or -1
  std::vector<uint16_t> positions;
  nn::PackedSequences seqs;

  void clear();
  // Appends items[0..n) as one sequence; targets may be null.
  void add(const int32_t* items, const int32_t* targets, uint32_t n, const Shape& s);
};

struct BlockActivations {
  std::vector<float> qin, ln1_mean, ln1_rstd, q, k, v, probs, attn, h, ln2_mean, ln2_rstd, n, f1, f1d, out;
};

struct Activations {
  std::vector<float> x0, lnf_mean, lnf_rstd, final_out, last_rows;
  std::vector<BlockActivations> blocks;
};

// Dropout of one step: p = 0 at inference. Masks come from nn::random streams keyed by
// (seed, step, site), so backward regenerates them instead of storing them.
struct DropoutPlan {
  float p = 0.f;
  uint64_t seed = 0, step = 0;
};

// Fills acts (resized as needed); acts.final_out holds the output rows: every row, or with
// last_rows_only (inference) each sequence's last row, in sequence order.
void forward(const Shape& s, const ParamView& w, const Batch& b, const DropoutPlan& drop, Activations& acts,
             int threads, bool last_rows_only = false);

// From d(loss)/d(final_out), writes every parameter's gradient into g except the
// item-embedding rows, which it adds to (the loss has already put the output layer's share there).
void backward(const Shape& s, const ParamView& w, const Batch& b, const DropoutPlan& drop, const Activations& acts,
              const std::vector<float>& dfinal, const ParamView& g, int threads);

}  // namespace lmrec::srm
