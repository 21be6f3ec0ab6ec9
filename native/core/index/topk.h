// Bounded per-query top-k (a min-heap of k keys per query). Kernels read thresholds() and
// call push() only for keys that beat them, which after the first few blocks is rare.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "simd/kernels.h"

namespace lmrec {

class TopKSet final : public simd::TopKSink {
 public:
  TopKSet(int queries, int k);
  const float* thresholds() const override { return threshold_.data(); }
  // Keeps the key if it beats the query's current k-th best (the threshold may have risen
  // since the caller compared against it).
  void push(int query, float key, uint32_t position) override;
  void merge_from(const TopKSet& other);
  // Entries of one query, best first (ties by lower position).
  void sorted(int query, std::vector<std::pair<float, uint32_t>>& out) const;
  int k() const { return k_; }

 private:
  int k_;
  std::vector<float> key_;
  std::vector<uint32_t> pos_;
  std::vector<int> size_;
  std::vector<float> threshold_;
};

}  // namespace lmrec
