#include "nn/attention.h"

#include <algorithm>
#include <cmath>

#include "nn/gemm.h"
#include "nn/random.h"
#include "nn/softmax.h"
#include "util/thread_pool.h"

namespace lmrec::nn {
namespace {

float keep_scale(const AttentionDropout& d, size_t index) {
  return uniform(d.key, index) < d.p ? 0.f : 1.f / (1.f - d.p);
}

// Runs fn(sequence, head) for every pair on the pool; each pair writes its own rows and columns.
template <class F>
void for_each_head(const PackedSequences& seqs, size_t heads, int threads, F&& fn) {
  const size_t n = seqs.count() * heads;
  ThreadPool::global().parallel_for(int(n), threads, [&](int i) { fn(size_t(i) / heads, size_t(i) % heads); });
}

// The first row (within the sequence starting at packed row row0) that row i sees.
size_t first_visible(const AttentionShape& sh, size_t row0, size_t i) {
  return sh.first ? std::min<size_t>(sh.first[row0 + i], i) : 0;
}

float* scratch(std::vector<float>& buf, size_t floats) {
  if (buf.size() < floats) buf.resize(floats);
  return buf.data();
}

}  // namespace

void PackedSequences::add(uint32_t n, size_t heads) {
  begin.push_back(uint32_t(rows));
  len.push_back(n);
  prob_offset.push_back(prob_floats);
  rows += n;
  prob_floats += heads * size_t(n) * n;
}

void PackedSequences::clear() {
  begin.clear();
  len.clear();
  prob_offset.clear();
  rows = prob_floats = 0;
}

void attention_forward(const float* q, const float* k, const float* v, const PackedSequences& seqs,
                       const AttentionShape& sh, const AttentionDropout& drop, float* probs, float* out,
                       int threads) {
  const size_t dh = sh.head_dim, qw = sh.q_width(), kw = sh.kv_width(), group = sh.heads / sh.kv_heads;
  const float scale = 1.f / std::sqrt(float(dh));
  for_each_head(seqs, sh.heads, threads, [&](size_t s, size_t h) {
    thread_local std::vector<float> buf;
    const size_t n = seqs.len[s], row0 = seqs.begin[s];
    const float* qs = q + row0 * qw + h * dh;
    const float* ks = k + row0 * kw + (h / group) * dh;
    const float* vs = v + row0 * kw + (h / group) * dh;
    float* p = probs ? probs + seqs.prob_offset[s] + h * n * n : scratch(buf, n * n);
    sgemm(n, n, dh, scale, Mat{qs, qw}, T(Mat{ks, kw}), 0.f, p, n);
    for (size_t i = 0; i < n; ++i) {
      float* row = p + i * n;
      const size_t lo = first_visible(sh, row0, i);
      std::fill(row, row + lo, 0.f);
      softmax_in_place(row + lo, i + 1 - lo);
      std::fill(row + i + 1, row + n, 0.f);
    }
    const float* used = p;
    if (drop.p > 0.f) {
      float* pd = probs ? scratch(buf, n * n) : p;
      const size_t base = seqs.prob_offset[s] + h * n * n;
      for (size_t e = 0; e < n * n; ++e) pd[e] = p[e] * keep_scale(drop, base + e);
      used = pd;
    }
    sgemm(n, dh, n, 1.f, Mat{used, n}, Mat{vs, kw}, 0.f, out + row0 * qw + h * dh, qw);
  });
}

void attention_last_rows(const float* q, const float* k, const float* v, const PackedSequences& seqs, size_t dim,
                         size_t heads, float* out, int threads) {
  const size_t dh = dim / heads;
  const float scale = 1.f / std::sqrt(float(dh));
  for_each_head(seqs, heads, threads, [&](size_t s, size_t h) {
    thread_local std::vector<float> buf;
    const size_t n = seqs.len[s], row0 = seqs.begin[s], col = h * dh;
    const float* qs = q + s * dim + col;
    float* p = scratch(buf, n);
    for (size_t j = 0; j < n; ++j) {
      const float* kj = k + (row0 + j) * dim + col;
      float dot = 0.f;
      for (size_t c = 0; c < dh; ++c) dot += qs[c] * kj[c];
      p[j] = dot * scale;
    }
    softmax_in_place(p, n);
    float* o = out + s * dim + col;
    std::fill(o, o + dh, 0.f);
    for (size_t j = 0; j < n; ++j) {
      const float* vj = v + (row0 + j) * dim + col;
      for (size_t c = 0; c < dh; ++c) o[c] += p[j] * vj[c];
    }
  });
}

void attention_backward(const float* q, const float* k, const float* v, const PackedSequences& seqs,
                        const AttentionShape& sh, const AttentionDropout& drop, const float* probs,
                        const float* dout, float* dq, float* dk, float* dv, int threads) {
  const size_t dh = sh.head_dim, qw = sh.q_width(), kw = sh.kv_width(), group = sh.heads / sh.kv_heads;
  const float scale = 1.f / std::sqrt(float(dh));
  // One task per (sequence, key/value head): the query heads sharing it add their dK and dV
  // contributions in head order, so the sums do not depend on scheduling.
  const size_t tasks = seqs.count() * sh.kv_heads;
  ThreadPool::global().parallel_for(int(tasks), threads, [&](int task) {
    thread_local std::vector<float> buf;
    const size_t s = size_t(task) / sh.kv_heads, kvh = size_t(task) % sh.kv_heads;
    const size_t n = seqs.len[s], row0 = seqs.begin[s];
    const float* ks = k + row0 * kw + kvh * dh;
    const float* vs = v + row0 * kw + kvh * dh;
    float* dks = dk + row0 * kw + kvh * dh;
    float* dvs = dv + row0 * kw + kvh * dh;
    float* ds = scratch(buf, 2 * n * n);
    float* pd = ds + n * n;
    for (size_t h = kvh * group; h < (kvh + 1) * group; ++h) {
      const float beta = h == kvh * group ? 0.f : 1.f;
      const size_t qcol = row0 * qw + h * dh;
      const size_t base = seqs.prob_offset[s] + h * n * n;
      const float* p = probs + base;
      // dP (into ds) = dO V^T; dV += P_dropped^T dO.
      sgemm(n, n, dh, 1.f, Mat{dout + qcol, qw}, T(Mat{vs, kw}), 0.f, ds, n);
      const float* used = p;
      if (drop.p > 0.f) {
        for (size_t e = 0; e < n * n; ++e) {
          const float keep = keep_scale(drop, base + e);
          pd[e] = p[e] * keep;
          ds[e] *= keep;  // now the gradient of the probabilities before dropout
        }
        used = pd;
      }
      sgemm(n, dh, n, 1.f, T(Mat{used, n}), Mat{dout + qcol, qw}, beta, dvs, kw);
      // Softmax backward: dS = P * (dP - rowsum(P * dP)); masked entries have P = 0.
      for (size_t i = 0; i < n; ++i) {
        float* row = ds + i * n;
        const float* pr = p + i * n;
        const size_t lo = first_visible(sh, row0, i);
        double dot = 0;
        for (size_t j = lo; j <= i; ++j) dot += double(pr[j]) * row[j];
        std::fill(row, row + lo, 0.f);
        for (size_t j = lo; j <= i; ++j) row[j] = pr[j] * (row[j] - float(dot));
        std::fill(row + i + 1, row + n, 0.f);
      }
      sgemm(n, dh, n, scale, Mat{ds, n}, Mat{ks, kw}, 0.f, dq + qcol, qw);
      sgemm(n, dh, n, scale, T(Mat{ds, n}), Mat{q + qcol, qw}, beta, dks, kw);
    }
  });
}

}  // namespace lmrec::nn
