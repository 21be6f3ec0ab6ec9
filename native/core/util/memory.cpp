#include "util/memory.h"

#include <cstdlib>  // defines __GLIBC__ under glibc (any C library header does)

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace lmrec {

bool release_free_memory() {
#ifdef __GLIBC__
  return malloc_trim(0) != 0;
#else
  return false;
#endif
}

bool limit_heap_arenas(int count) {
#ifdef __GLIBC__
  return count >= 1 && mallopt(M_ARENA_MAX, count) == 1;
#else
  (void)count;
  return false;
#endif
}

HeapStats heap_stats() {
  HeapStats s;
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 33)
  const struct mallinfo2 m = mallinfo2();
  s.in_use = double(m.uordblks + m.hblkhd);
  s.held = double(m.arena + m.hblkhd);
#endif
  return s;
}

}  // namespace lmrec
