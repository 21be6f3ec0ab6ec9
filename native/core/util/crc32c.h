// CRC-32C (Castagnoli), the checksum of every file lmrec writes. Uses the SSE4.2 instruction
// when the CPU has it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lmrec {

// Continues a running checksum: crc32c(b, n2, crc32c(a, n1)) == crc32c(a ++ b).
uint32_t crc32c(const void* data, size_t bytes, uint32_t crc = 0);

}  // namespace lmrec
