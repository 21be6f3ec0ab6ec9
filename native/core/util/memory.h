// Giving freed heap memory back to the operating system. glibc keeps freed memory in its
// arenas for reuse, and once a large block has been freed it raises its mmap threshold (up to
// 32 MiB), so later blocks of that size come from the arenas too: a process that rebuilds large
// structures over and over (lmrec's indexes after every model update) keeps its peak and
// fragments it.
#pragma once

namespace lmrec {

// Releases the free pages of every heap arena to the operating system (glibc: malloc_trim(0)).
// Returns whether any memory was released; false also where the C library has no such call.
bool release_free_memory();

// Caps the heap arenas threads allocate from (glibc: mallopt(M_ARENA_MAX)), as the
// MALLOC_ARENA_MAX environment variable does at start: by default glibc gives up to 8 per core,
// and each keeps the peak of the large blocks freed in it. Arenas made before the call stay.
// Returns whether the C library took it.
bool limit_heap_arenas(int count);

// Bytes the C heap hands out now (in use) and holds from the operating system (in use plus
// free but kept), over every arena and mapped block (glibc 2.33+: mallinfo2; -1 elsewhere).
// Tells a growing heap (in use rises) from one that keeps what it freed (held rises).
struct HeapStats {
  double in_use = -1;
  double held = -1;
};
HeapStats heap_stats();

}  // namespace lmrec
