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

#include "index/knn_index.h"
#include "index/topk.h"
#include "simd/kernels.h"
#include "util/buffer.h"
#include "util/file_io.h"

namespace lmrec {

class VectorIndex final : public KnnIndex {
 public:
  static constexpr int kFormatVersion = 1;

  explicit VectorIndex(const IndexOptions& options);

  void add(const uint64_t* ids, const float* vectors, size_t n) override;
  void remove(const uint64_t* ids, size_t n) override;
  bool has(uint64_t id) const override;
  size_t size() const override;
  size_t memory_bytes() const override;
  std::unique_ptr<KnnIndex> empty_copy() const override;
  size_t search(const float* queries, size_t nq, const SearchParams& params, uint64_t* out_ids,
                float* out_scores) const override;

  void save(const std::string& path) const override;
  // Reads a flat index file already opened (see load_index).
  static std::unique_ptr<VectorIndex> load(std::shared_ptr<FileBytes> file, const std::string& path,
                                           const LoadOptions& options);

 private:
  // A selective "only" filter: scores the admitted vectors directly from the fp32 originals
  // instead of scanning every code. Returns false (nothing written) when the scan is better.
  bool search_subset(const float* queries, size_t nq, const SearchParams& p, uint64_t* out_ids, float* out_scores,
                     size_t* per_query) const;
  struct Staged;
  Staged stage(size_t new_count) const;  // owned arrays with room for new_count (no lock held)
  void adopt_staged(Staged& staged);     // swaps them in (under the exclusive lock)
  simd::CodeView code_view() const;
  int search_threads() const;

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

}  // namespace lmrec
