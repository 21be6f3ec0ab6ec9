// libFuzzer harness for the index file loaders (load_index: the flat VectorIndex, format in
// native/core/index/index_file.h, and the partitioned IvfIndex, ivf_file.cpp). Each input is
// written to a scratch file and loaded
//   - as it is with verify on (the checksum path),
//   - as it is with verify off (mutated sections reach the parser), read and mapped,
//   - with its checksum fixed up, verify on (mutated values reach the value checks), read
//     and mapped.
// Whatever loads must then behave as an index: size(), searches with every kernel table that
// runs here (ids that exist, distinct, in order), save and reload to the same answers, and
// add/remove (which copy a mapped index into memory). A verified load must also score finite
// and never fail a search; an unverified one holds whatever values the file has, so its
// scores may be NaN (and the search may report CORRUPT_FILE: see fuzz/README.md).
#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "fuzz_common.h"
#include "index/knn_index.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace lmrec;
using fuzz::fail;

namespace {

struct Results {
  std::vector<uint64_t> ids;
  std::vector<float> scores;
};

const char* code_name(const Error& e) { return error_code_name(e.code()); }

std::vector<float> make_queries(size_t dim, const uint8_t* data, size_t size) {
  std::vector<float> q(2 * dim);
  for (size_t d = 0; d < dim; ++d) {
    q[d] = 0.5f;
    q[dim + d] = float(int(data[d % size] % 7) - 3) + 0.25f;  // never all zero (cosine)
  }
  return q;
}

// False when an unverified index's values made the search fail (strict: never).
bool search_checked(const KnnIndex& index, const std::vector<float>& q, const SearchParams& p, bool strict,
                    const char* how, Results& r) {
  r.ids.assign(2 * p.k, 0);
  r.scores.assign(2 * p.k, 0.f);
  try {
    index.search(q.data(), 2, p, r.ids.data(), r.scores.data());
  } catch (const Error& e) {
    if (!strict && e.code() == ErrorCode::CorruptFile) return false;
    fail("%s: search (k %zu, rescore %zu) of a loaded index of %zu threw [%s] %s", how, p.k, p.rescore, index.size(),
         code_name(e), e.what());
  }
  const bool l2 = index.options().metric == Metric::L2;
  for (size_t qi = 0; qi < 2; ++qi) {
    std::set<uint64_t> seen;
    for (size_t i = 0; i < p.k; ++i) {
      const uint64_t id = r.ids[qi * p.k + i];
      const float s = r.scores[qi * p.k + i];
      if (!index.has(id)) fail("%s: search returned id %llu, which the index does not hold", how, (unsigned long long)id);
      if (!seen.insert(id).second) fail("%s: search returned id %llu twice", how, (unsigned long long)id);
      if (strict && !std::isfinite(s)) fail("%s: search returned a non-finite score (%g)", how, double(s));
      // (exact re-ranking sorts the originals' scores: unverified, they may be NaN, unordered)
      if (i > 0 && (strict || !p.rescore)) {
        const float prev = r.scores[qi * p.k + i - 1];
        if (l2 ? s < prev : s > prev) fail("%s: scores out of order (%g then %g; metric %d rescore %zu)", how, double(prev), double(s), int(index.options().metric), p.rescore);
      }
    }
  }
  return true;
}

void exercise(KnnIndex& index, const uint8_t* data, size_t size, bool strict, const char* how) {
  const size_t n = index.size();
  const size_t dim = index.options().dim;
  if (dim == 0 || dim > KnnIndex::kMaxDim) fail("%s: loaded dim %zu", how, dim);
  if (n > size / 8) fail("%s: %zu vectors from a file of %zu bytes", how, n, size);
  (void)index.memory_bytes();
  const std::vector<float> q = make_queries(dim, data, size);
  SearchParams p;
  if (n == 0) {
    p.k = 1;
    std::vector<uint64_t> ids(2);
    std::vector<float> scores(2);
    try {
      index.search(q.data(), 2, p, ids.data(), scores.data());
      fail("%s: a search of an empty loaded index succeeded", how);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::EmptyIndex) fail("%s: empty index search threw [%s] %s", how, code_name(e), e.what());
    }
  } else {
    p.k = std::min<size_t>(n, 4);
    Results plain, other;
    if (!search_checked(index, q, p, strict, how, plain)) return;
    if (index.options().keep_originals) {
      SearchParams pr = p;
      pr.rescore = 2;
      search_checked(index, q, pr, strict, how, other);
    }
    // Save and reload (checksum verified): the same index, the same answers.
    const std::string saved = fuzz::scratch("saved");
    try {
      index.save(saved);
    } catch (const Error& e) {
      fail("%s: saving a loaded index threw [%s] %s", how, code_name(e), e.what());
    }
    LoadOptions lo;
    lo.verify = strict;
    lo.threads = 1;
    lo.kernels = index.options().kernels;
    std::unique_ptr<KnnIndex> again;
    try {
      again = load_index(saved, lo);
    } catch (const Error& e) {
      fail("%s: reloading a saved index threw [%s] %s", how, code_name(e), e.what());
    }
    if (again->size() != n) fail("%s: reloaded %zu vectors, saved %zu", how, again->size(), n);
    Results back;
    if (!search_checked(*again, q, p, strict, how, back) || back.ids != plain.ids)
      fail("%s: the reloaded index answers differently", how);
    // Changes copy mapped sections into memory; the index must stay consistent.
    const uint64_t gone = plain.ids[0];
    try {
      index.remove(&gone, 1);
      if (index.has(gone) || index.size() != n - 1) fail("%s: remove left the index inconsistent", how);
      index.add(&gone, q.data(), 1);
      if (!index.has(gone) || index.size() != n) fail("%s: add left the index inconsistent", how);
    } catch (const Error& e) {
      // a partitioned index that trains again on add reads every stored value: unverified, they may be NaN
      if (!strict && e.code() == ErrorCode::CorruptFile) return;
      fail("%s: remove/add on a loaded index threw [%s] %s", how, code_name(e), e.what());
    }
    search_checked(index, q, p, strict, how, other);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = fuzz::scratch("input");
  static const simd::Kernels* kernels[8];
  static const int nk = simd::available_kernels(kernels, 8);
  int variant = 0;
  auto attempt = [&](bool verify, bool map, const char* bytes) {
    char how[128];
    LoadOptions o;
    o.verify = verify;
    o.map = map;
    o.threads = 1;
    o.kernels = kernels[variant++ % nk];
    std::snprintf(how, sizeof how, "load(%s bytes, verify %d, map %d, kernels %s)", bytes, verify, map, o.kernels->name);
    std::unique_ptr<KnnIndex> index;
    try {
      index = load_index(path, o);
    } catch (const Error&) {
      return;  // a typed refusal is the expected answer to a damaged file
    }
    exercise(*index, data, size, verify, how);
  };
  fuzz::write_file(path, data, size);
  attempt(true, false, "raw");
  attempt(false, false, "raw");
  attempt(false, true, "raw");
  if (size >= sizeof(FileTrailer)) {
    std::vector<uint8_t> fixed(data, data + size);
    const uint32_t crc = crc32c(fixed.data(), size - sizeof(FileTrailer));
    std::memcpy(fixed.data() + size - sizeof(FileTrailer), &crc, sizeof crc);
    fuzz::write_file(path, fixed.data(), size);
    attempt(true, false, "crc-fixed");
    attempt(true, true, "crc-fixed");
  }
  return 0;
}
