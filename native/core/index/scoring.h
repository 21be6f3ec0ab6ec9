// What the flat and the partitioned index share around the scan kernels: input checks,
// query preparation (normalising, int8 quantisation) and turning kernel keys into results,
// with an optional exact re-score from the fp32 originals.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "index/knn_index.h"
#include "simd/kernels.h"

namespace lmrec {

double squared_norm(const float* v, size_t n);
float dot(const float* a, const float* b, size_t n);
float squared_distance(const float* a, const float* b, size_t n);

// Throws NonFinite naming the first bad value; `what` is "vector" or "query". Norms are
// bounded too, so that no dot product or distance can overflow float32 in a scan.
void check_finite(const float* v, size_t n, size_t dim, const char* what);
// Copies v (normalised when `normalize`) into out; throws for a zero vector under cosine.
void unit_or_copy(const float* v, size_t dim, bool normalize, float* out, const char* what, size_t which);
// Throws DuplicateId when an id appears twice.
void check_unique(const uint64_t* ids, size_t n);
// The checks every search makes before it reads the index.
void validate_search(const IndexOptions& o, size_t count, const float* queries, size_t nq, const SearchParams& p);

// Vectors as an index stores them: normalised for cosine, int8 codes and scales for int8.
struct EncodedVectors {
  std::vector<float> units;   // n x dim (empty for int8 storage without originals)
  std::vector<int8_t> codes;  // n x dim (int8)
  std::vector<float> scales;  // n (int8)
  std::vector<float> bias;    // n (l2): -|x|^2 / 2
};
EncodedVectors encode_vectors(const IndexOptions& o, const float* vectors, size_t n);

struct PreparedQueries {
  simd::QueryBlock block;
  std::vector<int8_t> codes;
  std::vector<int32_t> acc_init;
  std::vector<float> values;     // float storages: padded queries
  std::vector<float> key_mul;    // l2: the query's scale, so keys come out as q.x - |x|^2/2
  std::vector<float> inv_key_mul;
  std::vector<float> key_scale;  // ip/cosine: kernel key * key_scale = q.x
  std::vector<float> unit;       // the queries as compared (normalised for cosine), nq x dim
};
void prepare_queries(const IndexOptions& o, const float* queries, size_t nq, PreparedQueries& out);

// The queries [first, first + count) of a prepared block.
simd::QueryBlock query_slice(const simd::QueryBlock& q, size_t first, size_t count);

using Candidates = std::vector<std::pair<float, uint32_t>>;  // (kernel key, position), best first

// Writes the k best of `candidates` for query qi: by kernel key, or re-scored exactly against
// original(position) when p.rescore. id(position) names a candidate.
template <class IdOf, class OriginalOf>
void write_results(const IndexOptions& o, const float* query, const PreparedQueries& prep, int qi,
                   const Candidates& candidates, size_t k, bool rescore, IdOf id, OriginalOf original,
                   uint64_t* out_ids, float* out_scores) {
  const size_t dim = o.dim;
  const bool l2 = o.metric == Metric::L2;
  if (!rescore) {
    const float q2 = l2 ? float(squared_norm(query, dim)) : 0.0f;
    for (size_t i = 0; i < k; ++i) {
      const float key = candidates[i].first;
      out_ids[i] = id(candidates[i].second);
      out_scores[i] = l2 ? std::max(0.0f, q2 - 2.0f * key) : key * prep.key_scale[qi];
    }
    return;
  }
  const float* unit = prep.unit.data() + size_t(qi) * dim;
  Candidates exact;
  exact.reserve(candidates.size());
  for (const auto& c : candidates) {
    const float* x = original(c.second);
    exact.emplace_back(l2 ? -squared_distance(unit, x, dim) : dot(unit, x, dim), c.second);
  }
  std::partial_sort(exact.begin(), exact.begin() + ptrdiff_t(k), exact.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t i = 0; i < k; ++i) {
    out_ids[i] = id(exact[i].second);
    out_scores[i] = l2 ? -exact[i].first : exact[i].first;
  }
}

}  // namespace lmrec
