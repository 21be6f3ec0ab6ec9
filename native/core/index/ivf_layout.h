// What a partitioned index's searches read, swapped whole when the index trains again.
#pragma once
#include <memory>
#include <vector>

#include "index/ivf_index.h"
#include "index/vector_index.h"

namespace lmrec {

struct IvfIndex::Layout {
  std::vector<Partition> parts;      // one (everything) before the first training
  std::vector<float> centroids;      // parts.size() x dim once trained (normalised for cosine)
  std::unique_ptr<VectorIndex> probe_index;  // the centroids, f32, ranked by the query's metric
  size_t count = 0;
  size_t trained_count = 0;          // vectors held at the last training
  std::vector<CalibrationPoint> calibration;

  bool trained() const { return !centroids.empty(); }
  size_t probe_for(double recall) const;
};

// The flat f32 index of the centroids a query ranks partitions with, by the index's metric.
std::unique_ptr<VectorIndex> probe_index_for(const IndexOptions& options, const float* centroids, size_t nlist);

}  // namespace lmrec
