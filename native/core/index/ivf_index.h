// A partitioned (inverted-file, IVF) index over the same compact codes as VectorIndex. k-means
// splits the vectors into partitions, each vector stored as the code of its residual from the
// partition's centroid (smaller than the vector, so int8 loses less; a query's key for the
// centroid is added back per partition); a query ranks the partition centroids and scans only
// the `probe` nearest partitions with the SIMD scan kernels (queries of a batch that probe the
// same partition share its scan), keeping a bounded top-k, optionally re-scored in fp32.
//
// Training is automatic: the index scans everything, as one partition, until it holds enough
// vectors (partitions x 32 when a count was given, else 16,384, where about sqrt(n) partitions
// start to pay); then k-means runs on a seeded sample and every vector goes to its nearest
// centroid. Later vectors join their nearest partition. The index trains again, on all it
// holds, when it has doubled since the last training or its largest partition has grown past
// 8x the mean (lopsided inserts); with partitions 'auto' that also resizes it to sqrt(n).
//
// Each training calibrates `probe` against recall: sampled stored vectors are searched with
// growing probe counts and compared with a scan of every partition (recall@10 of the partition
// pruning, the query itself left out), so search can take a recall target instead of a probe.
//
// Thread safety: searches run concurrently with each other; add/remove are serialised by a
// writer lock; codes and trainings are computed while searches go on, which wait only while
// vectors are copied into (or out of) their partitions or a new training is swapped in.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "index/knn_index.h"
#include "index/scoring.h"
#include "util/buffer.h"
#include "util/file_io.h"

namespace lmrec {

constexpr char kIvfMagic[8] = {'L', 'M', 'R', 'E', 'C', 'I', 'V', 'F'};

struct CalibrationPoint {
  uint32_t probe;
  float recall;
};

class IvfIndex final : public KnnIndex {
 public:
  static constexpr int kFormatVersion = 1;
  static constexpr size_t kMaxPartitions = size_t(1) << 16;
  static constexpr size_t kAutoTrainAt = 16384;   // 'auto': trains once it holds this many
  static constexpr size_t kTrainPerPartition = 32; // a given count: trains at partitions x this
  static constexpr size_t kSamplePerPartition = 256;  // k-means sample
  static constexpr size_t kLopsided = 8;          // largest partition / mean that retrains
  static constexpr double kDefaultRecall = 0.95;
  static constexpr size_t kCalibrationQueries = 256;

  explicit IvfIndex(const IndexOptions& options);
  ~IvfIndex() override;

  void add(const uint64_t* ids, const float* vectors, size_t n) override;
  void remove(const uint64_t* ids, size_t n) override;
  // Scans the ids (a partitioned index keeps no id map: it would cost more memory than the codes' overheads).
  bool has(uint64_t id) const override;
  size_t size() const override;
  size_t memory_bytes() const override;
  size_t partitions() const override;
  std::unique_ptr<KnnIndex> empty_copy() const override;
  size_t search(const float* queries, size_t nq, const SearchParams& params, uint64_t* out_ids,
                float* out_scores) const override;
  void save(const std::string& path) const override;
  static std::unique_ptr<IvfIndex> load(std::shared_ptr<FileBytes> file, const std::string& path,
                                        const LoadOptions& options);

  // The last training's probe-vs-recall curve (empty before the first training).
  std::vector<CalibrationPoint> calibration() const;
  // The probe count a recall target asks for (all partitions when the curve never reaches it).
  size_t probe_for(double recall) const;

  struct Partition {
    size_t count = 0;
    Buffer<uint64_t> ids;
    Buffer<float> scale;      // int8: per lane of every block
    Buffer<float> bias;       // l2: per lane of every block
    Buffer<uint8_t> blocks;
    Buffer<float> originals;  // kept originals, count x dim
  };
  struct Layout;

 private:
  size_t search_layout(const Layout& L, const float* queries, size_t nq, const SearchParams& params,
                       uint64_t* out_ids, float* out_scores) const;
  // Vectors in the space partitions are trained in (normalised for cosine) with their ids.
  void gather_all(const Layout& L, std::vector<float>& vectors, std::vector<uint64_t>& ids) const;
  // k-means on a sample (or the given centroids, when the index was made by empty_copy), then
  // every vector into its partition and the probe calibrated
  std::shared_ptr<Layout> train(const float* vectors, const uint64_t* ids, size_t n) const;
  void calibrate(Layout& L, const float* vectors, const uint64_t* ids, size_t n) const;
  // Codes of the residuals of n vectors (training space) from their partitions' centroids.
  struct Residuals {
    std::vector<int8_t> codes;  // int8
    std::vector<float> scales;  // int8
    std::vector<float> values;  // f16/f32
    std::vector<float> bias;    // l2: -|x|^2 / 2 of the vector itself
  };
  Residuals encode(const Layout& L, const float* x, const uint32_t* part, size_t n) const;
  void append(Layout& L, size_t part, const Residuals& e, size_t row, const float* original, uint64_t id) const;
  bool needs_training(const Layout& L, size_t new_count) const;

  size_t dim_padded_;
  std::vector<float> given_centroids_;  // from empty_copy: the first training takes these
  std::shared_ptr<Layout> layout_;
  std::shared_ptr<FileBytes> file_;   // backs the views of a loaded index
  mutable std::shared_mutex mu_;      // layout_ and its partitions: searches share it
  std::mutex write_mu_;               // one add/remove at a time
};

}  // namespace lmrec
