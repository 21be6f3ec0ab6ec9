// Shared by the libFuzzer harnesses: a scratch directory (in /dev/shm when it is writable,
// so each input costs no disk write), files written into it, and a loud failure.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace fuzz {

// LMREC_FUZZ_SCRATCH names the directory (scripts/fuzz.mjs sets it and removes it after each
// run, crashes included); without it, a fresh one is made and removed at a normal exit.
inline const std::string& scratch_dir() {
  static const std::string dir = []() -> std::string {
    if (const char* given = std::getenv("LMREC_FUZZ_SCRATCH"); given && *given) {
      ::mkdir(given, 0700);
      return given;
    }
    for (const char* base : {"/dev/shm", "/tmp"}) {
      std::string templ = std::string(base) + "/lmrec-fuzz-XXXXXX";
      if (::mkdtemp(templ.data())) {
        static std::string made;
        made = templ;
        std::atexit([] {
          for (const char* f : {"/input", "/input2", "/saved"}) ::unlink((made + f).c_str());
          ::rmdir(made.c_str());
        });
        return templ;
      }
    }
    std::fprintf(stderr, "fuzz: cannot create a scratch directory\n");
    std::abort();
  }();
  return dir;
}

inline std::string scratch(const char* name) { return scratch_dir() + "/" + name; }

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();
  }
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) {
      std::perror(path.c_str());
      std::abort();
    }
    done += size_t(n);
  }
  ::close(fd);
}

// A broken invariant: report it and abort, so libFuzzer saves the input as a crash.
[[noreturn]] inline void fail(const char* fmt, ...) {
  std::va_list args;
  va_start(args, fmt);
  std::fprintf(stderr, "\n=== FUZZ INVARIANT BROKEN: ");
  std::vfprintf(stderr, fmt, args);
  std::fprintf(stderr, "\n");
  va_end(args);
  std::abort();
}

}  // namespace fuzz
