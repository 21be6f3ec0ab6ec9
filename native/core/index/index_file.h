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
#include <string>

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

}  // namespace lmrec
