// The SRM's parameters live in one flat float array (so AdamW, checkpoints and files handle
// a single buffer); named views into it follow one layout. Gradients and the optimiser's
// moments use the same layout over arrays of the same size.
#pragma once
#include <string>
#include <vector>

#include "srm/srm_config.h"

namespace lmrec::srm {

enum class Init : uint8_t { Xavier, Zero, One };

struct TensorInfo {
  std::string name;
  size_t rows, cols, offset;
  Init init;
  float scale = 1.f;  // Xavier: times the usual standard deviation
};

std::vector<TensorInfo> param_layout(const Shape& s);
size_t param_count(const Shape& s);

struct BlockView {
  float *ln1_g, *ln1_b, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo, *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
};

struct ParamView {
  float* item_emb;  // [items x dim]; also the output layer (scores = hidden . item_emb)
  float* pos_emb;   // [max_len x dim]; row max_len-1 is the most recent event
  std::vector<BlockView> blocks;
  float *lnf_g, *lnf_b;
  // The compression module (null without one; w2/b2 null when it is linear).
  float *code_w1 = nullptr, *code_b1 = nullptr, *code_w2 = nullptr, *code_b2 = nullptr, *code_proj = nullptr;
};

// Views into base following `layout` (param_layout(s), computed once by the caller: it is a
// list of named tensors, too costly to rebuild on every request).
ParamView view_params(const Shape& s, const std::vector<TensorInfo>& layout, float* base);

// Xavier-normal matrices, zero biases, unit gains; deterministic in the seed.
void init_params(const Shape& s, float* base, uint64_t seed);

}  // namespace lmrec::srm
