#include "util/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/crc32c.h"
#include "util/error.h"

namespace lmrec {
namespace {

constexpr size_t kBufferBytes = 1 << 20;

[[noreturn]] void io_fail(const std::string& what, const std::string& path) {
  throw Error(ErrorCode::IoError, what + " '" + path + "': " + std::strerror(errno));
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Removes "<name>.tmp-<pid>-<n>" files beside `path` whose writer process no longer exists:
// what a process killed mid-write left behind. (src/util/atomic-file.ts follows the same rule.)
void sweep_stale_temps(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = parent_dir(path);
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp-";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || dash + 1 == rest.size() ||
        rest.find_first_not_of("0123456789-") != std::string::npos || rest.find('-', dash + 1) != std::string::npos)
      continue;
    const long pid = std::strtol(rest.c_str(), nullptr, 10);
    if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path) {
  sweep_stale_temps(path);
  static std::atomic<uint64_t> counter{0};
  temp_ = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) io_fail("cannot create", temp_);
  buf_.reset(new uint8_t[kBufferBytes]);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFileWriter::flush() {
  size_t done = 0;
  while (done < buffered_) {
    const ssize_t n = ::write(fd_, buf_.get() + done, buffered_ - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      io_fail("cannot write", temp_);
    }
    done += size_t(n);
  }
  buffered_ = 0;
}

void AtomicFileWriter::write(const void* data, size_t bytes) {
  crc_ = crc32c(data, bytes, crc_);
  offset_ += bytes;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (bytes > 0) {
    const size_t take = std::min(bytes, kBufferBytes - buffered_);
    std::memcpy(buf_.get() + buffered_, p, take);
    buffered_ += take;
    p += take;
    bytes -= take;
    if (buffered_ == kBufferBytes) flush();
  }
}

void AtomicFileWriter::pad_to(size_t alignment) {
  static const uint8_t zeros[64] = {};
  while (offset_ % alignment) write(zeros, std::min<size_t>(alignment - offset_ % alignment, 64));
}

void AtomicFileWriter::commit() {
  flush();
  if (::fsync(fd_) != 0) io_fail("cannot fsync", temp_);
  if (::close(fd_) != 0) {
    fd_ = -1;
    io_fail("cannot close", temp_);
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), path_.c_str()) != 0) io_fail("cannot rename into", path_);
  committed_ = true;
  const int dir = ::open(parent_dir(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {  // makes the rename itself durable
    ::fsync(dir);
    ::close(dir);
  }
}

namespace {

[[noreturn]] void not_regular(const std::string& path, mode_t mode) {
  const char* kind = S_ISDIR(mode)                    ? "a directory"
                     : S_ISFIFO(mode)                 ? "a FIFO"
                     : S_ISSOCK(mode)                 ? "a socket"
                     : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
                                                      : "not a file";
  throw Error(ErrorCode::IoError, "'" + path + "' is not a regular file (it is " + kind + ")");
}

}  // namespace

// Only regular files are read (src/util/read-text.ts follows the same rule): opening a FIFO
// waits for a writer, forever; opening a device can act on it. So the path is checked before
// it is opened, and the descriptor after (the path may have been replaced in between, which
// the non-blocking open makes safe to reach; reads of a regular file ignore O_NONBLOCK).
std::shared_ptr<FileBytes> FileBytes::open(const std::string& path, bool map) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) io_fail("cannot open", path);
  if (!S_ISREG(st.st_mode)) not_regular(path, st.st_mode);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) io_fail("cannot open", path);
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    io_fail("cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    not_regular(path, st.st_mode);
  }
  std::shared_ptr<FileBytes> f(new FileBytes());
  f->size_ = size_t(st.st_size);
  if (f->size_ == 0) {
    ::close(fd);
    return f;
  }
  if (map) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) io_fail("cannot map", path);
    f->data_ = static_cast<const uint8_t*>(p);
    f->mapped_ = true;
    return f;
  }
  f->owned_.reserve(f->size_);
  uint8_t* dst = f->owned_.mutable_data();
  size_t done = 0;
  while (done < f->size_) {
    const ssize_t n = ::read(fd, dst + done, f->size_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      io_fail("cannot read", path);
    }
    done += size_t(n);
  }
  ::close(fd);
  f->data_ = dst;
  return f;
}

FileBytes::~FileBytes() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

namespace {
constexpr char kEndMagic[8] = {'L', 'M', 'R', 'E', 'C', 'E', 'N', 'D'};
}  // namespace

void write_trailer(AtomicFileWriter& w) {
  FileTrailer t{};
  t.crc32c = w.checksum();
  std::memcpy(t.magic, kEndMagic, 8);
  w.write(&t, sizeof(t));
}

const char* trailer_problem(const uint8_t* file, size_t end, bool verify_crc) {
  FileTrailer t;
  std::memcpy(&t, file + end - sizeof(t), sizeof(t));
  if (std::memcmp(t.magic, kEndMagic, 8) != 0) return "bad end marker";
  if (verify_crc && crc32c(file, end - sizeof(t)) != t.crc32c) return "checksum mismatch";
  return nullptr;
}

}  // namespace lmrec
