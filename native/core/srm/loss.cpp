#include "srm/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "nn/gemm.h"
#include "nn/parallel.h"
#include "nn/random.h"
#include "nn/softmax.h"

namespace lmrec::srm {

using nn::Mat;

AliasSampler::AliasSampler(const std::vector<double>& weights) {
  const size_t n = weights.size();
  double total = 0;
  for (double w : weights) total += w;
  prob_.resize(n);
  accept_.assign(n, 1.f);
  alias_.resize(n);
  std::vector<double> scaled(n);
  std::vector<uint32_t> small, large;
  for (size_t i = 0; i < n; ++i) {
    prob_[i] = weights[i] / total;
    scaled[i] = prob_[i] * double(n);
    alias_[i] = uint32_t(i);
    (scaled[i] < 1.0 ? small : large).push_back(uint32_t(i));
  }
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back(), l = large.back();
    small.pop_back();
    accept_[s] = float(scaled[s]);
    alias_[s] = l;
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
}

uint32_t AliasSampler::draw(uint64_t bits) const {
  const uint32_t i = uint32_t((unsigned __int128)(bits >> 24) * prob_.size() >> 40);
  const float u = float(bits & 0xffffff) * 0x1p-24f;
  return u < accept_[i] ? i : alias_[i];
}

namespace {

// In place: a row of logits becomes softmax minus one-hot(target), scaled; returns its loss.
double softmax_grad_row(float* row, size_t n, size_t target, float scale) {
  const float logit = row[target];
  const double loss = nn::softmax_in_place(row, n, scale) - double(logit);
  row[target] -= scale;
  return loss;
}

double sum_in_order(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

double full_softmax_loss(const LossInput& in, size_t logits_bytes, std::vector<float>& dout, float* ditem,
                         int threads) {
  const size_t n = in.items, d = in.dim;
  const size_t block = std::max<size_t>(1, logits_bytes / (n * sizeof(float)));
  const float scale = 1.f / float(in.rows);
  std::vector<float> logits(std::min(block, in.rows) * n);
  std::vector<double> losses(in.rows);
  dout.resize(in.rows * d);
  for (size_t r0 = 0; r0 < in.rows; r0 += block) {
    const size_t m = std::min(block, in.rows - r0);
    const float* h = in.out + r0 * d;
    nn::sgemm_parallel(m, n, d, 1.f, Mat{h, d}, nn::T(Mat{in.item_emb, d}), 0.f, logits.data(), n, threads);
    nn::parallel_ranges(m, 16, threads, [&](size_t a, size_t b) {
      for (size_t r = a; r < b; ++r) {
        float* row = logits.data() + r * n;
        if (in.candidates)
          for (size_t i = 0; i < n; ++i)
            if (!in.candidates[i]) row[i] = -std::numeric_limits<float>::infinity();
        losses[r0 + r] = softmax_grad_row(row, n, size_t(in.targets[r0 + r]), scale);
      }
    });
    nn::sgemm_parallel(m, d, n, 1.f, Mat{logits.data(), n}, Mat{in.item_emb, d}, 0.f, dout.data() + r0 * d, d, threads);
    if (ditem) nn::sgemm_parallel(n, d, m, 1.f, nn::T(Mat{logits.data(), n}), Mat{h, d}, 1.f, ditem, d, threads);
  }
  return sum_in_order(losses) / double(in.rows);
}

double sampled_softmax_loss(const LossInput& in, const AliasSampler& sampler, uint32_t negatives, uint64_t key,
                            std::vector<float>& dout, float* ditem, int threads) {
  const size_t d = in.dim, S = negatives, R = in.rows;
  const float scale = 1.f / float(R);
  const double log_s = std::log(double(S));
  auto logq = [&](uint32_t item) { return float(log_s + std::log(sampler.probability(item))); };

  nn::Rng rng(key);
  std::vector<uint32_t> neg(S);
  std::vector<float> neg_emb(S * d), neg_logq(S);
  for (size_t j = 0; j < S; ++j) {
    neg[j] = sampler.draw(rng.next());
    std::copy_n(in.item_emb + size_t(neg[j]) * d, d, neg_emb.data() + j * d);
    neg_logq[j] = logq(neg[j]);
  }
  // Row r's logits: [positive, negatives...]; column 0 is the positive.
  std::vector<float> logits(R * (S + 1));
  std::vector<double> losses(R);
  nn::sgemm_parallel(R, S, d, 1.f, Mat{in.out, d}, nn::T(Mat{neg_emb.data(), d}), 0.f, logits.data() + 1, S + 1,
                     threads);
  nn::parallel_ranges(R, 16, threads, [&](size_t a, size_t b) {
    for (size_t r = a; r < b; ++r) {
      float* row = logits.data() + r * (S + 1);
      const uint32_t t = uint32_t(in.targets[r]);
      const float* e = in.item_emb + size_t(t) * d;
      const float* h = in.out + r * d;
      float pos = 0.f;
      for (size_t j = 0; j < d; ++j) pos += h[j] * e[j];
      row[0] = pos - logq(t);
      for (size_t j = 0; j < S; ++j)
        row[j + 1] = neg[j] == t ? -std::numeric_limits<float>::infinity() : row[j + 1] - neg_logq[j];
      losses[r] = softmax_grad_row(row, S + 1, 0, scale);
    }
  });
  // dout = g_pos * E[target] + G_neg · E_neg
  dout.resize(R * d);
  nn::sgemm_parallel(R, d, S, 1.f, Mat{logits.data() + 1, S + 1}, Mat{neg_emb.data(), d}, 0.f, dout.data(), d,
                     threads);
  std::vector<float> dneg(S * d);
  nn::sgemm_parallel(S, d, R, 1.f, nn::T(Mat{logits.data() + 1, S + 1}), Mat{in.out, d}, 0.f, dneg.data(), d,
                     threads);
  for (size_t r = 0; r < R; ++r) {
    const float gp = logits[r * (S + 1)];
    const uint32_t t = uint32_t(in.targets[r]);
    const float* e = in.item_emb + size_t(t) * d;
    const float* h = in.out + r * d;
    float* o = dout.data() + r * d;
    float* ge = ditem + size_t(t) * d;
    for (size_t j = 0; j < d; ++j) {
      o[j] += gp * e[j];
      ge[j] += gp * h[j];
    }
  }
  for (size_t j = 0; j < S; ++j) {
    float* ge = ditem + size_t(neg[j]) * d;
    for (size_t c = 0; c < d; ++c) ge[c] += dneg[j * d + c];
  }
  return sum_in_order(losses) / double(R);
}

}  // namespace lmrec::srm
