// Bounded per-query top-k (a min-heap of k keys per query). Kernels read thresholds() and
// call push() only for keys that beat them, which after the first few blocks is rare.
#pragma once
#include <cstdint>
#include <limits>
#include <unordered_set>
#include <vector>

#include "simd/kernels.h"

namespace lmrec {

// Which ids a search may return: every id but the given ones, or (only) just them. Applied as
// vectors are offered to the heaps, so a filtered search still returns the k best admitted
// ids, never fewer because the best were filtered away afterwards.
class IdFilter {
 public:
  IdFilter(const uint64_t* ids, size_t n, bool only);
  bool only() const { return only_; }
  const std::vector<uint64_t>& listed() const { return listed_; }
  bool admits(uint64_t id) const {
    const bool listed = dense_ ? (id < bits_.size() * 64 && (bits_[id >> 6] >> (id & 63) & 1)) : set_.count(id) != 0;
    return listed == only_;
  }

 private:
  bool only_, dense_;
  std::vector<uint64_t> listed_;      // the ids given (deduplicated), for small "only" lists
  std::vector<uint64_t> bits_;        // dense ids: one bit each
  std::unordered_set<uint64_t> set_;  // sparse ids
};

class TopKSet final : public simd::TopKSink {
 public:
  // With a filter, positions whose id (ids[position]) it does not admit are never kept.
  TopKSet(int queries, int k, const IdFilter* filter = nullptr, const uint64_t* ids = nullptr);
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
  const IdFilter* filter_;
  const uint64_t* ids_;
  std::vector<float> key_;
  std::vector<uint32_t> pos_;
  std::vector<int> size_;
  std::vector<float> threshold_;
};

}  // namespace lmrec
