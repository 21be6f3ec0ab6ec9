#include "index/knn_index.h"

#include <algorithm>
#include <cstring>

#include "index/index_file.h"
#include "index/ivf_index.h"
#include "index/vector_index.h"
#include "util/error.h"
#include "util/file_io.h"

namespace lmrec {

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::InnerProduct: return "ip";
    case Metric::Cosine: return "cosine";
    case Metric::L2: return "l2";
  }
  return "?";
}

const char* storage_name(simd::Storage s) {
  switch (s) {
    case simd::Storage::Int8: return "int8";
    case simd::Storage::F16: return "f16";
    case simd::Storage::F32: return "f32";
  }
  return "?";
}

KnnIndex::KnnIndex(const IndexOptions& options) : options_(options) {
  if (options.dim == 0 || options.dim > kMaxDim)
    throw Error(ErrorCode::InvalidArgument,
                "dim must be between 1 and " + std::to_string(kMaxDim) + ", got " + std::to_string(options.dim));
  if (options.threads < 0) throw Error(ErrorCode::InvalidArgument, "threads must be >= 0");
  if (!options_.kernels) options_.kernels = &simd::best_kernels();
}

size_t KnnIndex::result_count(size_t nq, size_t k) const {
  const size_t r = std::min(k, size());
  if (r && nq > kMaxResultBytes / (r * (sizeof(uint64_t) + sizeof(float))))
    throw Error(ErrorCode::RequestTooLarge, std::to_string(nq) + " queries x " + std::to_string(r) +
                                                " results exceed the per-call limit of " +
                                                std::to_string(kMaxResultBytes >> 20) + " MiB; search in smaller batches");
  return r;
}

std::unique_ptr<KnnIndex> load_index(const std::string& path, const LoadOptions& options) {
  std::shared_ptr<FileBytes> file = FileBytes::open(path, options.map);
  if (file->size() >= 8 && std::memcmp(file->data(), kIvfMagic, 8) == 0) return IvfIndex::load(std::move(file), path, options);
  return VectorIndex::load(std::move(file), path, options);
}

}  // namespace lmrec
