#include "cache/segment_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/f16.h"
#include "quant/int8.h"
#include "util/error.h"
#include "util/file_io.h"

namespace lmrec::cache {
namespace {

constexpr char kMagic[8] = {'L', 'M', 'R', 'E', 'C', 'S', 'E', 'G'};
constexpr size_t kEntryOverhead = 96;  // list node, index slot, vectors' headers

struct Header {
  char magic[8];
  uint32_t version, header_bytes;
  uint32_t storage, reserved;
  uint64_t entries, payload_bytes;
};
static_assert(sizeof(Header) == 40, "Header must be 40 bytes");

struct EntryHeader {
  uint64_t model;
  uint32_t layer, tokens, dim, data_bytes;
};
static_assert(sizeof(EntryHeader) == 24, "EntryHeader must be 24 bytes");

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::CorruptFile, "'" + path + "' is damaged (" + why + "); delete it: the cache refills itself");
}

size_t data_bytes(size_t n, size_t dim, Storage s) {
  return s == Storage::F16 ? n * dim * 2 : s == Storage::F32 ? n * dim * 4 : n * dim + n * sizeof(float);
}

}  // namespace

uint64_t model_id(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

size_t SegmentCache::entry_bytes(size_t n, size_t dim, Storage s) {
  return data_bytes(n, dim, s) + n * sizeof(int32_t) + kEntryOverhead;
}

SegmentCache::SegmentCache(size_t budget_bytes, Storage storage) : budget_(budget_bytes), storage_(storage) {
  if (budget_bytes < 1) throw Error(ErrorCode::InvalidArgument, "the cache budget must be at least 1 byte");
  stats_.budget = budget_bytes;
}

uint64_t SegmentCache::key_hash(uint64_t model, uint32_t layer, const int32_t* tokens, size_t n) {
  uint64_t h = mix(mix(0x5e6, model), layer);
  for (size_t i = 0; i < n; ++i) h = mix(h, uint32_t(tokens[i]));
  return mix(h, n);
}

SegmentCache::List::iterator SegmentCache::find(uint64_t hash, uint64_t model, uint32_t layer, const int32_t* tokens,
                                               size_t n) {
  auto [a, b] = index_.equal_range(hash);
  for (auto it = a; it != b; ++it) {
    const Entry& e = *it->second;
    if (e.model == model && e.layer == layer && e.tokens.size() == n && std::equal(tokens, tokens + n, e.tokens.begin()))
      return it->second;
  }
  return lru_.end();
}

void SegmentCache::erase(List::iterator it) {
  auto [a, b] = index_.equal_range(it->hash);
  for (auto x = a; x != b; ++x)
    if (x->second == it) {
      index_.erase(x);
      break;
    }
  stats_.bytes -= entry_bytes(it->tokens.size(), it->dim, storage_);
  --stats_.entries;
  lru_.erase(it);
}

void SegmentCache::insert(Entry&& e) {
  const size_t bytes = entry_bytes(e.tokens.size(), e.dim, storage_);
  while (!lru_.empty() && stats_.bytes + bytes > budget_) {
    erase(std::prev(lru_.end()));
    ++stats_.evictions;
  }
  lru_.push_front(std::move(e));
  index_.emplace(lru_.front().hash, lru_.begin());
  stats_.bytes += bytes;
  ++stats_.entries;
  ++stats_.insertions;
}

bool SegmentCache::put(uint64_t model, uint32_t layer, const int32_t* tokens, size_t n, const float* states, size_t dim) {
  if (n == 0 || dim == 0) throw Error(ErrorCode::InvalidArgument, "an empty segment cannot be cached");
  for (size_t i = 0; i < n * dim; ++i)
    if (!std::isfinite(states[i])) throw Error(ErrorCode::NonFinite, "segment states hold a non-finite value");
  if (entry_bytes(n, dim, storage_) > budget_) {
    std::lock_guard g(mu_);
    ++stats_.rejected;
    return false;
  }
  // encode outside the lock
  Entry e{model, key_hash(model, layer, tokens, n), layer, uint32_t(dim), std::vector<int32_t>(tokens, tokens + n),
          std::vector<uint8_t>(data_bytes(n, dim, storage_))};
  if (storage_ == Storage::F16) {
    auto* h = reinterpret_cast<uint16_t*>(e.data.data());
    for (size_t i = 0; i < n * dim; ++i) h[i] = quant::float_to_half(states[i]);
  } else if (storage_ == Storage::F32) {
    std::memcpy(e.data.data(), states, n * dim * sizeof(float));
  } else {
    auto* codes = reinterpret_cast<int8_t*>(e.data.data());
    std::vector<float> scales(n);
    for (size_t r = 0; r < n; ++r) scales[r] = quant::quantize_int8(states + r * dim, dim, codes + r * dim);
    std::memcpy(e.data.data() + n * dim, scales.data(), n * sizeof(float));
  }
  std::lock_guard g(mu_);
  if (auto it = find(e.hash, model, layer, tokens, n); it != lru_.end()) erase(it);
  insert(std::move(e));
  return true;
}

bool SegmentCache::get(uint64_t model, uint32_t layer, const int32_t* tokens, size_t n, size_t dim, float* out) {
  std::lock_guard g(mu_);
  auto it = find(key_hash(model, layer, tokens, n), model, layer, tokens, n);
  if (it == lru_.end() || it->dim != dim) {
    ++stats_.misses;
    return false;
  }
  lru_.splice(lru_.begin(), lru_, it);  // most recent first; iterators stay valid
  ++stats_.hits;
  const Entry& e = *it;
  if (storage_ == Storage::F16) {
    const auto* h = reinterpret_cast<const uint16_t*>(e.data.data());
    for (size_t i = 0; i < n * dim; ++i) out[i] = quant::half_to_float(h[i]);
  } else if (storage_ == Storage::F32) {
    std::memcpy(out, e.data.data(), n * dim * sizeof(float));
  } else {
    const auto* codes = reinterpret_cast<const int8_t*>(e.data.data());
    float scale;
    for (size_t r = 0; r < n; ++r) {
      std::memcpy(&scale, e.data.data() + n * dim + r * sizeof(float), sizeof(float));
      for (size_t j = 0; j < dim; ++j) out[r * dim + j] = float(codes[r * dim + j]) * scale;
    }
  }
  return true;
}

void SegmentCache::keep_only(uint64_t model) {
  std::lock_guard g(mu_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (it->model != model) erase(it);
    it = next;
  }
}

void SegmentCache::clear() {
  std::lock_guard g(mu_);
  lru_.clear();
  index_.clear();
  stats_.entries = stats_.bytes = 0;
}

CacheStats SegmentCache::stats() const {
  std::lock_guard g(mu_);
  return stats_;
}

void SegmentCache::save(const std::string& path) const {
  std::lock_guard g(mu_);
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kFormatVersion;
  h.header_bytes = sizeof(Header);
  h.storage = uint32_t(storage_);
  h.entries = lru_.size();
  for (const Entry& e : lru_) h.payload_bytes += sizeof(EntryHeader) + e.tokens.size() * 4 + e.data.size();
  AtomicFileWriter w(path);
  w.write(&h, sizeof(h));
  for (const Entry& e : lru_) {  // most recent first, so a smaller budget keeps the warmest
    const EntryHeader eh{e.model, e.layer, uint32_t(e.tokens.size()), e.dim, uint32_t(e.data.size())};
    w.write(&eh, sizeof(eh));
    w.write(e.tokens.data(), e.tokens.size() * 4);
    w.write(e.data.data(), e.data.size());
  }
  write_trailer(w);
  w.commit();
}

std::unique_ptr<SegmentCache> SegmentCache::load(const std::string& path, size_t budget_bytes) {
  const std::shared_ptr<FileBytes> file = FileBytes::open(path, false);
  const uint8_t* p = file->data();
  const size_t size = file->size();
  if (size == 0 || std::memcmp(p, kMagic, std::min<size_t>(size, 8)) != 0)
    throw Error(ErrorCode::NotAModel, "'" + path + "' is not an lmrec segment cache file");
  if (size < sizeof(Header)) throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short");
  Header h;
  std::memcpy(&h, p, sizeof(h));
  if (h.version > uint32_t(kFormatVersion))
    throw Error(ErrorCode::UnsupportedVersion, "'" + path + "' uses segment cache format v" + std::to_string(h.version) +
                                                   ", newer than this lmrec reads (v1)");
  if (h.version == 0 || h.header_bytes != sizeof(Header) || h.storage > 2) corrupt(path, "bad header");
  const uint64_t total = sizeof(Header) + h.payload_bytes + sizeof(FileTrailer);
  if (h.payload_bytes > size || size < total) throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short");
  if (size > total) corrupt(path, "unexpected bytes after the end");
  if (const char* problem = trailer_problem(p, total, true)) corrupt(path, problem);
  const Storage storage = Storage(h.storage);
  auto cache = std::make_unique<SegmentCache>(budget_bytes, storage);
  size_t at = sizeof(Header);
  const size_t end = sizeof(Header) + h.payload_bytes;
  std::vector<Entry> entries;
  for (uint64_t i = 0; i < h.entries; ++i) {
    if (end - at < sizeof(EntryHeader)) corrupt(path, "entry " + std::to_string(i) + " runs past the end");
    EntryHeader eh;
    std::memcpy(&eh, p + at, sizeof(eh));
    at += sizeof(eh);
    if (eh.tokens == 0 || eh.dim == 0 || eh.data_bytes != data_bytes(eh.tokens, eh.dim, storage) ||
        end - at < size_t(eh.tokens) * 4 + eh.data_bytes)
      corrupt(path, "entry " + std::to_string(i) + " has inconsistent sizes");
    Entry e{eh.model, 0, eh.layer, eh.dim, std::vector<int32_t>(eh.tokens), std::vector<uint8_t>(eh.data_bytes)};
    std::memcpy(e.tokens.data(), p + at, size_t(eh.tokens) * 4);
    at += size_t(eh.tokens) * 4;
    std::memcpy(e.data.data(), p + at, eh.data_bytes);
    at += eh.data_bytes;
    e.hash = key_hash(e.model, e.layer, e.tokens.data(), e.tokens.size());
    entries.push_back(std::move(e));
  }
  if (at != end) corrupt(path, "entries do not fill the payload");
  std::lock_guard g(cache->mu_);
  // the file lists the most recent first: insert from the oldest, keep what fits
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (entry_bytes(it->tokens.size(), it->dim, storage) <= budget_bytes) cache->insert(std::move(*it));
  cache->stats_.insertions = cache->stats_.evictions = 0;
  return cache;
}

}  // namespace lmrec::cache
