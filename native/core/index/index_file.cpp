// Saving and loading VectorIndex (format in index_file.h).
#include "index/index_file.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "index/vector_index.h"
#include "quant/f16.h"
#include "util/error.h"

namespace lmrec {
namespace {

uint64_t align64(uint64_t x) { return (x + 63) / 64 * 64; }


// Stored values are held to the bounds add() enforces (finite, norms at most 1e18, with slack
// for quantisation), so that no scan of a loaded index can overflow float32 or meet a NaN.
constexpr double kMaxNorm2 = 1e36 * 1.21;
constexpr double kMaxScale = 1e18 * 1.1 / 127;

}  // namespace

void corrupt(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::CorruptFile, "'" + path + "' is damaged (" + why + "); restore it from a good copy or rebuild the index");
}

void check_file_size(const std::string& path, uint64_t size, uint64_t total) {
  if (size < total)
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short: " + std::to_string(size) + " bytes of the " +
                                              std::to_string(total) + " its header announces (an interrupted write or copy)");
  if (size > total) corrupt(path, "unexpected bytes after the end");
}

const char* scale_bias_problem(const FileHeader& h, const float* scale, const float* bias) {
  for (uint64_t i = 0; i < h.count; ++i) {
    if (scale && !(scale[i] >= 0 && double(scale[i]) <= kMaxScale)) return "an int8 scale is negative, too large or not a number";
    if (bias && !(bias[i] <= 0 && double(bias[i]) >= -0.5 * kMaxNorm2)) return "an l2 norm is negative, too large or not a number";
  }
  return nullptr;
}

const char* values_problem(const FileHeader& h, const uint8_t* p, const FileLayout& L) {
  using simd::kLanes;
  using simd::Storage;
  const Storage st = Storage(h.storage);
  const size_t dim = h.dim, dp = h.dim_padded;
  const size_t bb = simd::block_bytes(st, dp);
  const float* scale = reinterpret_cast<const float*>(p + L.scale);
  for (uint64_t b = 0; b * kLanes < h.count; ++b) {
    const uint8_t* blk = p + L.blocks + b * bb;
    const int lanes = int(std::min<uint64_t>(kLanes, h.count - b * kLanes));
    // Per lane, written so the inner loops run over the 16 lanes side by side (vectorised).
    double norm2[kLanes] = {};
    uint32_t bad[kLanes] = {};
    switch (st) {
      case Storage::Int8: {
        int32_t sq[kLanes] = {};  // at most 128^2 x 2^16 < 2^31
        auto group = [&](const uint8_t* row, size_t dims) {
          for (int lane = 0; lane < kLanes; ++lane)
            for (size_t t = 0; t < dims; ++t) {
              const int32_t c = int32_t(row[lane * 4 + t]) - 128;
              sq[lane] += c * c;
            }
        };
        for (size_t g = 0; g < dim / 4; ++g) group(blk + g * 64, 4);
        if (dim % 4) group(blk + (dim / 4) * 64, dim % 4);  // padding dims are never read
        for (int lane = 0; lane < kLanes; ++lane) {
          const double sc = scale[b * kLanes + lane];
          norm2[lane] = sc * sc * double(sq[lane]);
        }
        break;
      }
      case Storage::F16: {  // finite halves cannot reach the norm bound (65504^2 x 2^16)
        const uint16_t* h = reinterpret_cast<const uint16_t*>(blk);
        for (size_t d = 0; d < dp; ++d)
          for (int lane = 0; lane < kLanes; ++lane) bad[lane] |= (h[d * kLanes + lane] & 0x7c00u) == 0x7c00u;
        break;
      }
      case Storage::F32: {
        const float* f = reinterpret_cast<const float*>(blk);
        for (size_t d = 0; d < dim; ++d)  // a NaN or infinity makes the norm fail its bound
          for (int lane = 0; lane < kLanes; ++lane) norm2[lane] += double(f[d * kLanes + lane]) * f[d * kLanes + lane];
        for (size_t d = dim; d < dp; ++d)  // padding: finite (the queries hold 0 there)
          for (int lane = 0; lane < kLanes; ++lane)
            bad[lane] |= !(std::fabs(f[d * kLanes + lane]) <= std::numeric_limits<float>::max());
        break;
      }
    }
    bool finite = true;
    for (int lane = 0; lane < lanes; ++lane) finite &= !bad[lane];
    if (!finite) return "a stored vector holds a NaN or infinite value";
    for (int lane = 0; lane < lanes; ++lane)
      if (!(norm2[lane] <= kMaxNorm2)) return "a stored vector is not finite or its norm is out of range";
  }
  if (h.flags & 1) {
    const float* o = reinterpret_cast<const float*>(p + L.originals);
    for (uint64_t i = 0; i < h.count; ++i) {
      double n2 = 0;
      for (size_t d = 0; d < dim; ++d) n2 += double(o[i * dim + d]) * o[i * dim + d];
      if (!(n2 <= kMaxNorm2)) return "a stored original vector is not finite or its norm is out of range";
    }
  }
  return nullptr;
}

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
  fill_header(h, kIndexMagic, kFormatVersion, options_, options_.keep_originals ? 1 : 0);
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

std::unique_ptr<VectorIndex> VectorIndex::load(std::shared_ptr<FileBytes> file, const std::string& path,
                                               const LoadOptions& opt) {
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
  check_header(h, path, "index", kFormatVersion, 1);
  if (h.count > kMaxCount || h.count * 8 > size) corrupt(path, "impossible vector count");
  const FileLayout L = file_layout(h);
  if (h.payload_bytes != L.trailer - sizeof(FileHeader)) corrupt(path, "section sizes do not add up");
  check_file_size(path, size, L.total);
  if (const char* problem = trailer_problem(p, L.total, opt.verify)) corrupt(path, problem);
  if (const char* problem = scale_bias_problem(h, L.scale_bytes ? reinterpret_cast<const float*>(p + L.scale) : nullptr,
                                               L.bias_bytes ? reinterpret_cast<const float*>(p + L.bias) : nullptr))
    corrupt(path, problem);
  if (opt.verify)
    if (const char* problem = values_problem(h, p, L)) corrupt(path, problem);

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
