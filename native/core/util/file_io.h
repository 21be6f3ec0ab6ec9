// Files that survive crashes: writes go to a temp file beside the target, are fsync'ed and
// renamed over it, so a reader sees the old file or the new one, never half of one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "util/buffer.h"

namespace lmrec {

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();  // removes the temp file unless commit() succeeded
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t bytes);  // also folds the bytes into the checksum
  void pad_to(size_t alignment);               // zero bytes up to a multiple of alignment
  uint64_t offset() const { return offset_; }
  uint32_t checksum() const { return crc_; }
  void commit();  // flush, fsync, rename, fsync the directory

 private:
  void flush();
  std::string path_, temp_;
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint32_t crc_ = 0;
  std::unique_ptr<uint8_t[]> buf_;
  size_t buffered_ = 0;
  bool committed_ = false;
};

// Every lmrec file ends with this trailer: the CRC-32C of every byte before it, then
// "LMRECEND". write_trailer appends it; trailer_problem checks the one ending at `end`.
struct FileTrailer {
  uint32_t crc32c;
  uint32_t reserved;
  char magic[8];
};
static_assert(sizeof(FileTrailer) == 16, "FileTrailer must be 16 bytes");

void write_trailer(AtomicFileWriter& w);
// nullptr when the trailer ending at file[end] is intact, else what is wrong with it.
const char* trailer_problem(const uint8_t* file, size_t end, bool verify_crc);

// A whole file, read-only: memory-mapped, or read into memory.
class FileBytes {
 public:
  static std::shared_ptr<FileBytes> open(const std::string& path, bool map);
  ~FileBytes();
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool mapped() const { return mapped_; }

 private:
  FileBytes() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  Buffer<uint8_t> owned_;  // aligned, so sections can be used in place
};

}  // namespace lmrec
