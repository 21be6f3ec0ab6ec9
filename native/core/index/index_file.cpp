// Saving and loading VectorIndex (format in index_file.h).
#include "index/index_file.h"

#include <cstring>

#include "index/vector_index.h"
#include "util/error.h"

namespace lmrec {
namespace {

uint64_t align64(uint64_t x) { return (x + 63) / 64 * 64; }

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::CorruptFile, "'" + path + "' is damaged (" + why + "); restore it from a good copy or rebuild the index");
}

}  // namespace

FileLayout file_layout(const FileHeader& h) {
  using simd::Storage;
  const uint64_t blocks = (h.count + simd::kLanes - 1) / simd::kLanes;
  FileLayout L;
  uint64_t at = sizeof(FileHeader);
  auto place = [&](uint64_t& offset, uint64_t& size, uint64_t bytes) {
    if (!bytes) return;
    offset = at;
    size = bytes;
    at = align64(at + bytes);
  };
  place(L.ids, L.ids_bytes, h.count * 8);
  if (Storage(h.storage) == Storage::Int8) place(L.scale, L.scale_bytes, blocks * simd::kLanes * 4);
  if (Metric(h.metric) == Metric::L2) place(L.bias, L.bias_bytes, blocks * simd::kLanes * 4);
  place(L.blocks, L.blocks_bytes, blocks * simd::block_bytes(Storage(h.storage), h.dim_padded));
  if (h.flags & 1) place(L.originals, L.originals_bytes, h.count * h.dim * 4);
  L.trailer = at;
  L.total = at + sizeof(FileTrailer);
  return L;
}

void VectorIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  FileHeader h{};
  std::memcpy(h.magic, kIndexMagic, 8);
  h.version = kFormatVersion;
  h.header_bytes = sizeof(FileHeader);
  h.dim = uint32_t(options_.dim);
  h.dim_padded = uint32_t(dim_padded_);
  h.metric = uint8_t(options_.metric);
  h.storage = uint8_t(options_.storage);
  h.flags = options_.keep_originals ? 1 : 0;
  h.count = count_;
  const FileLayout L = file_layout(h);
  h.payload_bytes = L.trailer - sizeof(FileHeader);

  AtomicFileWriter w(path);
  w.write(&h, sizeof(h));
  auto section = [&](uint64_t offset, const void* data, uint64_t bytes) {
    if (!bytes) return;
    w.pad_to(64);
    if (w.offset() != offset) throw Error(ErrorCode::Internal, "index file layout mismatch");
    w.write(data, bytes);
  };
  section(L.ids, ids_.data(), L.ids_bytes);
  section(L.scale, scale_.data(), L.scale_bytes);
  section(L.bias, bias_.data(), L.bias_bytes);
  section(L.blocks, blocks_.data(), L.blocks_bytes);
  section(L.originals, originals_.data(), L.originals_bytes);
  w.pad_to(64);
  write_trailer(w);
  w.commit();
}

std::unique_ptr<VectorIndex> VectorIndex::load(const std::string& path, const LoadOptions& opt) {
  std::shared_ptr<FileBytes> file = FileBytes::open(path, opt.map);
  const uint8_t* p = file->data();
  const size_t size = file->size();
  const size_t head = std::min<size_t>(size, 8);
  if (size == 0 || std::memcmp(p, kIndexMagic, head) != 0)
    throw Error(ErrorCode::NotAnIndex, "'" + path + "' is not an lmrec vector index file");
  if (size < sizeof(FileHeader))
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short (" + std::to_string(size) +
                                              " bytes, not even a header): the write or copy was interrupted");
  FileHeader h;
  std::memcpy(&h, p, sizeof(h));
  if (h.version > uint32_t(kFormatVersion))
    throw Error(ErrorCode::UnsupportedVersion,
                "'" + path + "' uses index format v" + std::to_string(h.version) + ", newer than this lmrec reads (v" +
                    std::to_string(kFormatVersion) + "): upgrade lmrec to load it");
  if (h.version == 0 || h.header_bytes != sizeof(FileHeader)) corrupt(path, "bad header");
  if (h.dim == 0 || h.dim > kMaxDim || h.dim_padded != simd::padded_dim(h.dim)) corrupt(path, "bad dimension");
  if (h.metric > uint8_t(Metric::L2) || h.storage > uint8_t(simd::Storage::F32) || (h.flags & ~1u))
    corrupt(path, "unknown metric, storage or flags");
  if (h.count > kMaxCount || h.count * 8 > size) corrupt(path, "impossible vector count");
  const FileLayout L = file_layout(h);
  if (h.payload_bytes != L.trailer - sizeof(FileHeader)) corrupt(path, "section sizes do not add up");
  if (size < L.total)
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short: " + std::to_string(size) + " bytes of the " +
                                              std::to_string(L.total) + " its header announces (an interrupted write or copy)");
  if (size > L.total) corrupt(path, "unexpected bytes after the end");
  if (const char* problem = trailer_problem(p, L.total, opt.verify)) corrupt(path, problem);

  IndexOptions o;
  o.dim = h.dim;
  o.metric = Metric(h.metric);
  o.storage = simd::Storage(h.storage);
  o.keep_originals = h.flags & 1;
  o.threads = opt.threads;
  o.kernels = opt.kernels;
  auto index = std::make_unique<VectorIndex>(o);
  index->count_ = h.count;
  index->ids_ = Buffer<uint64_t>::view(reinterpret_cast<const uint64_t*>(p + L.ids), h.count);
  index->scale_ = Buffer<float>::view(reinterpret_cast<const float*>(p + L.scale), L.scale_bytes / 4);
  index->bias_ = Buffer<float>::view(reinterpret_cast<const float*>(p + L.bias), L.bias_bytes / 4);
  index->blocks_ = Buffer<uint8_t>::view(p + L.blocks, L.blocks_bytes);
  index->originals_ = Buffer<float>::view(reinterpret_cast<const float*>(p + L.originals), L.originals_bytes / 4);
  index->position_.reserve(h.count);
  for (uint64_t i = 0; i < h.count; ++i)
    if (!index->position_.emplace(index->ids_.data()[i], uint32_t(i)).second) corrupt(path, "duplicate id");
  index->file_ = std::move(file);
  return index;
}

}  // namespace lmrec
