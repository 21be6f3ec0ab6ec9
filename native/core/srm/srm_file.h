// The SRM model file (format in srm_file.cpp), parsed from bytes in memory. SequentialModel::load
// reads a file and builds a model from this; tests and the fuzz harness (fuzz/) call it on
// bytes directly, and may skip the checksum so that damaged sections reach the checks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "srm/srm_config.h"

namespace lmrec::srm {

// Views into the bytes given to parse_srm_file (valid as long as they are).
struct SrmFileView {
  Shape shape;
  uint64_t steps = 0;
  const float* params = nullptr;  // param_count(shape) values, all finite
  size_t param_count = 0;
  const float* popularity = nullptr;  // shape.items values, all finite and >= 0
  const uint8_t* id_mask = nullptr;   // shape.items flags (0/1); null in v1 files (all items have IDs)
  // shape.items x shape.code_dim codes when shape.has_codes(): int8 (value·127) or f32
  const int8_t* codes_i8 = nullptr;
  const float* codes_f32 = nullptr;
};

// Checks a whole SRM model file held in `data` (4-byte aligned) and returns views into it.
// Throws lmrec::Error (NotAModel, TruncatedFile, UnsupportedVersion, CorruptFile) naming
// `path` for anything amiss; verify_crc = false skips only the checksum.
SrmFileView parse_srm_file(const uint8_t* data, size_t size, const std::string& path, bool verify_crc);

}  // namespace lmrec::srm
