#include "index/scoring.h"

#include <cmath>
#include <cstring>
#include <string>

#include "quant/int8.h"
#include "util/error.h"

namespace lmrec {

double squared_norm(const float* v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double(v[i]) * v[i];
  return s;
}

float dot(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

float squared_distance(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

void check_finite(const float* v, size_t n, size_t dim, const char* what) {
  for (size_t i = 0; i < n; ++i) {
    // One pass: a NaN or infinity makes the squared norm NaN or infinite. Four sums break the
    // dependency chain (the order does not matter against a bound this coarse).
    const float* x = v + i * dim;
    double s[4] = {0, 0, 0, 0};
    size_t d = 0;
    for (; d + 4 <= dim; d += 4)
      for (size_t j = 0; j < 4; ++j) s[j] += double(x[d + j]) * x[d + j];
    for (; d < dim; ++d) s[0] += double(x[d]) * x[d];
    if ((s[0] + s[1]) + (s[2] + s[3]) <= 1e36) continue;
    for (d = 0; d < dim; ++d)
      if (!std::isfinite(x[d]))
        throw Error(ErrorCode::NonFinite, std::string(what) + " " + std::to_string(i) +
                                              " has a NaN or infinite value at dimension " + std::to_string(d));
    throw Error(ErrorCode::NonFinite, std::string(what) + " " + std::to_string(i) +
                                          " is too large: its norm exceeds 1e18, where float32 scores overflow");
  }
}

void unit_or_copy(const float* v, size_t dim, bool normalize, float* out, const char* what, size_t which) {
  if (!normalize) {
    std::memcpy(out, v, dim * sizeof(float));
    return;
  }
  const double norm = std::sqrt(squared_norm(v, dim));
  if (norm == 0)
    throw Error(ErrorCode::InvalidArgument, std::string(what) + " " + std::to_string(which) +
                                                " is all zeros: cosine similarity needs a non-zero vector");
  for (size_t d = 0; d < dim; ++d) out[d] = float(v[d] / norm);
}

void check_unique(const uint64_t* ids, size_t n) {
  std::vector<uint64_t> sorted(ids, ids + n);
  std::sort(sorted.begin(), sorted.end());
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup != sorted.end())
    throw Error(ErrorCode::DuplicateId, "id " + std::to_string(*dup) + " appears twice in one call");
}

void validate_search(const IndexOptions& o, size_t count, const float* queries, size_t nq, const SearchParams& p) {
  if (count == 0) throw Error(ErrorCode::EmptyIndex, "the index is empty: add vectors before searching");
  if (nq == 0) throw Error(ErrorCode::InvalidArgument, "no queries given");
  if (p.k == 0) throw Error(ErrorCode::InvalidK, "k must be at least 1");
  if (p.rescore && !o.keep_originals)
    throw Error(ErrorCode::NoOriginals, "rescoring needs the fp32 originals: create the index with keepOriginals: true");
  if (p.rescore > 1024) throw Error(ErrorCode::InvalidArgument, "rescore factor must be at most 1024");
  if (!(p.recall >= 0 && p.recall <= 1)) throw Error(ErrorCode::InvalidArgument, "recall must be between 0 and 1");
  check_finite(queries, nq, o.dim, "query");
}

EncodedVectors encode_vectors(const IndexOptions& o, const float* vectors, size_t n) {
  const size_t dim = o.dim;
  const bool int8 = o.storage == simd::Storage::Int8;
  const bool need_units = !int8 || o.keep_originals;
  EncodedVectors e;
  e.units.resize(need_units ? n * dim : 0);
  e.codes.resize(int8 ? n * dim : 0);
  e.scales.resize(int8 ? n : 0);
  e.bias.resize(o.metric == Metric::L2 ? n : 0);
  std::vector<float> unit(dim);
  for (size_t i = 0; i < n; ++i) {
    float* u = need_units ? e.units.data() + i * dim : unit.data();
    unit_or_copy(vectors + i * dim, dim, o.metric == Metric::Cosine, u, "vector", i);
    if (int8) e.scales[i] = quant::quantize_int8(u, dim, e.codes.data() + i * dim);
    if (o.metric == Metric::L2) e.bias[i] = float(-0.5 * squared_norm(vectors + i * dim, dim));
  }
  return e;
}

void prepare_queries(const IndexOptions& o, const float* queries, size_t nq, PreparedQueries& out) {
  const size_t dim = o.dim, dp = simd::padded_dim(dim);
  const bool int8 = o.storage == simd::Storage::Int8;
  out.unit.resize(nq * dim);
  out.key_mul.assign(nq, 1.0f);
  out.inv_key_mul.assign(nq, 1.0f);
  out.key_scale.assign(nq, 1.0f);
  if (int8) {
    out.codes.assign(nq * dp, 0);
    out.acc_init.assign(nq, 0);
  } else {
    out.values.assign(nq * dp, 0.0f);
  }
  for (size_t i = 0; i < nq; ++i) {
    float* unit = out.unit.data() + i * dim;
    unit_or_copy(queries + i * dim, dim, o.metric == Metric::Cosine, unit, "query", i);
    if (int8) {
      int8_t* codes = out.codes.data() + i * dp;
      const float s = quant::quantize_int8(unit, dim, codes);
      const float eff = s > 0 ? s : 1.0f;  // an all-zero query: codes are 0, any scale works
      int32_t sum = 0;
      for (size_t d = 0; d < dim; ++d) sum += codes[d];
      out.acc_init[i] = -128 * sum;
      out.key_scale[i] = eff;
      out.key_mul[i] = eff;
      out.inv_key_mul[i] = 1.0f / eff;
    } else {
      std::memcpy(out.values.data() + i * dp, unit, dim * sizeof(float));
    }
  }
  out.block.nq = int(nq);
  out.block.dim_padded = dp;
  out.block.codes = int8 ? out.codes.data() : nullptr;
  out.block.acc_init = int8 ? out.acc_init.data() : nullptr;
  out.block.values = int8 ? nullptr : out.values.data();
  out.block.key_mul = out.key_mul.data();
  out.block.inv_key_mul = out.inv_key_mul.data();
}

simd::QueryBlock query_slice(const simd::QueryBlock& q, size_t first, size_t count) {
  simd::QueryBlock s = q;
  s.nq = int(count);
  if (q.codes) s.codes = q.codes + first * q.dim_padded;
  if (q.acc_init) s.acc_init = q.acc_init + first;
  if (q.values) s.values = q.values + first * q.dim_padded;
  s.key_mul = q.key_mul + first;
  s.inv_key_mul = q.inv_key_mul + first;
  return s;
}

}  // namespace lmrec
