// On-disk format of a VectorIndex, version 1 (little-endian):
//   [0, 64)    FileHeader
//   sections, each starting on a 64-byte boundary (so a mapped file is used in place):
//              ids u64[count]; scale f32[blocks*16] (int8); bias f32[blocks*16] (l2);
//              code blocks; originals f32[count*dim] (when kept)
//   last 16    FileTrailer: CRC-32C of every byte before it, then "LMRECEND"
// VectorIndex::load checks the header, the sizes, the ids (unique) and the int8 scales and l2
// norms (finite, in range) always; with LoadOptions::verify also the checksum and every code
// and original (finite, norms within add()'s bound), so a verified index never scores NaN.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "index/knn_index.h"
#include "util/error.h"
#include "util/file_io.h"

namespace lmrec {

constexpr char kIndexMagic[8] = {'L', 'M', 'R', 'E', 'C', 'V', 'I', 'X'};

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint32_t dim;
  uint32_t dim_padded;
  uint8_t metric;
  uint8_t storage;
  uint8_t flags;  // bit 0: originals kept
  uint8_t reserved0;
  uint32_t reserved1;
  uint64_t count;
  uint64_t payload_bytes;  // from the end of the header to the start of the trailer
  uint8_t reserved2[16];
};
static_assert(sizeof(FileHeader) == 64, "FileHeader must be 64 bytes");

// Byte offsets of each section for a header's fields (0 where a section is absent).
struct FileLayout {
  uint64_t ids = 0, scale = 0, bias = 0, blocks = 0, originals = 0;
  uint64_t ids_bytes = 0, scale_bytes = 0, bias_bytes = 0, blocks_bytes = 0, originals_bytes = 0;
  uint64_t trailer = 0;  // offset of the trailer
  uint64_t total = 0;    // file size
};

FileLayout file_layout(const FileHeader& h);

// Checks every index file makes of one run of vectors laid out as `L` from `p` (a flat file,
// or one partition of a partitioned one). The per-vector int8 scales and l2 biases, checked
// on every load:
const char* scale_bias_problem(const FileHeader& h, const float* scale, const float* bias);
// Every code and original of the vectors held (lanes past the count and int8 padding dims are
// never read): finite, each vector within the norm bound. A pass over the whole file, run with
// the checksum (verify), which reads it all anyway.
const char* values_problem(const FileHeader& h, const uint8_t* p, const FileLayout& L);
// Throws CorruptFile for the file at `path`.
[[noreturn]] void corrupt(const std::string& path, const std::string& why);
// TruncatedFile when the file is shorter than `total`, CorruptFile when longer.
void check_file_size(const std::string& path, uint64_t size, uint64_t total);

// The fields every index header starts with (FileHeader, IvfHeader): set from the options,
// and checked on load (version, header size, dimension, metric, storage, known flags).
template <class Header>
void fill_header(Header& h, const char (&magic)[8], uint32_t version, const IndexOptions& o, uint8_t flags) {
  std::memcpy(h.magic, magic, 8);
  h.version = version;
  h.header_bytes = sizeof(Header);
  h.dim = uint32_t(o.dim);
  h.dim_padded = uint32_t(simd::padded_dim(o.dim));
  h.metric = uint8_t(o.metric);
  h.storage = uint8_t(o.storage);
  h.flags = flags;
}

template <class Header>
void check_header(const Header& h, const std::string& path, const char* kind, uint32_t version, uint8_t known_flags) {
  if (h.version > version)
    throw Error(ErrorCode::UnsupportedVersion, "'" + path + "' uses " + kind + " format v" + std::to_string(h.version) +
                                                   ", newer than this lmrec reads (v" + std::to_string(version) +
                                                   "): upgrade lmrec to load it");
  if (h.version == 0 || h.header_bytes != sizeof(Header)) corrupt(path, "bad header");
  if (h.dim == 0 || h.dim > KnnIndex::kMaxDim || h.dim_padded != simd::padded_dim(h.dim)) corrupt(path, "bad dimension");
  if (h.metric > uint8_t(Metric::L2) || h.storage > uint8_t(simd::Storage::F32) || (h.flags & ~known_flags))
    corrupt(path, "unknown metric, storage or flags");
}

}  // namespace lmrec
