#include "lm/llama_model.h"

#include <cmath>

#include "nn/gemm.h"
#include "nn/parallel.h"
#include "nn/rms_norm.h"
#include "util/error.h"

namespace lmrec::lm {
namespace {

using nn::Mat;

void resize(std::vector<float>& v, size_t n) {
  if (v.size() != n) v.resize(n);
}

// y [rows x out] = x [rows x in] · W^T, W stored [out x in] (no bias in Llama).
void project(const float* x, size_t rows, const float* w, size_t in, size_t out, float* y, int threads,
             float beta = 0.f) {
  nn::sgemm_parallel(rows, out, in, 1.f, Mat{x, in}, nn::T(Mat{w, in}), beta, y, out, threads);
}

// dW [out x in] = dy^T x; dx (+)= dy · W.
void project_backward(const float* x, const float* dy, size_t rows, const float* w, size_t in, size_t out,
                      float* dw, float* dx, bool accumulate, int threads) {
  nn::sgemm_parallel(out, in, rows, 1.f, nn::T(Mat{dy, out}), Mat{x, in}, 0.f, dw, in, threads);
  if (dx) nn::sgemm_parallel(rows, in, out, 1.f, Mat{dy, out}, Mat{w, in}, accumulate ? 1.f : 0.f, dx, in, threads);
}

float sigmoid(float a) { return 1.f / (1.f + std::exp(-a)); }

}  // namespace

void LlamaBatch::clear() {
  tokens.clear();
  positions.clear();
  segment_first.clear();
  seqs.clear();
}

void LlamaBatch::add(const int32_t* t, uint32_t n, const uint8_t* segment_starts, size_t heads) {
  uint32_t first = 0;
  for (uint32_t i = 0; i < n; ++i) {
    tokens.push_back(t[i]);
    positions.push_back(i);
    if (segment_starts && segment_starts[i]) first = i;
    segment_first.push_back(first);
  }
  seqs.add(n, heads);
}

LlamaModel::LlamaModel(const LlamaShape& shape)
    : shape_(shape), layout_((shape.validate(), llama_layout(shape))), rope_(shape.head_dim(), shape.max_positions, shape.rope_theta) {}

nn::AttentionShape LlamaModel::attention_shape(const LlamaBatch& b, uint32_t layer, const ForwardPlan& plan) const {
  nn::AttentionShape a{shape_.heads, shape_.kv_heads, shape_.head_dim()};
  if (layer < plan.local_layers) a.first = b.segment_first.data();
  return a;
}

void LlamaModel::forward(const float* params, const LlamaBatch& b, const ForwardPlan& plan, LlamaActivations& a,
                         int threads) const {
  const LlamaShape& s = shape_;
  const size_t d = s.dim, kw = s.kv_width(), f = s.ffn, T = b.seqs.rows;
  for (uint32_t p : b.positions)
    if (p >= s.max_positions)
      throw Error(ErrorCode::InvalidArgument, "a sequence is longer than the model's " + std::to_string(s.max_positions) + " positions");
  for (int32_t t : b.tokens)
    if (t < 0 || uint32_t(t) >= s.vocab)
      throw Error(ErrorCode::UnknownId, "token " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(s.vocab));
  const LlamaView w = view_llama(s, layout_, const_cast<float*>(params));

  resize(a.x0, T * d);
  nn::parallel_ranges(T, 64, threads, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) std::copy_n(w.embed + size_t(b.tokens[r]) * d, d, a.x0.data() + r * d);
  });
  a.layers.resize(s.layers);
  const float* x = a.x0.data();
  for (uint32_t l = 0; l < s.layers; ++l) {
    const LlamaLayerView& p = w.layers[l];
    LayerActivations& A = a.layers[l];
    for (auto* v : {&A.n1, &A.q, &A.attn, &A.h, &A.n2, &A.out}) resize(*v, T * d);
    for (auto* v : {&A.k, &A.v}) resize(*v, T * kw);
    for (auto* v : {&A.gate, &A.up, &A.act}) resize(*v, T * f);
    for (auto* v : {&A.rstd1, &A.rstd2}) resize(*v, T);
    if (plan.keep) resize(A.probs, b.seqs.prob_floats);  // inference keeps no probabilities

    nn::rms_norm_forward(x, T, d, p.attn_norm, s.norm_eps, A.n1.data(), A.rstd1.data(), threads);
    project(A.n1.data(), T, p.wq, d, d, A.q.data(), threads);
    project(A.n1.data(), T, p.wk, d, kw, A.k.data(), threads);
    project(A.n1.data(), T, p.wv, d, kw, A.v.data(), threads);
    nn::rope_forward(rope_, b.positions.data(), T, s.heads, A.q.data(), threads);
    nn::rope_forward(rope_, b.positions.data(), T, s.kv_heads, A.k.data(), threads);
    nn::attention_forward(A.q.data(), A.k.data(), A.v.data(), b.seqs, attention_shape(b, l, plan), {},
                          plan.keep ? A.probs.data() : nullptr, A.attn.data(), threads);
    std::copy_n(x, T * d, A.h.data());
    project(A.attn.data(), T, p.wo, d, d, A.h.data(), threads, 1.f);

    nn::rms_norm_forward(A.h.data(), T, d, p.ffn_norm, s.norm_eps, A.n2.data(), A.rstd2.data(), threads);
    project(A.n2.data(), T, p.w_gate, d, f, A.gate.data(), threads);
    project(A.n2.data(), T, p.w_up, d, f, A.up.data(), threads);
    nn::parallel_ranges(T * f, 4096, threads, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) A.act[i] = A.gate[i] * sigmoid(A.gate[i]) * A.up[i];
    });
    std::copy_n(A.h.data(), T * d, A.out.data());
    project(A.act.data(), T, p.w_down, f, d, A.out.data(), threads, 1.f);
    x = A.out.data();
  }
  resize(a.final_out, T * d);
  resize(a.rstd_final, T);
  nn::rms_norm_forward(x, T, d, w.norm, s.norm_eps, a.final_out.data(), a.rstd_final.data(), threads);
  if (!plan.keep) {  // inference: drop the per-layer buffers but the outputs
    for (auto& A : a.layers)
      for (auto* v : {&A.n1, &A.q, &A.k, &A.v, &A.probs, &A.attn, &A.h, &A.n2, &A.gate, &A.up, &A.act}) std::vector<float>().swap(*v);
  }
}

void LlamaModel::backward(const float* params, const LlamaBatch& b, const ForwardPlan& plan,
                          const LlamaActivations& a, std::vector<float>& dfinal,
                          const std::vector<const float*>& d_layer_out, uint32_t first_layer, float* grads,
                          int threads) const {
  const LlamaShape& s = shape_;
  const size_t d = s.dim, kw = s.kv_width(), f = s.ffn, T = b.seqs.rows;
  const LlamaView w = view_llama(s, layout_, const_cast<float*>(params));
  const LlamaView g = view_llama(s, layout_, grads);
  auto input_of = [&](uint32_t l) { return l == 0 ? a.x0.data() : a.layers[l - 1].out.data(); };

  std::vector<float> dx(T * d, 0.f), dh(T * d), dn(T * d), dact(T * f), dgate(T * f), dq(T * d), dk(T * kw),
      dv(T * kw);
  nn::rms_norm_backward(input_of(s.layers), dfinal.data(), T, d, w.norm, a.rstd_final.data(), dx.data(), g.norm,
                        threads);
  for (uint32_t l = s.layers; l-- > first_layer;) {
    const LlamaLayerView& p = w.layers[l];
    const LlamaLayerView& gp = g.layers[l];
    const LayerActivations& A = a.layers[l];
    if (l < d_layer_out.size() && d_layer_out[l])
      for (size_t i = 0; i < T * d; ++i) dx[i] += d_layer_out[l][i];
    // out = h + Wdown · act, act = silu(gate) * up
    project_backward(A.act.data(), dx.data(), T, p.w_down, f, d, gp.w_down, dact.data(), false, threads);
    nn::parallel_ranges(T * f, 4096, threads, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) {
        const float gt = A.gate[i], sg = sigmoid(gt), silu = gt * sg;
        dgate[i] = dact[i] * A.up[i] * (sg + silu * (1.f - sg));
        dact[i] *= silu;  // now d(up)
      }
    });
    project_backward(A.n2.data(), dgate.data(), T, p.w_gate, d, f, gp.w_gate, dn.data(), false, threads);
    project_backward(A.n2.data(), dact.data(), T, p.w_up, d, f, gp.w_up, dn.data(), true, threads);
    dh = dx;
    nn::rms_norm_backward(A.h.data(), dn.data(), T, d, p.ffn_norm, A.rstd2.data(), dh.data(), gp.ffn_norm, threads);
    // h = x + Wo · attention(...)
    project_backward(A.attn.data(), dh.data(), T, p.wo, d, d, gp.wo, dn.data(), false, threads);
    nn::attention_backward(A.q.data(), A.k.data(), A.v.data(), b.seqs, attention_shape(b, l, plan), {},
                           A.probs.data(), dn.data(), dq.data(), dk.data(), dv.data(), threads);
    nn::rope_backward(rope_, b.positions.data(), T, s.heads, dq.data(), threads);
    nn::rope_backward(rope_, b.positions.data(), T, s.kv_heads, dk.data(), threads);
    project_backward(A.n1.data(), dq.data(), T, p.wq, d, d, gp.wq, dn.data(), false, threads);
    project_backward(A.n1.data(), dk.data(), T, p.wk, d, kw, gp.wk, dn.data(), true, threads);
    project_backward(A.n1.data(), dv.data(), T, p.wv, d, kw, gp.wv, dn.data(), true, threads);
    dx = dh;
    nn::rms_norm_backward(input_of(l), dn.data(), T, d, p.attn_norm, A.rstd1.data(), dx.data(), gp.attn_norm, threads);
  }
  if (first_layer > 0) return;
  // x0 = E[token]: rows added in order within each column range, so sums are reproducible.
  nn::parallel_ranges(d, 16, threads, [&](size_t c0, size_t c1) {
    for (size_t r = 0; r < T; ++r) {
      float* ge = g.embed + size_t(b.tokens[r]) * d;
      const float* dr = dx.data() + r * d;
      for (size_t j = c0; j < c1; ++j) ge[j] += dr[j];
    }
  });
}

}  // namespace lmrec::lm
