// k-means for the partitioned index: Lloyd iterations on a sample, the assignment step run
// as a batched int8 nearest-centroid search (the index's own scan kernels). Seeded and
// deterministic: the same input, options and seed give the same centroids on any thread count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "simd/kernels.h"

namespace lmrec {

struct KMeansOptions {
  size_t k = 0;
  // Cosine data: points are unit vectors, centroids are renormalised each step (spherical).
  bool spherical = false;
  int max_iterations = 16;
  uint64_t seed = 42;
  int threads = 0;
  const simd::Kernels* kernels = nullptr;
};

// Centroids (k x dim) of n >= k points (n x dim), initialised from k distinct points.
std::vector<float> train_kmeans(const float* points, size_t n, size_t dim, const KMeansOptions& o);

// The nearest of k centroids (k x dim) to each of n points: least squared distance, or for
// spherical data the largest inner product (the same order on unit vectors).
std::vector<uint32_t> assign_to_centroids(const float* centroids, size_t k, const float* points, size_t n, size_t dim,
                                          bool spherical, int threads, const simd::Kernels* kernels);

// A small seeded generator (splitmix64): the same sequence on every platform and library.
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return size_t(next() % n); }

 private:
  uint64_t state_;
};

// m distinct indexes of [0, n), in increasing order (a partial Fisher-Yates shuffle).
std::vector<size_t> sample_indexes(size_t n, size_t m, uint64_t seed);

}  // namespace lmrec
