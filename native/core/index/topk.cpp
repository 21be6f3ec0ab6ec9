#include "index/topk.h"

#include <algorithm>

namespace lmrec {

IdFilter::IdFilter(const uint64_t* ids, size_t n, bool only) : only_(only), listed_(ids, ids + n) {
  std::sort(listed_.begin(), listed_.end());
  listed_.erase(std::unique(listed_.begin(), listed_.end()), listed_.end());
  uint64_t max_id = 0;
  for (size_t i = 0; i < n; ++i) max_id = std::max(max_id, ids[i]);
  // A bitset while it stays small next to the list (at most 64 bits an id, or 128 KiB)
  dense_ = n == 0 || max_id < std::max<uint64_t>(uint64_t(1) << 20, uint64_t(n) * 64);
  if (dense_) {
    bits_.assign(n ? size_t(max_id / 64 + 1) : 0, 0);
    for (size_t i = 0; i < n; ++i) bits_[ids[i] >> 6] |= uint64_t(1) << (ids[i] & 63);
  } else {
    set_.insert(ids, ids + n);
  }
}

TopKSet::TopKSet(int queries, int k, const IdFilter* filter, const uint64_t* ids)
    : k_(k),
      filter_(filter),
      ids_(ids),
      key_(size_t(queries) * k),
      pos_(size_t(queries) * k),
      size_(queries, 0),
      threshold_(queries, -std::numeric_limits<float>::infinity()) {}

void TopKSet::push(int query, float key, uint32_t position) {
  float* keys = key_.data() + size_t(query) * k_;
  uint32_t* pos = pos_.data() + size_t(query) * k_;
  int& n = size_[query];
  if (filter_ && !filter_->admits(ids_[position])) return;
  // Kernels test a whole vector of keys against the threshold before pushing its survivors,
  // so a key may have fallen behind an earlier push of the same batch.
  if (n == k_ && !(key > keys[0])) return;
  if (n < k_) {  // sift up
    int i = n++;
    while (i > 0) {
      const int parent = (i - 1) / 2;
      if (keys[parent] <= key) break;
      keys[i] = keys[parent];
      pos[i] = pos[parent];
      i = parent;
    }
    keys[i] = key;
    pos[i] = position;
  } else {  // replace the minimum, sift down
    int i = 0;
    for (;;) {
      int child = 2 * i + 1;
      if (child >= k_) break;
      if (child + 1 < k_ && keys[child + 1] < keys[child]) ++child;
      if (keys[child] >= key) break;
      keys[i] = keys[child];
      pos[i] = pos[child];
      i = child;
    }
    keys[i] = key;
    pos[i] = position;
  }
  if (n == k_) threshold_[query] = keys[0];
}

void TopKSet::merge_from(const TopKSet& other) {
  for (size_t q = 0; q < size_.size(); ++q) {
    const float* keys = other.key_.data() + q * k_;
    const uint32_t* pos = other.pos_.data() + q * k_;
    for (int i = 0; i < other.size_[q]; ++i)
      if (keys[i] > threshold_[q]) push(int(q), keys[i], pos[i]);
  }
}

void TopKSet::sorted(int query, std::vector<std::pair<float, uint32_t>>& out) const {
  const float* keys = key_.data() + size_t(query) * k_;
  const uint32_t* pos = pos_.data() + size_t(query) * k_;
  out.clear();
  for (int i = 0; i < size_[query]; ++i) out.emplace_back(keys[i], pos[i]);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
}

}  // namespace lmrec
