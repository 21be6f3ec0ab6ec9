// Saving and loading IvfIndex. Format v1 (little-endian), in the family of index_file.h:
//   [0, 128)   IvfHeader
//   sections on 64-byte boundaries: centroids f32[partitions x dim] (when trained);
//   counts u64[partitions]; calibration {u32 probe, f32 recall}[points]; then per partition
//   the sections of a flat index file for its vectors (ids, scale, bias, code blocks,
//   originals; see file_layout), so a mapped file is scanned in place
//   last 16   FileTrailer: CRC-32C of every byte before it, then "LMRECEND"
#include <algorithm>
#include <cmath>
#include <cstring>

#include "index/index_file.h"
#include "index/ivf_index.h"
#include "index/ivf_layout.h"
#include "util/error.h"

namespace lmrec {
namespace {

struct IvfHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint32_t dim;
  uint32_t dim_padded;
  uint8_t metric;
  uint8_t storage;
  uint8_t flags;  // bit 0: originals kept; bit 1: trained
  uint8_t reserved0;
  uint32_t partitions;
  uint64_t count;
  uint64_t trained_count;
  uint64_t payload_bytes;  // from the end of the header to the start of the trailer
  uint32_t calibration_points;
  uint32_t requested_partitions;  // 0 = auto
  uint64_t seed;
  uint8_t reserved1[56];
};
static_assert(sizeof(IvfHeader) == 128, "IvfHeader must be 128 bytes");

constexpr uint32_t kMaxCalibrationPoints = 256;

uint64_t align64(uint64_t x) { return (x + 63) / 64 * 64; }

// One partition's vectors as a flat file would hold them; offsets are from the region's start.
FileHeader partition_header(const IvfHeader& h, uint64_t count) {
  FileHeader ph{};
  ph.dim = h.dim;
  ph.dim_padded = h.dim_padded;
  ph.metric = h.metric;
  ph.storage = h.storage;
  ph.flags = h.flags & 1;
  ph.count = count;
  return ph;
}

uint64_t region_bytes(const FileLayout& L) { return L.trailer - sizeof(FileHeader); }

struct IvfFileLayout {
  uint64_t centroids = 0, counts = 0, calibration = 0;
  std::vector<uint64_t> part;  // where each partition's region starts
  uint64_t trailer = 0, total = 0;
};

// Offsets of the fixed sections (the partitions' need the counts: pass them when known).
IvfFileLayout ivf_layout(const IvfHeader& h, const uint64_t* counts) {
  IvfFileLayout L;
  uint64_t at = sizeof(IvfHeader);
  L.centroids = at;
  if (h.flags & 2) at = align64(at + uint64_t(h.partitions) * h.dim * 4);
  L.counts = at;
  at = align64(at + uint64_t(h.partitions) * 8);
  L.calibration = at;
  at = align64(at + uint64_t(h.calibration_points) * 8);
  if (!counts) return L;
  for (uint32_t p = 0; p < h.partitions; ++p) {
    L.part.push_back(at);
    at += region_bytes(file_layout(partition_header(h, counts[p])));
  }
  L.trailer = at;
  L.total = at + sizeof(FileTrailer);
  return L;
}

}  // namespace

void IvfIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  const Layout& L = *layout_;
  IvfHeader h{};
  fill_header(h, kIvfMagic, kFormatVersion, options_, uint8_t((options_.keep_originals ? 1 : 0) | (L.trained() ? 2 : 0)));
  h.partitions = uint32_t(L.parts.size());
  h.count = L.count;
  h.trained_count = L.trained_count;
  h.calibration_points = uint32_t(L.calibration.size());
  h.requested_partitions = uint32_t(options_.partitions);
  h.seed = options_.seed;
  std::vector<uint64_t> counts(L.parts.size());
  for (size_t p = 0; p < L.parts.size(); ++p) counts[p] = L.parts[p].count;
  const IvfFileLayout F = ivf_layout(h, counts.data());
  h.payload_bytes = F.trailer - sizeof(IvfHeader);

  AtomicFileWriter w(path);
  w.write(&h, sizeof(h));
  auto section = [&](uint64_t offset, const void* data, uint64_t bytes) {
    w.pad_to(64);
    if (w.offset() != offset) throw Error(ErrorCode::Internal, "partitioned index file layout mismatch");
    if (bytes) w.write(data, bytes);
  };
  if (L.trained()) section(F.centroids, L.centroids.data(), L.centroids.size() * 4);
  section(F.counts, counts.data(), counts.size() * 8);
  section(F.calibration, L.calibration.data(), L.calibration.size() * sizeof(CalibrationPoint));
  for (size_t p = 0; p < L.parts.size(); ++p) {
    const Partition& P = L.parts[p];
    const FileLayout R = file_layout(partition_header(h, P.count));
    const uint64_t at = F.part[p] - sizeof(FileHeader);  // R's offsets count a flat header
    auto part_section = [&](uint64_t offset, uint64_t bytes, const void* data) {
      if (bytes) section(at + offset, data, bytes);
    };
    part_section(R.ids, R.ids_bytes, P.ids.data());
    part_section(R.scale, R.scale_bytes, P.scale.data());
    part_section(R.bias, R.bias_bytes, P.bias.data());
    part_section(R.blocks, R.blocks_bytes, P.blocks.data());
    part_section(R.originals, R.originals_bytes, P.originals.data());
  }
  w.pad_to(64);
  if (w.offset() != F.trailer) throw Error(ErrorCode::Internal, "partitioned index file layout mismatch");
  write_trailer(w);
  w.commit();
}

std::unique_ptr<IvfIndex> IvfIndex::load(std::shared_ptr<FileBytes> file, const std::string& path,
                                         const LoadOptions& opt) {
  const uint8_t* p = file->data();
  const size_t size = file->size();
  if (size < sizeof(IvfHeader))
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short (" + std::to_string(size) +
                                              " bytes, not even a header): the write or copy was interrupted");
  IvfHeader h;
  std::memcpy(&h, p, sizeof(h));
  check_header(h, path, "partitioned index", kFormatVersion, 3);
  const bool trained = h.flags & 2;
  if (h.partitions == 0 || h.partitions > kMaxPartitions || (!trained && h.partitions != 1) ||
      h.requested_partitions > kMaxPartitions)
    corrupt(path, "impossible partition count");
  if (h.count > kMaxCount || h.count * 8 > size || h.trained_count > kMaxCount) corrupt(path, "impossible vector count");
  if (h.calibration_points > kMaxCalibrationPoints) corrupt(path, "impossible calibration");
  const IvfFileLayout fixed = ivf_layout(h, nullptr);
  if (size < fixed.calibration + uint64_t(h.calibration_points) * 8 + sizeof(FileTrailer))
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short: " + std::to_string(size) + " bytes (an interrupted write or copy)");
  std::vector<uint64_t> counts(h.partitions);
  std::memcpy(counts.data(), p + fixed.counts, counts.size() * 8);
  uint64_t sum = 0;
  for (uint64_t c : counts) {
    if (c > h.count) corrupt(path, "a partition holds more vectors than the index");
    sum += c;
  }
  if (sum != h.count) corrupt(path, "partition sizes do not add up");
  const IvfFileLayout F = ivf_layout(h, counts.data());
  if (h.payload_bytes != F.trailer - sizeof(IvfHeader)) corrupt(path, "section sizes do not add up");
  check_file_size(path, size, F.total);
  if (const char* problem = trailer_problem(p, F.total, opt.verify)) corrupt(path, problem);

  IndexOptions o;
  o.dim = h.dim;
  o.metric = Metric(h.metric);
  o.storage = simd::Storage(h.storage);
  o.keep_originals = h.flags & 1;
  o.threads = opt.threads;
  o.kernels = opt.kernels;
  o.partitioned = true;
  o.partitions = h.requested_partitions;
  o.seed = h.seed;
  auto index = std::make_unique<IvfIndex>(o);
  auto L = std::make_shared<Layout>();
  L->parts.resize(h.partitions);
  std::vector<uint64_t> all_ids;
  all_ids.reserve(h.count);
  for (uint32_t q = 0; q < h.partitions; ++q) {
    const FileHeader ph = partition_header(h, counts[q]);
    const FileLayout R = file_layout(ph);
    const uint8_t* at = p + F.part[q] - sizeof(FileHeader);  // R's offsets count a flat header
    if (const char* problem = scale_bias_problem(ph, R.scale_bytes ? reinterpret_cast<const float*>(at + R.scale) : nullptr,
                                                 R.bias_bytes ? reinterpret_cast<const float*>(at + R.bias) : nullptr))
      corrupt(path, problem);
    if (opt.verify)
      if (const char* problem = values_problem(ph, at, R)) corrupt(path, problem);
    Partition& P = L->parts[q];
    P.count = counts[q];
    P.ids = Buffer<uint64_t>::view(reinterpret_cast<const uint64_t*>(at + R.ids), counts[q]);
    P.scale = Buffer<float>::view(reinterpret_cast<const float*>(at + R.scale), R.scale_bytes / 4);
    P.bias = Buffer<float>::view(reinterpret_cast<const float*>(at + R.bias), R.bias_bytes / 4);
    P.blocks = Buffer<uint8_t>::view(at + R.blocks, R.blocks_bytes);
    P.originals = Buffer<float>::view(reinterpret_cast<const float*>(at + R.originals), R.originals_bytes / 4);
    all_ids.insert(all_ids.end(), P.ids.data(), P.ids.data() + P.count);
  }
  std::sort(all_ids.begin(), all_ids.end());
  if (std::adjacent_find(all_ids.begin(), all_ids.end()) != all_ids.end()) corrupt(path, "duplicate id");
  L->count = h.count;
  L->trained_count = h.trained_count;
  L->calibration.resize(h.calibration_points);
  if (!L->calibration.empty())  // (memcpy into a null pointer is undefined even for 0 bytes)
    std::memcpy(L->calibration.data(), p + F.calibration, L->calibration.size() * sizeof(CalibrationPoint));
  for (const CalibrationPoint& c : L->calibration)
    if (c.probe == 0 || c.probe > h.partitions || !(c.recall >= 0 && c.recall <= 1)) corrupt(path, "bad calibration");
  if (trained) {
    L->centroids.resize(size_t(h.partitions) * h.dim);
    std::memcpy(L->centroids.data(), p + F.centroids, L->centroids.size() * 4);
    for (float v : L->centroids)
      if (!(std::fabs(v) <= 1e18f)) corrupt(path, "a centroid is not finite or out of range");
    L->probe_index = probe_index_for(index->options(), L->centroids.data(), h.partitions);
  }
  index->layout_ = std::move(L);
  index->file_ = std::move(file);
  return index;
}

}  // namespace lmrec
