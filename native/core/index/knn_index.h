// The interface every kNN index of lmrec offers (the flat exact VectorIndex and the
// partitioned IvfIndex), with the options and parameters they share. The addon holds a
// KnnIndex and never needs to know which kind it serves.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "index/topk.h"
#include "simd/kernels.h"

namespace lmrec {

enum class Metric : uint8_t { InnerProduct = 0, Cosine = 1, L2 = 2 };

struct IndexOptions {
  size_t dim = 0;
  Metric metric = Metric::InnerProduct;
  simd::Storage storage = simd::Storage::Int8;
  bool keep_originals = false;  // keep fp32 copies for exact re-scoring
  int threads = 0;              // threads per search; 0 = one per hardware thread
  const simd::Kernels* kernels = nullptr;  // null = the best this CPU runs
  // Partitioned (IVF) index: false = the flat exact scan. partitions 0 = chosen from the size
  // at training (about sqrt(n)); seed makes training reproducible.
  bool partitioned = false;
  size_t partitions = 0;
  uint64_t seed = 42;
};

struct SearchParams {
  size_t k = 10;
  // 0 = rank by codes alone; r > 0 = take the top k*r by codes, re-rank them exactly in fp32.
  size_t rescore = 0;
  // Only ids the filter admits are returned (null: every id).
  const IdFilter* filter = nullptr;
  // Partitioned indexes: partitions scanned per query (0 = chosen by `recall`).
  size_t probe = 0;
  // Partitioned indexes: the recall@10 the probe count is calibrated for (0 = the default).
  double recall = 0;
};

struct LoadOptions {
  bool map = false;     // memory-map instead of reading into memory
  bool verify = true;   // check the checksum and that every stored value is finite and in range
  int threads = 0;
  const simd::Kernels* kernels = nullptr;
};

class KnnIndex {
 public:
  static constexpr size_t kMaxDim = 1 << 16;
  static constexpr size_t kMaxCount = (size_t(1) << 32) - 16;
  // ids + scores one call may return (nq x min(k, size) x 12 bytes), checked before allocating
  static constexpr size_t kMaxResultBytes = size_t(256) << 20;

  virtual ~KnnIndex() = default;
  // Adds n vectors (n x dim floats). All-or-nothing: on error nothing is added.
  virtual void add(const uint64_t* ids, const float* vectors, size_t n) = 0;
  // Removes n ids. All-or-nothing: an unknown id removes nothing.
  virtual void remove(const uint64_t* ids, size_t n) = 0;
  virtual bool has(uint64_t id) const = 0;
  virtual size_t size() const = 0;
  const IndexOptions& options() const { return options_; }
  virtual size_t memory_bytes() const = 0;
  // Partitions in use (1 for a flat index or a partitioned one not trained yet).
  virtual size_t partitions() const { return 1; }
  // An empty index with these options; a partitioned one also keeps this one's partitions:
  // its first add assigns the vectors to them and calibrates, without running k-means (for
  // rebuilding over vectors that changed a little, e.g. a model's item embeddings after an
  // update). The rules that train again (doubling, lopsided partitions) apply after that.
  virtual std::unique_ptr<KnnIndex> empty_copy() const = 0;

  // Results per query for a request of k: min(k, size()). Throws RequestTooLarge when nq
  // queries of that many results exceed kMaxResultBytes. Call before allocating the outputs.
  size_t result_count(size_t nq, size_t k) const;

  // nq queries (nq x dim floats) -> out_ids / out_scores, nq x r best first, where r =
  // min(params.k, admitted ids) <= params.k is returned (the size may have changed since the
  // caller sized the outputs with result_count; a filter may admit fewer ids). Scores are
  // similarities for InnerProduct and Cosine and squared distances for L2.
  virtual size_t search(const float* queries, size_t nq, const SearchParams& params, uint64_t* out_ids,
                        float* out_scores) const = 0;

  virtual void save(const std::string& path) const = 0;

 protected:
  explicit KnnIndex(const IndexOptions& options);
  IndexOptions options_;
};

// Loads either kind of index, told apart by the file's magic.
std::unique_ptr<KnnIndex> load_index(const std::string& path, const LoadOptions& options);

const char* metric_name(Metric m);
const char* storage_name(simd::Storage s);

}  // namespace lmrec
