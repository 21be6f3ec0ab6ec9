#include "srm/model.h"

#include <algorithm>
#include <cmath>

#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/parallel.h"
#include "nn/random.h"

namespace lmrec::srm {
namespace {

constexpr float kLnEps = 1e-8f;  // SASRec's

// Dropout sites; each has its own random stream per step.
enum Site : uint64_t { kEmbedding = 0, kAttention = 1, kFfnHidden = 2, kFfnOut = 3 };

uint64_t site_key(const DropoutPlan& d, uint32_t block, Site site) {
  return nn::stream_key(d.seed, d.step, uint64_t(block) * 8 + site + 1);
}

// x[i] *= keep(i) / (1 - p) over n floats.
void apply_dropout(float* x, size_t n, const DropoutPlan& d, uint64_t key, int threads) {
  if (d.p <= 0.f) return;
  const float scale = 1.f / (1.f - d.p);
  nn::parallel_ranges(n, 1 << 14, threads, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) x[i] = nn::uniform(key, i) < d.p ? 0.f : x[i] * scale;
  });
}

void resize(std::vector<float>& v, size_t n) {
  if (v.size() != n) v.resize(n);
}

nn::LinearRef lin(const float* w, const float* b, size_t d) { return {w, b, d, d}; }

}  // namespace

void Batch::clear() {
  items.clear();
  targets.clear();
  positions.clear();
  seqs.clear();
}

void Batch::add(const int32_t* it, const int32_t* tg, uint32_t n, const Shape& s) {
  for (uint32_t i = 0; i < n; ++i) {
    items.push_back(it[i]);
    targets.push_back(tg ? tg[i] : -1);
    positions.push_back(uint16_t(s.max_len - n + i));
  }
  seqs.add(n, s.heads);
}

void forward(const Shape& s, const ParamView& w, const Batch& b, const DropoutPlan& drop, Activations& a,
             int threads, bool last_rows_only) {
  const size_t d = s.dim, T = b.seqs.rows, td = T * d;
  const float emb_scale = std::sqrt(float(d));
  resize(a.x0, td);
  nn::parallel_ranges(T, 64, threads, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* e = w.item_emb + size_t(b.items[r]) * d;
      const float* p = w.pos_emb + size_t(b.positions[r]) * d;
      for (size_t j = 0; j < d; ++j) a.x0[r * d + j] = e[j] * emb_scale + p[j];
    }
  });
  apply_dropout(a.x0.data(), td, drop, site_key(drop, 0, kEmbedding), threads);

  a.blocks.resize(s.blocks);
  const float* x = a.x0.data();
  size_t R = T;  // rows on the query side
  for (uint32_t bi = 0; bi < s.blocks; ++bi) {
    const BlockView& p = w.blocks[bi];
    BlockActivations& A = a.blocks[bi];
    // Inference needs only each sequence's last row out of the last block: its keys and
    // values still come from every row, but the query side shrinks to one row a sequence.
    const bool last_only = last_rows_only && bi + 1 == s.blocks;
    const float* xq = x;
    if (last_only) {
      R = b.seqs.count();
      resize(a.last_rows, R * d);
      for (size_t q = 0; q < R; ++q)
        std::copy_n(x + (size_t(b.seqs.begin[q]) + b.seqs.len[q] - 1) * d, d, a.last_rows.data() + q * d);
      xq = a.last_rows.data();
    }
    const size_t rd = R * d;
    for (auto* v : {&A.qin, &A.q, &A.attn, &A.h, &A.n, &A.f1, &A.f1d, &A.out}) resize(*v, rd);
    for (auto* v : {&A.k, &A.v}) resize(*v, td);
    for (auto* v : {&A.ln1_mean, &A.ln1_rstd, &A.ln2_mean, &A.ln2_rstd}) resize(*v, R);

    const nn::LayerNormCache c1{A.ln1_mean.data(), A.ln1_rstd.data()};
    nn::layer_norm_forward(xq, R, d, p.ln1_g, p.ln1_b, kLnEps, A.qin.data(), &c1, threads);
    nn::linear_forward(lin(p.wq, p.bq, d), A.qin.data(), R, A.q.data(), threads);
    nn::linear_forward(lin(p.wk, p.bk, d), x, T, A.k.data(), threads);
    nn::linear_forward(lin(p.wv, p.bv, d), x, T, A.v.data(), threads);
    if (last_only) {
      nn::attention_last_rows(A.q.data(), A.k.data(), A.v.data(), b.seqs, d, s.heads, A.attn.data(), threads);
    } else {
      resize(A.probs, b.seqs.prob_floats);
      const nn::AttentionDropout ad{drop.p, site_key(drop, bi, kAttention)};
      nn::attention_forward(A.q.data(), A.k.data(), A.v.data(), b.seqs, nn::AttentionShape::mha(d, s.heads), ad, A.probs.data(),
                            A.attn.data(), threads);
    }
    nn::linear_forward(lin(p.wo, p.bo, d), A.attn.data(), R, A.h.data(), threads);
    for (size_t i = 0; i < rd; ++i) A.h[i] += A.qin[i];

    const nn::LayerNormCache c2{A.ln2_mean.data(), A.ln2_rstd.data()};
    nn::layer_norm_forward(A.h.data(), R, d, p.ln2_g, p.ln2_b, kLnEps, A.n.data(), &c2, threads);
    nn::linear_forward(lin(p.w1, p.b1, d), A.n.data(), R, A.f1.data(), threads);
    for (size_t i = 0; i < rd; ++i) A.f1d[i] = A.f1[i] = std::max(A.f1[i], 0.f);
    apply_dropout(A.f1d.data(), rd, drop, site_key(drop, bi, kFfnHidden), threads);
    nn::linear_forward(lin(p.w2, p.b2, d), A.f1d.data(), R, A.out.data(), threads);
    apply_dropout(A.out.data(), rd, drop, site_key(drop, bi, kFfnOut), threads);
    for (size_t i = 0; i < rd; ++i) A.out[i] += A.n[i];
    x = A.out.data();
  }
  resize(a.final_out, R * d);
  resize(a.lnf_mean, R);
  resize(a.lnf_rstd, R);
  const nn::LayerNormCache cf{a.lnf_mean.data(), a.lnf_rstd.data()};
  nn::layer_norm_forward(x, R, d, w.lnf_g, w.lnf_b, kLnEps, a.final_out.data(), &cf, threads);
}

void backward(const Shape& s, const ParamView& w, const Batch& b, const DropoutPlan& drop, const Activations& a,
              const std::vector<float>& dfinal, const ParamView& g, int threads) {
  const size_t d = s.dim, T = b.seqs.rows, td = T * d;
  std::vector<float> dx(td, 0.f), dn(td), df(td), dh(td), dq(td), dk(td), dv(td), da(td);
  auto input_of = [&](uint32_t bi) { return bi == 0 ? a.x0.data() : a.blocks[bi - 1].out.data(); };

  nn::layer_norm_backward(input_of(s.blocks), dfinal.data(), T, d, w.lnf_g, a.lnf_mean.data(), a.lnf_rstd.data(), dx.data(), g.lnf_g, g.lnf_b, threads);

  for (uint32_t bi = s.blocks; bi-- > 0;) {
    const BlockView& p = w.blocks[bi];
    const BlockView& gp = g.blocks[bi];
    const BlockActivations& A = a.blocks[bi];
    const float* xin = input_of(bi);
    // x' = n + dropout(W2 · dropout(relu(W1 n)))
    dn = dx;
    df = dx;
    apply_dropout(df.data(), td, drop, site_key(drop, bi, kFfnOut), threads);
    nn::linear_backward(lin(p.w2, p.b2, d), A.f1d.data(), df.data(), T, gp.w2, gp.b2, dh.data(), false, threads);
    apply_dropout(dh.data(), td, drop, site_key(drop, bi, kFfnHidden), threads);
    for (size_t i = 0; i < td; ++i)
      if (A.f1[i] <= 0.f) dh[i] = 0.f;
    nn::linear_backward(lin(p.w1, p.b1, d), A.n.data(), dh.data(), T, gp.w1, gp.b1, dn.data(), true, threads);
    // n = LN2(h)
    std::fill(dh.begin(), dh.end(), 0.f);
    nn::layer_norm_backward(A.h.data(), dn.data(), T, d, p.ln2_g, A.ln2_mean.data(), A.ln2_rstd.data(), dh.data(), gp.ln2_g, gp.ln2_b, threads);
    // h = q_in + Wo · attention
    std::vector<float>& dqin = dn;  // dn is spent; reuse it
    dqin = dh;
    nn::linear_backward(lin(p.wo, p.bo, d), A.attn.data(), dh.data(), T, gp.wo, gp.bo, da.data(), false, threads);
    const nn::AttentionDropout ad{drop.p, site_key(drop, bi, kAttention)};
    nn::attention_backward(A.q.data(), A.k.data(), A.v.data(), b.seqs, nn::AttentionShape::mha(d, s.heads), ad, A.probs.data(), da.data(),
                           dq.data(), dk.data(), dv.data(), threads);
    nn::linear_backward(lin(p.wq, p.bq, d), A.qin.data(), dq.data(), T, gp.wq, gp.bq, dqin.data(), true, threads);
    nn::linear_backward(lin(p.wk, p.bk, d), xin, dk.data(), T, gp.wk, gp.bk, dx.data(), false, threads);
    nn::linear_backward(lin(p.wv, p.bv, d), xin, dv.data(), T, gp.wv, gp.bv, dx.data(), true, threads);
    // q_in = LN1(x)
    nn::layer_norm_backward(xin, dqin.data(), T, d, p.ln1_g, A.ln1_mean.data(), A.ln1_rstd.data(), dx.data(), gp.ln1_g, gp.ln1_b, threads);
  }
  // x0 = dropout(E[item] * sqrt(d) + P[position]); rows added in order, so sums are reproducible.
  apply_dropout(dx.data(), td, drop, site_key(drop, 0, kEmbedding), threads);
  const float emb_scale = std::sqrt(float(d));
  std::fill(g.pos_emb, g.pos_emb + size_t(s.max_len) * d, 0.f);
  for (size_t r = 0; r < T; ++r) {
    float* ge = g.item_emb + size_t(b.items[r]) * d;
    float* gpos = g.pos_emb + size_t(b.positions[r]) * d;
    const float* dr = dx.data() + r * d;
    for (size_t j = 0; j < d; ++j) {
      ge[j] += dr[j] * emb_scale;
      gpos[j] += dr[j];
    }
  }
}

}  // namespace lmrec::srm
