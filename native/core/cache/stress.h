// A concurrency check of the segment cache for the tests: threads put and get overlapping
// keys whose values are a known function of the key, and count any value that comes back
// wrong and any moment the cache holds more than its budget.
#pragma once
#include <cstddef>
#include <cstdint>

#include "cache/segment_cache.h"

namespace lmrec::cache {

struct StressReport {
  uint64_t ops = 0, hits = 0, wrong_values = 0, over_budget = 0, max_bytes = 0;
};

StressReport stress(SegmentCache& cache, int threads, size_t ops_per_thread, uint64_t seed);

}  // namespace lmrec::cache
