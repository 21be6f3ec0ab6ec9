#include "index/ivf_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "index/block_layout.h"
#include "index/ivf_layout.h"
#include "index/kmeans.h"
#include "index/topk.h"
#include "index/vector_index.h"
#include "quant/int8.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace lmrec {
namespace {

using simd::kLanes;
using simd::Storage;

constexpr size_t kQueryChunk = 1024;
constexpr size_t kHeapBudgetBytes = size_t(256) << 20;
constexpr size_t kMinWorkPerThread = 64;  // blocks x queries below which a thread costs more than it saves
constexpr size_t kSubsetShare = 16;       // an "only" filter admitting under 1/16 is scored directly

size_t blocks_for(size_t n) { return (n + kLanes - 1) / kLanes; }

// Offers one partition's vectors to the top-k of a subset of a batch's queries: positions
// become slots (the partition's first slot + position), the filter is applied here, and the
// codes' keys (of residuals from the centroid) get the query's key for the centroid added, so
// keys compare across partitions. The kernel sees the thresholds less that offset.
class PartitionSink final : public simd::TopKSink {
 public:
  PartitionSink(TopKSet& set, const uint32_t* queries, size_t nq, uint32_t base, const uint64_t* ids,
                const IdFilter* filter, const float* offset, std::vector<float>& thr)
      : set_(set), queries_(queries), base_(base), ids_(ids), filter_(filter), offset_(offset), thr_(thr) {
    thr_.resize(nq);
    for (size_t j = 0; j < nq; ++j) thr_[j] = set.thresholds()[queries[j]] - offset[j];
  }
  const float* thresholds() const override { return thr_.data(); }
  void push(int q, float key, uint32_t pos) override {
    if (filter_ && !filter_->admits(ids_[pos])) return;
    const int g = int(queries_[q]);
    set_.push(g, key + offset_[q], base_ + pos);
    thr_[q] = set_.thresholds()[g] - offset_[q];
  }

 private:
  TopKSet& set_;
  const uint32_t* queries_;
  uint32_t base_;
  const uint64_t* ids_;
  const IdFilter* filter_;
  const float* offset_;
  std::vector<float>& thr_;
};

// The rows `queries` of a prepared block, copied side by side so a kernel reads them as one block.
struct GatheredQueries {
  std::vector<int8_t> codes;
  std::vector<int32_t> acc_init;
  std::vector<float> values, key_mul, inv_key_mul;
  std::vector<float> thresholds, offsets;

  simd::QueryBlock gather(const simd::QueryBlock& q, const uint32_t* rows, size_t n) {
    const size_t dp = q.dim_padded;
    simd::QueryBlock g = q;
    g.nq = int(n);
    key_mul.resize(n);
    inv_key_mul.resize(n);
    if (q.codes) {
      codes.resize(n * dp);
      acc_init.resize(n);
      for (size_t j = 0; j < n; ++j) {
        std::memcpy(codes.data() + j * dp, q.codes + size_t(rows[j]) * dp, dp);
        acc_init[j] = q.acc_init[rows[j]];
      }
      g.codes = codes.data();
      g.acc_init = acc_init.data();
    } else {
      values.resize(n * dp);
      for (size_t j = 0; j < n; ++j) std::memcpy(values.data() + j * dp, q.values + size_t(rows[j]) * dp, dp * 4);
      g.values = values.data();
    }
    for (size_t j = 0; j < n; ++j) {
      key_mul[j] = q.key_mul[rows[j]];
      inv_key_mul[j] = q.inv_key_mul[rows[j]];
    }
    g.key_mul = key_mul.data();
    g.inv_key_mul = inv_key_mul.data();
    return g;
  }
};

simd::CodeView partition_view(const IvfIndex::Partition& P, Storage st, size_t dp, Metric metric) {
  simd::CodeView v;
  v.storage = st;
  v.dim_padded = dp;
  v.blocks = P.blocks.data();
  v.scale = st == Storage::Int8 ? P.scale.data() : nullptr;
  v.bias = metric == Metric::L2 ? P.bias.data() : nullptr;
  v.count = P.count;
  return v;
}

}  // namespace

IvfIndex::IvfIndex(const IndexOptions& options)
    : KnnIndex(options), dim_padded_(simd::padded_dim(options.dim)), layout_(std::make_shared<Layout>()) {
  if (options.partitions > kMaxPartitions)
    throw Error(ErrorCode::InvalidArgument, "partitions must be at most " + std::to_string(kMaxPartitions));
  layout_->parts.resize(1);
}

std::unique_ptr<KnnIndex> IvfIndex::empty_copy() const {
  auto copy = std::make_unique<IvfIndex>(options_);
  std::shared_lock lock(mu_);
  copy->given_centroids_ = layout_->trained() ? layout_->centroids : given_centroids_;
  return copy;
}

IvfIndex::~IvfIndex() = default;

size_t IvfIndex::size() const {
  std::shared_lock lock(mu_);
  return layout_->count;
}

size_t IvfIndex::partitions() const {
  std::shared_lock lock(mu_);
  return layout_->parts.size();
}

std::vector<CalibrationPoint> IvfIndex::calibration() const {
  std::shared_lock lock(mu_);
  return layout_->calibration;
}

size_t IvfIndex::probe_for(double recall) const {
  std::shared_lock lock(mu_);
  return layout_->probe_for(recall);
}

std::unique_ptr<VectorIndex> probe_index_for(const IndexOptions& o, const float* centroids, size_t nlist) {
  IndexOptions po;
  po.dim = o.dim;
  po.metric = o.metric == Metric::L2 ? Metric::L2 : Metric::InnerProduct;  // cosine centroids are unit vectors
  po.storage = simd::Storage::F32;
  po.threads = 1;
  po.kernels = o.kernels;
  auto index = std::make_unique<VectorIndex>(po);
  std::vector<uint64_t> pid(nlist);
  std::iota(pid.begin(), pid.end(), uint64_t(0));
  index->add(pid.data(), centroids, nlist);
  return index;
}

size_t IvfIndex::Layout::probe_for(double recall) const {
  for (const CalibrationPoint& c : calibration)
    if (c.recall >= recall) return c.probe;
  return parts.size();
}

size_t IvfIndex::memory_bytes() const {
  std::shared_lock lock(mu_);
  const Layout& L = *layout_;
  size_t bytes = L.centroids.size() * sizeof(float) + (L.probe_index ? L.probe_index->memory_bytes() : 0) +
                 L.parts.size() * sizeof(Partition);
  for (const Partition& P : L.parts)
    bytes += P.ids.owned_bytes() + P.scale.owned_bytes() + P.bias.owned_bytes() + P.blocks.owned_bytes() +
             P.originals.owned_bytes();
  if (file_ && !file_->mapped()) bytes += file_->size();
  return bytes;
}

bool IvfIndex::has(uint64_t id) const {
  std::shared_lock lock(mu_);
  for (const Partition& P : layout_->parts)
    for (size_t i = 0; i < P.count; ++i)
      if (P.ids.data()[i] == id) return true;
  return false;
}

bool IvfIndex::needs_training(const Layout& L, size_t new_count) const {
  if (!L.trained() && !given_centroids_.empty()) return new_count > 0;
  if (!L.trained()) return new_count >= (options_.partitions ? options_.partitions * kTrainPerPartition : kAutoTrainAt);
  if (new_count >= 2 * L.trained_count) return true;
  size_t largest = 0;
  for (const Partition& P : L.parts) largest = std::max(largest, P.count);
  return largest > kLopsided * std::max<size_t>(1, new_count / L.parts.size()) && largest > 4096;
}

IvfIndex::Residuals IvfIndex::encode(const Layout& L, const float* x, const uint32_t* part, size_t n) const {
  const size_t dim = options_.dim;
  const Storage st = options_.storage;
  Residuals e;
  e.codes.resize(st == Storage::Int8 ? n * dim : 0);
  e.scales.resize(st == Storage::Int8 ? n : 0);
  e.values.resize(st == Storage::Int8 ? 0 : n * dim);
  e.bias.resize(options_.metric == Metric::L2 ? n : 0);
  std::vector<float> r(dim);
  for (size_t i = 0; i < n; ++i) {
    const float* v = x + i * dim;
    const float* c = L.trained() ? L.centroids.data() + size_t(part[i]) * dim : nullptr;
    for (size_t d = 0; d < dim; ++d) r[d] = c ? v[d] - c[d] : v[d];
    if (st == Storage::Int8) e.scales[i] = quant::quantize_int8(r.data(), dim, e.codes.data() + i * dim);
    else std::memcpy(e.values.data() + i * dim, r.data(), dim * sizeof(float));
    if (options_.metric == Metric::L2) e.bias[i] = float(-0.5 * squared_norm(v, dim));
  }
  return e;
}

void IvfIndex::append(Layout& L, size_t part, const Residuals& e, size_t row, const float* original, uint64_t id) const {
  Partition& P = L.parts[part];
  const Storage st = options_.storage;
  const size_t dim = options_.dim, bb = simd::block_bytes(st, dim_padded_);
  const size_t pos = P.count, nb = blocks_for(pos + 1);
  P.blocks.resize(nb * bb, st == Storage::Int8 ? uint8_t(128) : uint8_t(0));
  if (st == Storage::Int8) P.scale.resize(nb * kLanes, 0.0f);
  if (options_.metric == Metric::L2) P.bias.resize(nb * kLanes, 0.0f);
  P.ids.resize(pos + 1);
  layout::write_lane(st, P.blocks.mutable_data() + (pos / kLanes) * bb, dim_padded_, int(pos % kLanes), dim,
                     st == Storage::Int8 ? e.codes.data() + row * dim : nullptr,
                     st == Storage::Int8 ? nullptr : e.values.data() + row * dim);
  if (st == Storage::Int8) P.scale.mutable_data()[pos] = e.scales[row];
  if (options_.metric == Metric::L2) P.bias.mutable_data()[pos] = e.bias[row];
  if (options_.keep_originals) {
    P.originals.resize((pos + 1) * dim);
    std::memcpy(P.originals.mutable_data() + pos * dim, original, dim * sizeof(float));
  }
  P.ids.mutable_data()[pos] = id;
  ++P.count;
}

void IvfIndex::gather_all(const Layout& L, std::vector<float>& vectors, std::vector<uint64_t>& ids) const {
  const size_t dim = options_.dim, bb = simd::block_bytes(options_.storage, dim_padded_);
  vectors.resize(L.count * dim);
  ids.resize(L.count);
  size_t at = 0;
  for (const Partition& P : L.parts) {
    for (size_t i = 0; i < P.count; ++i, ++at) {
      float* out = vectors.data() + at * dim;
      ids[at] = P.ids.data()[i];
      if (options_.keep_originals) {
        std::memcpy(out, P.originals.data() + i * dim, dim * sizeof(float));
        continue;
      }
      layout::read_lane(options_.storage, P.blocks.data() + (i / kLanes) * bb, dim_padded_, int(i % kLanes), dim, out);
      if (options_.storage == Storage::Int8)
        for (size_t d = 0; d < dim; ++d) out[d] *= P.scale.data()[i];
      if (L.trained())  // codes hold the residual from the partition's centroid
        for (size_t d = 0; d < dim; ++d) out[d] += L.centroids[(&P - L.parts.data()) * dim + d];
    }
  }
}

std::shared_ptr<IvfIndex::Layout> IvfIndex::train(const float* vectors, const uint64_t* ids, size_t n) const {
  const size_t dim = options_.dim;
  const bool spherical = options_.metric == Metric::Cosine;
  auto L = std::make_shared<Layout>();
  if (!given_centroids_.empty()) {
    L->centroids = given_centroids_;  // an empty_copy's first add: its source's partitions
  } else {
    // k-means on a seeded sample
    const size_t want = options_.partitions ? options_.partitions
                                            : std::min(kMaxPartitions, size_t(std::lround(std::sqrt(double(n)))));
    const size_t k = std::max<size_t>(1, std::min(n, want));
    const std::vector<size_t> pick = sample_indexes(n, k * kSamplePerPartition, options_.seed);
    std::vector<float> sample(pick.size() * dim);
    for (size_t i = 0; i < pick.size(); ++i) std::memcpy(sample.data() + i * dim, vectors + pick[i] * dim, dim * 4);
    KMeansOptions ko;
    ko.k = k;
    ko.spherical = spherical;
    ko.seed = options_.seed;
    ko.threads = options_.threads;
    ko.kernels = options_.kernels;
    L->centroids = train_kmeans(sample.data(), pick.size(), dim, ko);
  }
  const size_t nlist = L->centroids.size() / dim;
  const std::vector<uint32_t> part =
      assign_to_centroids(L->centroids.data(), nlist, vectors, n, dim, spherical, options_.threads, options_.kernels);

  // every vector into its partition, each partition sized exactly
  L->parts.resize(nlist);
  std::vector<size_t> count(nlist, 0);
  for (uint32_t p : part) ++count[p];
  const Storage st = options_.storage;
  const size_t bb = simd::block_bytes(st, dim_padded_);
  for (size_t p = 0; p < nlist; ++p) {
    Partition& P = L->parts[p];
    const size_t nb = blocks_for(count[p]);
    P.blocks.reserve(nb * bb);
    if (st == Storage::Int8) P.scale.reserve(nb * kLanes);
    if (options_.metric == Metric::L2) P.bias.reserve(nb * kLanes);
    P.ids.reserve(count[p]);
    if (options_.keep_originals) P.originals.reserve(count[p] * dim);
  }
  constexpr size_t kEncodeBatch = 1 << 16;  // bounds the codes held at once
  for (size_t i0 = 0; i0 < n; i0 += kEncodeBatch) {
    const size_t m = std::min(kEncodeBatch, n - i0);
    const Residuals e = encode(*L, vectors + i0 * dim, part.data() + i0, m);
    for (size_t i = 0; i < m; ++i) append(*L, part[i0 + i], e, i, vectors + (i0 + i) * dim, ids[i0 + i]);
  }
  L->count = n;
  L->trained_count = n;

  L->probe_index = probe_index_for(options_, L->centroids.data(), nlist);
  calibrate(*L, vectors, ids, n);
  return L;
}

void IvfIndex::calibrate(Layout& L, const float* vectors, const uint64_t* ids, size_t n) const {
  const size_t nlist = L.parts.size(), dim = options_.dim;
  const std::vector<size_t> pick = sample_indexes(n, kCalibrationQueries, options_.seed ^ 0x5eedu);
  const size_t nq = pick.size();
  std::vector<float> q(nq * dim);
  for (size_t i = 0; i < nq; ++i) std::memcpy(q.data() + i * dim, vectors + pick[i] * dim, dim * 4);
  constexpr size_t kTop = 10;
  const size_t k = std::min(n, kTop + 1);  // the query itself is left out of both lists
  SearchParams p;
  p.k = k;
  p.probe = nlist;
  std::vector<uint64_t> truth(nq * k), found(nq * k);
  std::vector<float> scores(nq * k);
  search_layout(L, q.data(), nq, p, truth.data(), scores.data());
  auto top = [&](const uint64_t* row, uint64_t self) {
    std::vector<uint64_t> out;
    for (size_t j = 0; j < k && out.size() < kTop; ++j)
      if (row[j] != self) out.push_back(row[j]);
    return out;
  };
  std::vector<size_t> grid;
  for (size_t g = 1; g < nlist; g = g < 4 ? g + 1 : g + g / 2) grid.push_back(g);
  grid.push_back(nlist);
  L.calibration.clear();
  for (size_t g : grid) {
    p.probe = g;
    search_layout(L, q.data(), nq, p, found.data(), scores.data());
    size_t hit = 0, total = 0;
    for (size_t i = 0; i < nq; ++i) {
      const uint64_t self = ids[pick[i]];
      const std::vector<uint64_t> t = top(truth.data() + i * k, self), f = top(found.data() + i * k, self);
      total += t.size();
      for (uint64_t id : t) hit += std::find(f.begin(), f.end(), id) != f.end();
    }
    const float recall = total ? float(double(hit) / double(total)) : 1.0f;
    L.calibration.push_back({uint32_t(g), recall});
    if (recall >= 0.999f) break;
  }
}

namespace {

// Vectors as partitions are trained on: normalised for cosine (a zero vector throws, as add does).
std::vector<float> training_space(const IndexOptions& o, const float* vectors, size_t n) {
  std::vector<float> out(n * o.dim);
  for (size_t i = 0; i < n; ++i)
    unit_or_copy(vectors + i * o.dim, o.dim, o.metric == Metric::Cosine, out.data() + i * o.dim, "vector", i);
  return out;
}

}  // namespace

void IvfIndex::add(const uint64_t* ids, const float* vectors, size_t n) {
  if (n == 0) return;
  const size_t dim = options_.dim;
  check_finite(vectors, n, dim, "vector");
  check_unique(ids, n);
  const std::vector<float> x = training_space(options_, vectors, n);

  std::lock_guard writer(write_mu_);
  const Layout& L = *layout_;  // only writers change it, and this is the writer
  if (L.count + n > kMaxCount)
    throw Error(ErrorCode::RequestTooLarge, "an index holds at most " + std::to_string(kMaxCount) + " vectors");
  {
    const std::unordered_set<uint64_t> fresh(ids, ids + n);
    for (const Partition& P : L.parts)
      for (size_t i = 0; i < P.count; ++i)
        if (fresh.count(P.ids.data()[i]))
          throw Error(ErrorCode::DuplicateId, "id " + std::to_string(P.ids.data()[i]) +
                                                  " is already in the index (remove it first to replace it)");
  }
  if (needs_training(L, L.count + n)) {
    std::vector<float> all;
    std::vector<uint64_t> all_ids;
    gather_all(L, all, all_ids);
    // only a damaged file loaded with verify: false holds such values; k-means must not see them
    for (size_t i = 0; i < all_ids.size(); ++i)
      if (!(squared_norm(all.data() + i * dim, dim) <= 1e36))
        throw Error(ErrorCode::CorruptFile,
                    "the index holds non-finite values: its file is damaged (load it with verify: true to check)");
    all.insert(all.end(), x.begin(), x.end());
    all_ids.insert(all_ids.end(), ids, ids + n);
    std::shared_ptr<Layout> next = train(all.data(), all_ids.data(), all_ids.size());
    std::unique_lock lock(mu_);
    layout_ = std::move(next);
    given_centroids_ = {};
    file_.reset();  // nothing views the file any more
    return;
  }
  const std::vector<uint32_t> part =
      L.trained() ? assign_to_centroids(L.centroids.data(), L.parts.size(), x.data(), n, dim,
                                        options_.metric == Metric::Cosine, options_.threads, options_.kernels)
                  : std::vector<uint32_t>(n, 0);
  const Residuals e = encode(L, x.data(), part.data(), n);
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < n; ++i) append(*layout_, part[i], e, i, x.data() + i * dim, ids[i]);
  layout_->count += n;
}

void IvfIndex::remove(const uint64_t* ids, size_t n) {
  if (n == 0) return;
  check_unique(ids, n);
  std::lock_guard writer(write_mu_);
  Layout& L = *layout_;
  // where each id is: one pass over the ids (the index keeps no id map)
  std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> where;
  where.reserve(n);
  for (size_t i = 0; i < n; ++i) where.emplace(ids[i], std::make_pair(~0u, 0u));
  for (size_t p = 0; p < L.parts.size(); ++p)
    for (size_t i = 0; i < L.parts[p].count; ++i)
      if (auto it = where.find(L.parts[p].ids.data()[i]); it != where.end()) it->second = {uint32_t(p), uint32_t(i)};
  std::vector<std::pair<uint32_t, uint32_t>> at;
  at.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& w = where[ids[i]];
    if (w.first == ~0u) throw Error(ErrorCode::UnknownId, "id " + std::to_string(ids[i]) + " is not in the index");
    at.push_back(w);
  }
  // Within a partition, from the last position down: each hole takes the partition's last
  // vector, which is never one still to be removed.
  std::sort(at.begin(), at.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; });
  const Storage st = options_.storage;
  const size_t bb = simd::block_bytes(st, dim_padded_), dim = options_.dim;
  std::unique_lock lock(mu_);
  for (const auto& [p, pos] : at) {
    Partition& P = L.parts[p];
    const size_t last = P.count - 1;
    uint8_t* blocks = P.blocks.mutable_data();
    if (pos != last) {
      layout::copy_lane(st, blocks + (last / kLanes) * bb, int(last % kLanes), blocks + (pos / kLanes) * bb, int(pos % kLanes), dim_padded_);
      if (st == Storage::Int8) P.scale.mutable_data()[pos] = P.scale.data()[last];
      if (options_.metric == Metric::L2) P.bias.mutable_data()[pos] = P.bias.data()[last];
      if (options_.keep_originals) std::memcpy(P.originals.mutable_data() + pos * dim, P.originals.data() + last * dim, dim * 4);
      P.ids.mutable_data()[pos] = P.ids.data()[last];
    }
    layout::clear_lane(st, blocks + (last / kLanes) * bb, int(last % kLanes), dim_padded_);
    if (st == Storage::Int8) P.scale.mutable_data()[last] = 0;
    if (options_.metric == Metric::L2) P.bias.mutable_data()[last] = 0;
    P.count = last;
    const size_t nb = blocks_for(P.count);
    P.blocks.resize(nb * bb);
    if (st == Storage::Int8) P.scale.resize(nb * kLanes);
    if (options_.metric == Metric::L2) P.bias.resize(nb * kLanes);
    P.ids.resize(P.count);
    if (options_.keep_originals) P.originals.resize(P.count * dim);
    --L.count;
  }
}

size_t IvfIndex::search(const float* queries, size_t nq, const SearchParams& params, uint64_t* out_ids,
                        float* out_scores) const {
  std::shared_lock lock(mu_);
  return search_layout(*layout_, queries, nq, params, out_ids, out_scores);
}

size_t IvfIndex::search_layout(const Layout& L, const float* queries, size_t nq, const SearchParams& asked,
                               uint64_t* out_ids, float* out_scores) const {
  validate_search(options_, L.count, queries, nq, asked);
  SearchParams p = asked;
  const size_t nlist = L.parts.size(), dim = options_.dim, want = p.k * std::max<size_t>(1, p.rescore);
  // slots number the vectors across partitions for the heaps: partition p holds [base[p], base[p+1])
  std::vector<uint32_t> base(nlist + 1, 0);
  for (size_t i = 0; i < nlist; ++i) base[i + 1] = base[i] + uint32_t(L.parts[i].count);
  const auto part_of = [&](uint32_t slot) { return size_t(std::upper_bound(base.begin(), base.end(), slot) - base.begin()) - 1; };
  const auto id_of = [&](uint32_t slot) { const size_t q = part_of(slot); return L.parts[q].ids.data()[slot - base[q]]; };
  const auto original_of = [&](uint32_t slot) {
    const size_t q = part_of(slot);
    return L.parts[q].originals.data() + size_t(slot - base[q]) * dim;
  };

  // How many ids the filter admits: exactly, unless enough are surely left (an exclude list
  // shorter than the index by `want`), which spares a pass over every id.
  size_t admitted = L.count;
  std::vector<uint32_t> subset;  // the admitted slots, for a selective "only" filter
  if (p.filter && (p.filter->only() || L.count < p.filter->listed().size() + want)) {
    admitted = 0;
    for (size_t q = 0; q < nlist; ++q)
      for (size_t i = 0; i < L.parts[q].count; ++i)
        if (p.filter->admits(L.parts[q].ids.data()[i])) {
          ++admitted;
          if (p.filter->only()) subset.push_back(base[q] + uint32_t(i));
        }
    if (admitted == 0) return 0;
  } else if (p.filter) {
    admitted = L.count - p.filter->listed().size();
  }
  p.k = std::min(p.k, admitted);
  const size_t k_scan = p.rescore ? std::min(admitted, p.k * p.rescore) : p.k;

  PreparedQueries prep;
  Candidates candidates;
  // A selective "only" filter with originals kept: score the admitted vectors exactly.
  if (!subset.empty() && options_.keep_originals && subset.size() * kSubsetShare <= L.count) {
    prepare_queries(options_, queries, nq, prep);
    const bool l2 = options_.metric == Metric::L2;
    for (size_t qi = 0; qi < nq; ++qi) {
      const float* unit = prep.unit.data() + qi * dim;
      candidates.clear();
      for (uint32_t slot : subset)
        candidates.emplace_back(l2 ? -squared_distance(unit, original_of(slot), dim) : dot(unit, original_of(slot), dim), slot);
      std::partial_sort(candidates.begin(), candidates.begin() + ptrdiff_t(p.k), candidates.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      for (size_t i = 0; i < p.k; ++i) {
        out_ids[qi * p.k + i] = id_of(candidates[i].second);
        out_scores[qi * p.k + i] = l2 ? -candidates[i].first : candidates[i].first;
      }
    }
    return p.k;
  }

  // Partitions probed per query: the asked count or the calibrated one for the recall target,
  // at least enough partitions of average size to hold the candidates a query needs.
  size_t nprobe = !L.trained() ? nlist : p.probe ? std::min(p.probe, nlist) : L.probe_for(p.recall > 0 ? p.recall : kDefaultRecall);
  nprobe = std::min(nlist, std::max(nprobe, (k_scan * nlist + L.count - 1) / L.count));

  const Storage st = options_.storage;
  const simd::ScanFn scan = st == Storage::Int8  ? options_.kernels->scan_int8
                            : st == Storage::F16 ? options_.kernels->scan_f16
                                                 : options_.kernels->scan_f32;
  const int max_threads = options_.threads > 0 ? options_.threads : hardware_threads();
  const size_t chunk = std::clamp<size_t>(kHeapBudgetBytes / (k_scan * 8 * size_t(max_threads)), 1, kQueryChunk);
  std::vector<uint64_t> probed;
  std::vector<float> probe_scores;
  std::vector<uint32_t> offsets(nlist + 1), rows;
  for (size_t c0 = 0; c0 < nq; c0 += chunk) {
    const size_t cn = std::min(chunk, nq - c0);
    prepare_queries(options_, queries + c0 * dim, cn, prep);
    // the partitions each query probes, then for each partition the queries probing it
    probed.resize(cn * nprobe);
    if (L.trained()) {
      probe_scores.resize(cn * nprobe);
      SearchParams cp;
      cp.k = nprobe;
      L.probe_index->search(prep.unit.data(), cn, cp, probed.data(), probe_scores.data());
    } else {
      for (size_t i = 0; i < cn; ++i) probed[i] = 0;
    }
    std::fill(offsets.begin(), offsets.end(), 0);
    for (uint64_t q : probed) ++offsets[q + 1];
    for (size_t q = 0; q < nlist; ++q) offsets[q + 1] += offsets[q];
    rows.resize(probed.size());
    {
      std::vector<uint32_t> fill(offsets.begin(), offsets.end() - 1);
      for (size_t i = 0; i < probed.size(); ++i) rows[fill[probed[i]]++] = uint32_t(i / nprobe);
    }
    std::vector<uint32_t> work;  // partitions with queries and vectors
    size_t cost = 0;
    for (size_t q = 0; q < nlist; ++q)
      if (offsets[q + 1] > offsets[q] && L.parts[q].count) {
        work.push_back(uint32_t(q));
        cost += blocks_for(L.parts[q].count) * (offsets[q + 1] - offsets[q]);
      }
    const int threads = int(std::clamp<size_t>(cost / kMinWorkPerThread, 1, std::min<size_t>(size_t(max_threads), std::max<size_t>(1, work.size()))));
    std::vector<std::unique_ptr<TopKSet>> sets(threads);
    auto scan_partition = [&](TopKSet& set, GatheredQueries& g, uint32_t q, const uint32_t* qrows, size_t n) {
      const Partition& P = L.parts[q];
      // the query's key for the centroid: q.c, in the kernel's key units (ip/cosine keys are q.x / key_scale)
      g.offsets.assign(n, 0.0f);
      if (L.trained())
        for (size_t j = 0; j < n; ++j) {
          const float qc = dot(prep.unit.data() + size_t(qrows[j]) * dim, L.centroids.data() + size_t(q) * dim, dim);
          g.offsets[j] = options_.metric == Metric::L2 ? qc : qc / prep.key_scale[qrows[j]];
        }
      PartitionSink sink(set, qrows, n, base[q], P.ids.data(), p.filter, g.offsets.data(), g.thresholds);
      scan(g.gather(prep.block, qrows, n), partition_view(P, st, dim_padded_, options_.metric), 0, blocks_for(P.count), sink);
    };
    ThreadPool::global().parallel_for(threads, threads, [&](int t) {
      sets[t] = std::make_unique<TopKSet>(int(cn), int(k_scan));
      GatheredQueries g;
      for (size_t w = size_t(t); w < work.size(); w += size_t(threads))
        scan_partition(*sets[t], g, work[w], rows.data() + offsets[work[w]], offsets[work[w] + 1] - offsets[work[w]]);
    });
    for (int t = 1; t < threads; ++t) sets[0]->merge_from(*sets[t]);
    TopKSet& set = *sets[0];
    GatheredQueries g;
    for (size_t i = 0; i < cn; ++i) {
      set.sorted(int(i), candidates);
      if (candidates.size() < k_scan) {
        // Too few admitted vectors in the probed partitions (a filter, tiny partitions): the
        // others are scanned too, so a query never gets fewer than k results.
        const uint64_t* mine = probed.data() + i * nprobe;
        const uint32_t row = uint32_t(i);
        for (size_t q = 0; q < nlist; ++q)
          if (L.parts[q].count && std::find(mine, mine + nprobe, q) == mine + nprobe) scan_partition(set, g, uint32_t(q), &row, 1);
        set.sorted(int(i), candidates);
      }
      // Every admitted vector was offered by now and add() admits only finite values; short
      // of k, the codes hold NaNs, which only a damaged file loaded with verify: false brings.
      if (candidates.size() < k_scan)
        throw Error(ErrorCode::CorruptFile,
                    "the index holds non-finite values: its file is damaged (load it with verify: true to check)");
      write_results(options_, queries + (c0 + i) * dim, prep, int(i), candidates, p.k, p.rescore != 0, id_of,
                    original_of, out_ids + (c0 + i) * p.k, out_scores + (c0 + i) * p.k);
    }
  }
  return p.k;
}

}  // namespace lmrec
