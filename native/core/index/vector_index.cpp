#include "index/vector_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "index/block_layout.h"
#include "index/scoring.h"
#include "index/topk.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace lmrec {
namespace {

using simd::kLanes;
using simd::Storage;

constexpr size_t kQueryChunk = 1024;             // queries scanned together (they stay in L2)
constexpr size_t kHeapBudgetBytes = size_t(256) << 20;  // top-k heaps of one chunk, all threads
constexpr size_t kMinBlocksPerThread = 64;       // below this a thread costs more than it saves
constexpr size_t kBlockAlign = 4;                // thread ranges in multiples of a kernel tile
constexpr size_t kQueriesPerThread = 24;         // below this, threads split codes, not queries

size_t blocks_for(size_t n) { return (n + kLanes - 1) / kLanes; }

}  // namespace

VectorIndex::VectorIndex(const IndexOptions& options)
    : KnnIndex(options), dim_padded_(simd::padded_dim(options.dim)) {
  if (options.partitioned) throw Error(ErrorCode::Internal, "a partitioned index is an IvfIndex");
}

size_t VectorIndex::size() const {
  std::shared_lock lock(mu_);
  return count_;
}

bool VectorIndex::has(uint64_t id) const {
  std::shared_lock lock(ids_mu_);
  return position_.count(id) != 0;
}

size_t VectorIndex::memory_bytes() const {
  std::shared_lock lock(mu_);
  std::shared_lock ids(ids_mu_);
  const size_t map_entry = sizeof(uint64_t) + sizeof(uint32_t) + 2 * sizeof(void*);
  return ids_.owned_bytes() + scale_.owned_bytes() + bias_.owned_bytes() + blocks_.owned_bytes() +
         originals_.owned_bytes() + position_.size() * map_entry +
         position_.bucket_count() * sizeof(void*) + (file_ && !file_->mapped() ? file_->size() : 0);
}

std::unique_ptr<KnnIndex> VectorIndex::empty_copy() const { return std::make_unique<VectorIndex>(options_); }

namespace {

// An owned copy of `b` with room for `need` elements when `b` views a mapped file or is too
// small; empty (capacity 0) when `b` can be changed in place. Built outside the reader lock,
// so searches keep scanning the old arrays while it is copied.
template <class T>
Buffer<T> staged(const Buffer<T>& b, size_t need) {
  if (!b.is_view() && need <= b.capacity()) return Buffer<T>();
  return b.copy_with_capacity(std::max(need, b.capacity() * 3 / 2));
}

template <class T>
void adopt(Buffer<T>& b, Buffer<T>& copy) {
  if (copy.capacity()) b = std::move(copy);
}

}  // namespace

struct VectorIndex::Staged {
  Buffer<uint64_t> ids;
  Buffer<float> scale, bias, originals;
  Buffer<uint8_t> blocks;
};

VectorIndex::Staged VectorIndex::stage(size_t new_count) const {
  const size_t nb = blocks_for(new_count);
  Staged st;
  st.ids = staged(ids_, new_count);
  st.blocks = staged(blocks_, nb * simd::block_bytes(options_.storage, dim_padded_));
  if (options_.storage == Storage::Int8) st.scale = staged(scale_, nb * kLanes);
  if (options_.metric == Metric::L2) st.bias = staged(bias_, nb * kLanes);
  if (options_.keep_originals) st.originals = staged(originals_, new_count * options_.dim);
  return st;
}

void VectorIndex::adopt_staged(Staged& st) {
  adopt(ids_, st.ids);
  adopt(blocks_, st.blocks);
  adopt(scale_, st.scale);
  adopt(bias_, st.bias);
  adopt(originals_, st.originals);
  file_.reset();  // every array that viewed the file is an owned copy now
}

void VectorIndex::add(const uint64_t* ids, const float* vectors, size_t n) {
  if (n == 0) return;
  const size_t dim = options_.dim;
  const Storage st = options_.storage;
  check_finite(vectors, n, dim, "vector");
  check_unique(ids, n);
  // Codes are computed before any lock is taken: only the copy into place blocks searches.
  const EncodedVectors e = encode_vectors(options_, vectors, n);
  const bool need_units = !e.units.empty();

  std::lock_guard writer(write_mu_);
  if (count_ + n > kMaxCount)
    throw Error(ErrorCode::RequestTooLarge, "an index holds at most " + std::to_string(kMaxCount) + " vectors");
  for (size_t i = 0; i < n; ++i)
    if (position_.count(ids[i]))
      throw Error(ErrorCode::DuplicateId, "id " + std::to_string(ids[i]) +
                                              " is already in the index (remove it first to replace it)");
  const size_t new_count = count_ + n;
  Staged staged_arrays = stage(new_count);
  // Geometric, so adding a few vectors at a time does not rehash every id each call; the
  // rehash holds back has(), not searches (which never read the map).
  if (new_count > position_.bucket_count() * position_.max_load_factor()) {
    std::unique_lock ids(ids_mu_);
    position_.reserve(std::max(new_count, position_.size() * 2));
  }

  std::unique_lock lock(mu_);
  std::unique_lock ids_lock(ids_mu_);
  adopt_staged(staged_arrays);
  const size_t bb = simd::block_bytes(st, dim_padded_);
  const size_t nb = blocks_for(new_count);
  blocks_.resize(nb * bb, st == Storage::Int8 ? uint8_t(128) : uint8_t(0));
  if (st == Storage::Int8) scale_.resize(nb * kLanes, 0.0f);
  if (options_.metric == Metric::L2) bias_.resize(nb * kLanes, 0.0f);
  ids_.resize(new_count);
  if (options_.keep_originals) originals_.resize(new_count * dim);
  for (size_t i = 0; i < n; ++i) {
    const size_t pos = count_ + i;
    const float* u = need_units ? e.units.data() + i * dim : nullptr;
    uint8_t* block = blocks_.mutable_data() + (pos / kLanes) * bb;
    if (st == Storage::Int8) scale_.mutable_data()[pos] = e.scales[i];
    layout::write_lane(st, block, dim_padded_, int(pos % kLanes), dim, st == Storage::Int8 ? e.codes.data() + i * dim : nullptr, u);
    if (options_.metric == Metric::L2) bias_.mutable_data()[pos] = e.bias[i];
    if (options_.keep_originals) std::memcpy(originals_.mutable_data() + pos * dim, u, dim * 4);
    ids_.mutable_data()[pos] = ids[i];
    position_.emplace(ids[i], uint32_t(pos));
  }
  count_ = new_count;
}

void VectorIndex::remove(const uint64_t* ids, size_t n) {
  if (n == 0) return;
  check_unique(ids, n);
  std::lock_guard writer(write_mu_);
  for (size_t i = 0; i < n; ++i)
    if (!position_.count(ids[i]))
      throw Error(ErrorCode::UnknownId, "id " + std::to_string(ids[i]) + " is not in the index");
  Staged staged_arrays = stage(count_);

  std::unique_lock lock(mu_);
  std::unique_lock ids_lock(ids_mu_);
  adopt_staged(staged_arrays);

  // Fill each hole with the last vector, so the codes stay dense and scans need no tombstones.
  const Storage st = options_.storage;
  const size_t bb = simd::block_bytes(st, dim_padded_);
  const size_t dim = options_.dim;
  uint8_t* blocks = blocks_.mutable_data();
  for (size_t i = 0; i < n; ++i) {
    const auto it = position_.find(ids[i]);
    const size_t pos = it->second, last = count_ - 1;
    position_.erase(it);
    if (pos != last) {
      layout::copy_lane(st, blocks + (last / kLanes) * bb, int(last % kLanes), blocks + (pos / kLanes) * bb,
                        int(pos % kLanes), dim_padded_);
      if (st == Storage::Int8) scale_.mutable_data()[pos] = scale_.data()[last];
      if (options_.metric == Metric::L2) bias_.mutable_data()[pos] = bias_.data()[last];
      if (options_.keep_originals)
        std::memcpy(originals_.mutable_data() + pos * dim, originals_.data() + last * dim, dim * 4);
      const uint64_t moved = ids_.data()[last];
      ids_.mutable_data()[pos] = moved;
      position_[moved] = uint32_t(pos);
    }
    layout::clear_lane(st, blocks + (last / kLanes) * bb, int(last % kLanes), dim_padded_);
    if (st == Storage::Int8) scale_.mutable_data()[last] = 0;
    if (options_.metric == Metric::L2) bias_.mutable_data()[last] = 0;
    --count_;
  }
  const size_t nb = blocks_for(count_);
  blocks_.resize(nb * bb);
  if (st == Storage::Int8) scale_.resize(nb * kLanes);
  if (options_.metric == Metric::L2) bias_.resize(nb * kLanes);
  ids_.resize(count_);
  if (options_.keep_originals) originals_.resize(count_ * dim);
}

simd::CodeView VectorIndex::code_view() const {
  simd::CodeView v;
  v.storage = options_.storage;
  v.dim_padded = dim_padded_;
  v.blocks = blocks_.data();
  v.scale = options_.storage == Storage::Int8 ? scale_.data() : nullptr;
  v.bias = options_.metric == Metric::L2 ? bias_.data() : nullptr;
  v.count = count_;
  return v;
}

int VectorIndex::search_threads() const {
  const size_t want = options_.threads > 0 ? size_t(options_.threads) : size_t(hardware_threads());
  return int(std::max<size_t>(1, std::min(want, blocks_for(count_) / kMinBlocksPerThread)));
}

bool VectorIndex::search_subset(const float* queries, size_t nq, const SearchParams& p, uint64_t* out_ids,
                                float* out_scores, size_t* per_query) const {
  // worth it when the admitted vectors are few: reading their originals costs less than the scan
  constexpr size_t kSubsetShare = 16;
  if (!p.filter->only() || !options_.keep_originals || p.filter->listed().size() * kSubsetShare > count_) return false;
  std::vector<uint32_t> positions;
  {
    std::shared_lock ids_lock(ids_mu_);
    for (uint64_t id : p.filter->listed())
      if (auto it = position_.find(id); it != position_.end()) positions.push_back(it->second);
  }
  std::sort(positions.begin(), positions.end());
  const size_t dim = options_.dim, k = std::min(p.k, positions.size());
  const bool l2 = options_.metric == Metric::L2;
  std::vector<float> unit(dim);
  std::vector<std::pair<float, uint32_t>> scored(positions.size());
  for (size_t q = 0; q < nq; ++q) {
    unit_or_copy(queries + q * dim, dim, options_.metric == Metric::Cosine, unit.data(), "query", q);
    for (size_t i = 0; i < positions.size(); ++i) {
      const float* x = originals_.data() + size_t(positions[i]) * dim;
      scored[i] = {l2 ? -squared_distance(unit.data(), x, dim) : dot(unit.data(), x, dim), positions[i]};
    }
    std::partial_sort(scored.begin(), scored.begin() + ptrdiff_t(k), scored.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (size_t i = 0; i < k; ++i) {
      out_ids[q * k + i] = ids_.data()[scored[i].second];
      out_scores[q * k + i] = l2 ? -scored[i].first : scored[i].first;
    }
  }
  *per_query = k;
  return true;
}

size_t VectorIndex::search(const float* queries, size_t nq, const SearchParams& asked, uint64_t* out_ids,
                           float* out_scores) const {
  std::shared_lock lock(mu_);
  validate_search(options_, count_, queries, nq, asked);
  SearchParams p = asked;
  if (size_t r = 0; p.filter && search_subset(queries, nq, p, out_ids, out_scores, &r)) return r;
  size_t admitted = count_;
  if (p.filter) {
    admitted = 0;
    for (size_t i = 0; i < count_; ++i) admitted += p.filter->admits(ids_.data()[i]);
    if (admitted == 0) return 0;
  }
  p.k = std::min(p.k, admitted);
  const size_t dim = options_.dim;
  const size_t k_scan = p.rescore ? std::min(admitted, p.k * p.rescore) : p.k;
  const int threads = search_threads();
  const size_t chunk =
      std::clamp<size_t>(kHeapBudgetBytes / (k_scan * 8 * size_t(threads)), 1, kQueryChunk);
  const size_t nb = blocks_for(count_);

  const simd::CodeView view = code_view();
  const simd::ScanFn scan = options_.storage == Storage::Int8  ? options_.kernels->scan_int8
                            : options_.storage == Storage::F16 ? options_.kernels->scan_f16
                                                               : options_.kernels->scan_f32;
  // Work is split across threads by queries when each thread gets enough of them to fill its
  // kernel tiles: every thread then scans all codes for its own queries, with no merge and no
  // repeated warm-up of the top-k thresholds. Small batches split the codes instead.
  struct Part {
    size_t q0, qn, b0, b1;
  };
  PreparedQueries prep;
  std::vector<Part> parts(threads);
  std::vector<std::unique_ptr<TopKSet>> sets(threads);
  Candidates candidates;
  for (size_t c0 = 0; c0 < nq; c0 += chunk) {
    const size_t cn = std::min(chunk, nq - c0);
    const bool by_queries = cn >= size_t(threads) * kQueriesPerThread;
    for (int t = 0; t < threads; ++t) {
      if (by_queries) {
        const size_t per = (cn + threads - 1) / threads;
        parts[t] = {std::min(cn, per * t), std::min(cn, per * (t + 1)) - std::min(cn, per * t), 0, nb};
      } else {
        const size_t per = (nb + threads - 1) / threads;
        const size_t step = (per + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
        parts[t] = {0, cn, std::min(nb, step * t), std::min(nb, step * (t + 1))};
      }
    }
    prepare_queries(options_, queries + c0 * dim, cn, prep);
    ThreadPool::global().parallel_for(threads, threads, [&](int t) {
      const Part& part = parts[t];
      sets[t] = std::make_unique<TopKSet>(int(part.qn), int(k_scan), p.filter, ids_.data());
      if (part.qn) scan(query_slice(prep.block, part.q0, part.qn), view, part.b0, part.b1, *sets[t]);
    });
    if (!by_queries)
      for (int t = 1; t < threads; ++t) sets[0]->merge_from(*sets[t]);
    for (int t = 0; t < (by_queries ? threads : 1); ++t) {
      for (size_t i = 0; i < parts[t].qn; ++i) {
        const size_t qi = parts[t].q0 + i;  // within the chunk
        sets[t]->sorted(int(i), candidates);
        // Every vector is offered to the heaps and add() admits only finite values, so they
        // fill. Short of that, the codes hold NaNs, which only a damaged file loaded with
        // verify: false can bring (verified loads check every value).
        if (candidates.size() < k_scan)
          throw Error(ErrorCode::CorruptFile,
                      "the index holds non-finite values: its file is damaged (load it with verify: true to check)");
        write_results(
            options_, queries + (c0 + qi) * dim, prep, int(qi), candidates, p.k, p.rescore != 0,
            [&](uint32_t pos) { return ids_.data()[pos]; }, [&](uint32_t pos) { return originals_.data() + size_t(pos) * dim; },
            out_ids + (c0 + qi) * p.k, out_scores + (c0 + qi) * p.k);
      }
    }
  }
  return p.k;
}

}  // namespace lmrec
