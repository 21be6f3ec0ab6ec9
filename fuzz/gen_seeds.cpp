// Writes the seed corpora under fuzz/corpus/: small valid files saved by the code itself, one
// per metric, storage and originals flag (flat index), partitioned indexes trained and not,
// and a few tiny shapes (SRM).
// Built and run by `node scripts/fuzz.mjs --seeds` (needs clang); the seeds are committed.
#include <cstdio>
#include <string>
#include <vector>

#include "index/ivf_index.h"
#include "index/vector_index.h"
#include "srm/sequential_model.h"

using namespace lmrec;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: gen_seeds <corpus dir>\n");
    return 2;
  }
  const std::string root = argv[1];
  const char* metrics[] = {"ip", "cosine", "l2"};
  const char* storages[] = {"int8", "f16", "f32"};
  int written = 0;
  for (int m = 0; m < 3; ++m)
    for (int s = 0; s < 3; ++s)
      for (int keep = 0; keep < 2; ++keep) {
        IndexOptions o;
        o.dim = 5;  // padded to 8: padding dims are present
        o.metric = Metric(m);
        o.storage = simd::Storage(s);
        o.keep_originals = keep;
        o.threads = 1;
        VectorIndex index(o);
        const size_t n = (m + s + keep) % 3 == 0 ? 17 : 3;  // 17 fills a block and starts another
        std::vector<uint64_t> ids(n);
        std::vector<float> v(n * o.dim);
        for (size_t i = 0; i < n; ++i) {
          ids[i] = 1000 + 7 * i;
          for (size_t d = 0; d < o.dim; ++d) v[i * o.dim + d] = float(int((i * 5 + d * 3) % 11) - 5) * 0.25f + 0.1f;
        }
        index.add(ids.data(), v.data(), n);
        index.save(root + "/index/" + metrics[m] + "-" + storages[s] + (keep ? "-orig" : "") + ".lmi");
        ++written;
      }
  {  // an empty index
    IndexOptions o;
    o.dim = 3;
    VectorIndex index(o);
    index.save(root + "/index/empty.lmi");
    ++written;
  }
  // partitioned: 3 partitions train at 96 vectors; 100 trains, 20 does not
  for (int m = 0; m < 3; ++m)
    for (int s : {0, 2})
      for (size_t n : {size_t(20), size_t(100)}) {
        IndexOptions o;
        o.dim = 5;
        o.metric = Metric(m);
        o.storage = simd::Storage(s);
        o.keep_originals = n == 100 && s == 0;
        o.threads = 1;
        o.partitioned = true;
        o.partitions = 3;
        IvfIndex index(o);
        std::vector<uint64_t> ids(n);
        std::vector<float> v(n * o.dim);
        for (size_t i = 0; i < n; ++i) {
          ids[i] = 500 + 3 * i;
          for (size_t d = 0; d < o.dim; ++d) v[i * o.dim + d] = float(int((i * 7 + d * 5) % 13) - 6) * 0.3f + float(i % 3);
        }
        index.add(ids.data(), v.data(), n);
        index.save(root + "/index/ivf-" + metrics[m] + "-" + storages[s] + "-" + std::to_string(n) + ".lmi");
        ++written;
      }
  struct {
    uint32_t items, dim, blocks, heads, max_len;
  } shapes[] = {{3, 4, 1, 1, 4}, {5, 4, 1, 2, 3}, {2, 2, 2, 1, 2}};
  for (const auto& sh : shapes) {
    srm::Shape s;
    s.items = sh.items, s.dim = sh.dim, s.blocks = sh.blocks, s.heads = sh.heads, s.max_len = sh.max_len;
    srm::SequentialModel r(s, 7);
    srm::Sequences seqs;
    for (uint32_t i = 0; i < 2 * sh.items; ++i) seqs.items.push_back(int32_t(i % sh.items));
    seqs.offsets.push_back(seqs.items.size());
    r.count_popularity(seqs, true);
    r.save(root + "/srm/" + std::to_string(sh.items) + "x" + std::to_string(sh.dim) + "-b" + std::to_string(sh.blocks) +
           "-h" + std::to_string(sh.heads) + "-l" + std::to_string(sh.max_len) + ".srm");
    ++written;
  }
  std::printf("wrote %d seed files under %s\n", written, root.c_str());
  return 0;
}
