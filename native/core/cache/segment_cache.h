// The segment cache of late interaction (M6-Rec): the hidden states a model's bottom layers
// give one segment (an item's text, a user profile) depend only on the model, the split layer
// and the segment's tokens, so one entry serves every user. Values are stored in fp16, or int8
// with a scale per token row; a byte budget is kept by evicting the least recently used
// entries. Thread-safe (one mutex; a lookup copies out, so no entry is read while evicted).
// Optional persistence: "LMRECSEG" files written atomically with a CRC, as every lmrec file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace lmrec::cache {

enum class Storage : uint8_t { F16 = 0, Int8 = 1, F32 = 2 };

struct CacheStats {
  uint64_t hits = 0, misses = 0, insertions = 0, evictions = 0;
  uint64_t rejected = 0;  // entries larger than the whole budget: not cached
  uint64_t entries = 0, bytes = 0, budget = 0;
};

class SegmentCache {
 public:
  static constexpr int kFormatVersion = 1;
  // budget_bytes >= 1 (InvalidArgument otherwise).
  SegmentCache(size_t budget_bytes, Storage storage);

  // Caches states [n x dim] of `tokens` (n tokens) under (model, layer). Returns false when one
  // entry would exceed the whole budget (counted as rejected). Replaces an existing entry.
  bool put(uint64_t model, uint32_t layer, const int32_t* tokens, size_t n, const float* states, size_t dim);
  // Decodes the entry into out [n x dim]; false (a miss) when there is none of that width.
  bool get(uint64_t model, uint32_t layer, const int32_t* tokens, size_t n, size_t dim, float* out);
  // Drops every entry of other models (a swapped model invalidates the cache).
  void keep_only(uint64_t model);
  void clear();
  CacheStats stats() const;
  Storage storage() const { return storage_; }

  void save(const std::string& path) const;
  // Entries that fit `budget_bytes` are kept, most recently used first.
  static std::unique_ptr<SegmentCache> load(const std::string& path, size_t budget_bytes);

  // Bytes one entry of n tokens and width dim takes against the budget.
  static size_t entry_bytes(size_t n, size_t dim, Storage storage);

 private:
  struct Entry {
    uint64_t model, hash;
    uint32_t layer, dim;
    std::vector<int32_t> tokens;
    std::vector<uint8_t> data;  // f16 or f32 [n x dim], or int8 [n x dim] then f32 scales [n]
  };
  using List = std::list<Entry>;
  static uint64_t key_hash(uint64_t model, uint32_t layer, const int32_t* tokens, size_t n);
  List::iterator find(uint64_t hash, uint64_t model, uint32_t layer, const int32_t* tokens, size_t n);
  void erase(List::iterator it);
  void insert(Entry&& e);  // caller holds mu_; evicts to fit

  size_t budget_;
  Storage storage_;
  mutable std::mutex mu_;
  List lru_;  // most recent first
  std::unordered_multimap<uint64_t, List::iterator> index_;
  CacheStats stats_;
};

// FNV-1a of a string: the model id the TypeScript side names a model by.
uint64_t model_id(const std::string& name);

}  // namespace lmrec::cache
