#include "srm/item_codes.h"

#include <cmath>

#include "nn/gemm.h"
#include "nn/parallel.h"
#include "nn/random.h"

namespace lmrec::srm {

using nn::Mat;
using nn::T;

namespace {
void add_bias(float* x, const float* b, size_t n, size_t cols) {
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < cols; ++j) x[i * cols + j] += b[j];
}
void column_sums(const float* x, size_t n, size_t cols, float* out) {
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < cols; ++j) out[j] += x[i * cols + j];
}
}  // namespace

void encode_codes(const Shape& s, const ParamView& w, const float* features, size_t n, float noise, uint64_t noise_key,
                  CodeActivations& acts, int threads) {
  const size_t in = s.code_in, c = s.code_dim, h = s.code_hidden;
  acts.z.resize(n * c);
  const float* x = features;
  size_t x_cols = in;
  if (h) {
    acts.hidden.resize(n * h);
    nn::sgemm_parallel(n, h, in, 1.f, Mat{features, in}, Mat{w.code_w1, h}, 0.f, acts.hidden.data(), h, threads);
    add_bias(acts.hidden.data(), w.code_b1, n, h);
    for (float& v : acts.hidden) v = v > 0 ? v : 0.f;
    x = acts.hidden.data();
    x_cols = h;
  }
  const float* wo = h ? w.code_w2 : w.code_w1;
  const float* bo = h ? w.code_b2 : w.code_b1;
  nn::sgemm_parallel(n, c, x_cols, 1.f, Mat{x, x_cols}, Mat{wo, c}, 0.f, acts.z.data(), c, threads);
  add_bias(acts.z.data(), bo, n, c);
  for (float& v : acts.z) v = std::tanh(v);
  acts.codes = acts.z;
  if (noise > 0)
    for (size_t i = 0; i < acts.codes.size(); ++i) acts.codes[i] += noise * nn::normal(noise_key, i);
  if (s.code_int8)
    for (float& v : acts.codes) v = quantize_code(v);
}

void effective_embeddings(const Shape& s, const ParamView& w, const float* codes, const float* id_rows,
                          const uint8_t* id_mask, size_t n, float* out, int threads) {
  const size_t d = s.dim, c = s.code_dim;
  nn::sgemm_parallel(n, d, c, 1.f, Mat{codes, c}, Mat{w.code_proj, d}, 0.f, out, d, threads);
  if (!id_rows) return;
  for (size_t i = 0; i < n; ++i)
    if (id_mask[i])
      for (size_t j = 0; j < d; ++j) out[i * d + j] += id_rows[i * d + j];
}

void codes_backward(const Shape& s, const ParamView& w, const float* features, size_t n, const CodeActivations& acts,
                    const float* dE, const ParamView& g, int threads) {
  const size_t in = s.code_in, c = s.code_dim, h = s.code_hidden, d = s.dim;
  // dProj = codes^T dE; dcodes = dE Proj^T; straight through the noise and rounding; tanh'.
  nn::sgemm_parallel(c, d, n, 1.f, T(Mat{acts.codes.data(), c}), Mat{dE, d}, 1.f, g.code_proj, d, threads);
  std::vector<float> dz(n * c);
  nn::sgemm_parallel(n, c, d, 1.f, Mat{dE, d}, T(Mat{w.code_proj, d}), 0.f, dz.data(), c, threads);
  for (size_t i = 0; i < dz.size(); ++i) dz[i] *= 1.f - acts.z[i] * acts.z[i];
  const float* x = h ? acts.hidden.data() : features;
  const size_t x_cols = h ? h : in;
  float* gwo = h ? g.code_w2 : g.code_w1;
  float* gbo = h ? g.code_b2 : g.code_b1;
  nn::sgemm_parallel(x_cols, c, n, 1.f, T(Mat{x, x_cols}), Mat{dz.data(), c}, 1.f, gwo, c, threads);
  column_sums(dz.data(), n, c, gbo);
  if (!h) return;
  std::vector<float> dh(n * h);
  nn::sgemm_parallel(n, h, c, 1.f, Mat{dz.data(), c}, T(Mat{w.code_w2, c}), 0.f, dh.data(), h, threads);
  for (size_t i = 0; i < dh.size(); ++i)
    if (acts.hidden[i] <= 0) dh[i] = 0.f;
  nn::sgemm_parallel(in, h, n, 1.f, T(Mat{features, in}), Mat{dh.data(), h}, 1.f, g.code_w1, h, threads);
  column_sums(dh.data(), n, h, g.code_b1);
}

}  // namespace lmrec::srm
