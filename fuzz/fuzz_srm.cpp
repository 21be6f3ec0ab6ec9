// libFuzzer harness for the SRM model file (srm::SequentialModel::load, format in
// native/core/srm/srm_file.cpp). Each input goes three ways: SequentialModel::load of the bytes as
// they are (checksum verified), parse_srm_file without the checksum (so mutated sections reach
// the checks), and SequentialModel::load of the bytes with their checksum fixed up. The two
// must agree, and whatever loads must work as a model: top_k/score, save and reload.
#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "fuzz_common.h"
#include "srm/params.h"
#include "srm/sequential_model.h"
#include "srm/srm_file.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace lmrec;
using namespace lmrec::srm;
using fuzz::fail;

namespace {

const char* code_name(const Error& e) { return error_code_name(e.code()); }

void exercise(const SequentialModel& r, const char* how) {
  const Shape& s = r.shape();
  if (r.param_count() != param_count(s)) fail("%s: %zu parameters for the shape", how, r.param_count());
  for (float p : r.popularity())
    if (!std::isfinite(p) || p < 0) fail("%s: popularity count %g", how, double(p));
  const int32_t last = int32_t(s.items - 1);
  const int32_t history[3] = {0, last, 0};
  for (const bool exclude : {false, true}) {
    const size_t k = std::min<size_t>(s.items, 3);
    int32_t items[3];
    float scores[3];
    size_t got = 0;
    try {
      got = r.top_k(history, 3, k, exclude, items, scores);
    } catch (const Error& e) {
      fail("%s: top_k threw [%s] %s", how, code_name(e), e.what());
    }
    const size_t avail = exclude ? s.items - (s.items > 1 ? 2 : 1) : s.items;
    if (got != std::min(k, avail)) fail("%s: top_k returned %zu of %zu", how, got, std::min(k, avail));
    std::set<int32_t> seen;
    for (size_t i = 0; i < got; ++i) {
      if (items[i] < 0 || uint32_t(items[i]) >= s.items) fail("%s: top_k returned item %d", how, items[i]);
      if (!seen.insert(items[i]).second) fail("%s: top_k returned item %d twice", how, items[i]);
      if (exclude && (items[i] == 0 || items[i] == last)) fail("%s: top_k returned an excluded item", how);
    }
  }
  const int32_t candidates[2] = {last, 0};
  float out[2];
  try {
    r.score(history, 1, candidates, 2, out);
  } catch (const Error& e) {
    fail("%s: score threw [%s] %s", how, code_name(e), e.what());
  }
}

void check_same(const SequentialModel& r, const SrmFileView& v, const char* how) {
  const std::vector<float> p = r.params();
  if (p.size() != v.param_count || std::memcmp(p.data(), v.params, p.size() * sizeof(float)) != 0)
    fail("%s: loaded parameters differ from the file's", how);
  if (std::memcmp(r.popularity().data(), v.popularity, r.popularity().size() * sizeof(float)) != 0)
    fail("%s: loaded popularity differs from the file's", how);
  if (r.steps_done() != v.steps) fail("%s: loaded steps differ from the file's", how);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = fuzz::scratch("input");
  static const std::string saved = fuzz::scratch("saved");

  // 1. The bytes as they are, through the public loader.
  fuzz::write_file(path, data, size);
  try {
    const std::unique_ptr<SequentialModel> r = SequentialModel::load(path);
    exercise(*r, "load");
  } catch (const Error&) {
  }

  // 2. The parser without the checksum. (libFuzzer's buffer is heap-allocated: aligned.)
  bool parsed = false;
  SrmFileView v;
  try {
    v = parse_srm_file(data, size, "<input>", false);
    parsed = true;
  } catch (const Error&) {
  }
  if (parsed) {
    if (v.param_count != param_count(v.shape)) fail("parse: param_count %zu does not fit the shape", v.param_count);
    for (size_t i = 0; i < v.shape.items; ++i)
      if (!std::isfinite(v.popularity[i]) || v.popularity[i] < 0)
        fail("parse: accepted popularity count %g for item %zu", double(v.popularity[i]), i);
    SequentialModel r(v.shape, 0);
    try {
      r.set_params(v.params, v.param_count);
    } catch (const Error& e) {
      fail("parse: set_params of parsed parameters threw [%s] %s", code_name(e), e.what());
    }
    exercise(r, "parse");
  }

  // 3. The bytes with the checksum fixed up: load must now agree with the parser.
  if (size >= sizeof(FileTrailer)) {
    std::vector<uint8_t> fixed(data, data + size);
    const uint32_t crc = crc32c(fixed.data(), size - sizeof(FileTrailer));
    std::memcpy(fixed.data() + size - sizeof(FileTrailer), &crc, sizeof crc);
    fuzz::write_file(path, fixed.data(), size);
    try {
      const std::unique_ptr<SequentialModel> r = SequentialModel::load(path);
      if (!parsed) fail("load accepted (checksum fixed) what the parser refuses");
      check_same(*r, v, "load(fixed)");
      exercise(*r, "load(fixed)");
      r->save(saved);
      const std::unique_ptr<SequentialModel> again = SequentialModel::load(saved);
      check_same(*again, v, "reload");
    } catch (const Error& e) {
      if (parsed) fail("load (checksum fixed) threw [%s] %s where the parser accepts", code_name(e), e.what());
    }
  }
  return 0;
}
