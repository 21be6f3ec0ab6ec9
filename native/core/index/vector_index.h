// An exact k-nearest-neighbour index over compact codes (int8 with a per-vector scale, f16 or
// f32) in the block layout of simd/kernels.h. Searches scan every code with the best kernel
// for the CPU, a block of queries at a time, split across threads.
//
// Thread safety: searches run concurrently with each other. add/remove are serialised by a
// writer lock and prepare everything (codes, grown or un-mapped copies of the arrays) while
// searches go on; searches wait only while the new vectors are copied into place.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "index/topk.h"
#include "simd/kernels.h"
#include "util/buffer.h"
#include "util/file_io.h"

namespace lmrec {

enum class Metric : uint8_t { InnerProduct = 0, Cosine = 1, L2 = 2 };

struct IndexOptions {
  size_t dim = 0;
  Metric metric = Metric::InnerProduct;
  simd::Storage storage = simd::Storage::Int8;
  bool keep_originals = false;  // keep fp32 copies for exact re-scoring
  int threads = 0;              // threads per search; 0 = one per hardware thread
  const simd::Kernels* kernels = nullptr;  // null = the best this CPU runs
};

struct SearchParams {
  size_t k = 10;
  // 0 = rank by codes alone; r > 0 = take the top k*r by codes, re-rank them exactly in fp32.
  size_t rescore = 0;
  // Only ids the filter admits are returned (null: every id).
  const IdFilter* filter = nullptr;
};

struct LoadOptions {
  bool map = false;     // memory-map instead of reading into memory
  bool verify = true;   // check the checksum and that every stored value is finite and in range
  int threads = 0;
  const simd::Kernels* kernels = nullptr;
};

class VectorIndex {
 public:
  static constexpr size_t kMaxDim = 1 << 16;
  static constexpr size_t kMaxCount = (size_t(1) << 32) - 16;
  // ids + scores one call may return (nq x min(k, size) x 12 bytes), checked before allocating
  static constexpr size_t kMaxResultBytes = size_t(256) << 20;
  static constexpr int kFormatVersion = 1;

  explicit VectorIndex(const IndexOptions& options);

  // Adds n vectors (n x dim floats). All-or-nothing: on error nothing is added.
  void add(const uint64_t* ids, const float* vectors, size_t n);
  // Removes n ids. All-or-nothing: an unknown id removes nothing.
  void remove(const uint64_t* ids, size_t n);
  bool has(uint64_t id) const;
  size_t size() const;
  const IndexOptions& options() const { return options_; }
  size_t memory_bytes() const;

  // Results per query for a request of k: min(k, size()). Throws RequestTooLarge when nq
  // queries of that many results exceed kMaxResultBytes. Call before allocating the outputs.
  size_t result_count(size_t nq, size_t k) const;

  // nq queries (nq x dim floats) -> out_ids / out_scores, nq x r best first, where r =
  // min(params.k, admitted ids) <= params.k is returned (the size may have changed since the
  // caller sized the outputs with result_count; a filter may admit fewer ids). Scores are similarities for InnerProduct and Cosine
  // and squared distances for L2.
  size_t search(const float* queries, size_t nq, const SearchParams& params, uint64_t* out_ids,
                float* out_scores) const;

  void save(const std::string& path) const;
  static std::unique_ptr<VectorIndex> load(const std::string& path, const LoadOptions& options);

 private:
  struct PreparedQueries;
  void validate_search(const float* queries, size_t nq, const SearchParams& params) const;
  void prepare(const float* queries, size_t nq, PreparedQueries& out) const;
  void finish_query(const float* query, const PreparedQueries& prep, int qi,
                    const std::vector<std::pair<float, uint32_t>>& candidates, size_t expected,
                    const SearchParams& params, uint64_t* out_ids, float* out_scores) const;
  // A selective "only" filter: scores the admitted vectors directly from the fp32 originals
  // instead of scanning every code. Returns false (nothing written) when the scan is better.
  bool search_subset(const float* queries, size_t nq, const SearchParams& p, uint64_t* out_ids, float* out_scores,
                     size_t* per_query) const;
  struct Staged;
  Staged stage(size_t new_count) const;  // owned arrays with room for new_count (no lock held)
  void adopt_staged(Staged& staged);     // swaps them in (under the exclusive lock)
  simd::CodeView code_view() const;
  int search_threads() const;

  IndexOptions options_;
  size_t dim_padded_;
  size_t count_ = 0;
  Buffer<uint64_t> ids_;        // position -> id
  Buffer<float> scale_;         // per lane of every block (int8)
  Buffer<float> bias_;          // per lane of every block (l2): -|x|^2 / 2
  Buffer<uint8_t> blocks_;
  Buffer<float> originals_;     // count x dim (normalised for cosine)
  std::unordered_map<uint64_t, uint32_t> position_;
  std::shared_ptr<FileBytes> file_;  // backs the views of a loaded index
  mutable std::shared_mutex mu_;      // the arrays: searches share it; a writer holds it while copying into place
  mutable std::shared_mutex ids_mu_;  // position_ (has() shares it); taken after mu_ when both are
  std::mutex write_mu_;               // one add/remove at a time (position_ is read under it alone)
};

const char* metric_name(Metric m);
const char* storage_name(simd::Storage s);

}  // namespace lmrec
