#include "index/kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <unordered_map>

#include "index/vector_index.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace lmrec {

std::vector<size_t> sample_indexes(size_t n, size_t m, uint64_t seed) {
  m = std::min(m, n);
  SplitMix rng(seed);
  std::unordered_map<size_t, size_t> swapped;  // a sparse Fisher-Yates: only moved slots
  std::vector<size_t> out(m);
  for (size_t i = 0; i < m; ++i) {
    const size_t j = i + rng.below(n - i);
    const auto at = [&](size_t x) { auto it = swapped.find(x); return it == swapped.end() ? x : it->second; };
    const size_t vi = at(i), vj = at(j);
    out[i] = vj;
    swapped[j] = vi;
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint32_t> assign_to_centroids(const float* centroids, size_t k, const float* points, size_t n, size_t dim,
                                          bool spherical, int threads, const simd::Kernels* kernels) {
  IndexOptions o;
  o.dim = dim;
  o.metric = spherical ? Metric::InnerProduct : Metric::L2;
  o.storage = simd::Storage::Int8;
  o.threads = threads;
  o.kernels = kernels;
  VectorIndex index(o);
  std::vector<uint64_t> ids(k);
  std::iota(ids.begin(), ids.end(), uint64_t(0));
  index.add(ids.data(), centroids, k);
  std::vector<uint64_t> nearest(n);
  std::vector<float> scores(n);
  SearchParams p;
  p.k = 1;
  constexpr size_t kBatch = 1 << 16;  // bounds the search's scratch
  for (size_t i = 0; i < n; i += kBatch) {
    const size_t m = std::min(kBatch, n - i);
    index.search(points + i * dim, m, p, nearest.data() + i, scores.data() + i);
  }
  return std::vector<uint32_t>(nearest.begin(), nearest.end());
}

std::vector<float> train_kmeans(const float* x, size_t n, size_t dim, const KMeansOptions& o) {
  const size_t k = o.k;
  if (k == 0 || n < k) throw Error(ErrorCode::Internal, "k-means needs at least k points");
  std::vector<float> c(k * dim);
  const std::vector<size_t> init = sample_indexes(n, k, o.seed);
  for (size_t j = 0; j < k; ++j) std::memcpy(c.data() + j * dim, x + init[j] * dim, dim * sizeof(float));

  const int threads = std::max(1, o.threads > 0 ? o.threads : hardware_threads());
  const int parts = int(std::min<size_t>(size_t(threads), std::max<size_t>(1, n / 4096)));
  std::vector<uint32_t> previous;
  std::vector<double> sums(size_t(parts) * k * dim);
  std::vector<size_t> counts(size_t(parts) * k);
  for (int it = 0; it < o.max_iterations; ++it) {
    const std::vector<uint32_t> a = assign_to_centroids(c.data(), k, x, n, dim, o.spherical, threads, o.kernels);
    size_t moved = previous.empty() ? n : 0;
    if (!previous.empty())
      for (size_t i = 0; i < n; ++i) moved += a[i] != previous[i];
    // Fixed ranges summed in a fixed order: the result does not depend on scheduling.
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    ThreadPool::global().parallel_for(parts, parts, [&](int t) {
      const size_t i0 = n * size_t(t) / size_t(parts), i1 = n * size_t(t + 1) / size_t(parts);
      double* s = sums.data() + size_t(t) * k * dim;
      size_t* cnt = counts.data() + size_t(t) * k;
      for (size_t i = i0; i < i1; ++i) {
        const float* v = x + i * dim;
        double* sj = s + size_t(a[i]) * dim;
        for (size_t d = 0; d < dim; ++d) sj[d] += v[d];
        ++cnt[a[i]];
      }
    });
    std::vector<size_t> size(k, 0);
    for (size_t j = 0; j < k; ++j) {
      std::vector<double> total(dim, 0.0);
      for (int t = 0; t < parts; ++t) {
        size[j] += counts[size_t(t) * k + j];
        const double* s = sums.data() + (size_t(t) * k + j) * dim;
        for (size_t d = 0; d < dim; ++d) total[d] += s[d];
      }
      if (size[j] == 0) continue;
      double norm = 0;
      for (size_t d = 0; d < dim; ++d) norm += (total[d] / double(size[j])) * (total[d] / double(size[j]));
      const double div = o.spherical && norm > 0 ? std::sqrt(norm) * double(size[j]) : double(size[j]);
      for (size_t d = 0; d < dim; ++d) c[j * dim + d] = float(total[d] / div);
    }
    // An empty cluster takes half of the largest one: both become its centroid, nudged apart.
    for (size_t j = 0; j < k; ++j) {
      if (size[j] != 0) continue;
      const size_t big = size_t(std::max_element(size.begin(), size.end()) - size.begin());
      constexpr float kNudge = 1.0f / 1024;
      for (size_t d = 0; d < dim; ++d) {
        const float v = c[big * dim + d], sign = d % 2 ? 1.0f : -1.0f;
        c[j * dim + d] = v * (1 + sign * kNudge);
        c[big * dim + d] = v * (1 - sign * kNudge);
      }
      size[j] = size[big] / 2;
      size[big] -= size[j];
    }
    if (moved * 1000 <= n) break;  // fewer than 0.1% of the points changed cluster
    previous = a;
  }
  return c;
}

}  // namespace lmrec
