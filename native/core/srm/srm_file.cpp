// Saving and loading a Recommender. Format v1 (little-endian):
//   [0, 64)  header: "LMRECSRM", version, header bytes, shape, steps done, parameter count,
//            payload bytes
//   payload: parameters f32[param_count], popularity f32[items]
//   last 16: CRC-32C of every byte before it, then "LMRECEND" (as in index files)
// The optimiser's moments are not saved: update() after load() starts them afresh.
#include "srm/srm_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "srm/recommender.h"
#include "util/error.h"
#include "util/file_io.h"

namespace lmrec::srm {
namespace {

constexpr char kMagic[8] = {'L', 'M', 'R', 'E', 'C', 'S', 'R', 'M'};
constexpr uint32_t kVersion = 1;

struct Header {
  char magic[8];
  uint32_t version, header_bytes;
  uint32_t items, dim, blocks, heads, max_len, reserved;
  uint64_t steps, param_count, payload_bytes;
};
static_assert(sizeof(Header) == 64, "Header must be 64 bytes");

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::CorruptFile, "'" + path + "' is damaged (" + why + "); restore it from a good copy or retrain");
}

}  // namespace

void Recommender::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.header_bytes = sizeof(Header);
  h.items = shape_.items, h.dim = shape_.dim, h.blocks = shape_.blocks, h.heads = shape_.heads;
  h.max_len = shape_.max_len;
  h.steps = step_;
  h.param_count = params_.size();
  h.payload_bytes = (params_.size() + popularity_.size()) * sizeof(float);
  AtomicFileWriter w(path);
  w.write(&h, sizeof(h));
  w.write(params_.data(), params_.size() * sizeof(float));
  w.write(popularity_.data(), popularity_.size() * sizeof(float));
  write_trailer(w);
  w.commit();
}

SrmFileView parse_srm_file(const uint8_t* p, size_t size, const std::string& path, bool verify_crc) {
  if (size == 0 || std::memcmp(p, kMagic, std::min<size_t>(size, 8)) != 0)
    throw Error(ErrorCode::NotAModel, "'" + path + "' is not an lmrec SRM model file");
  if (size < sizeof(Header))
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short (" + std::to_string(size) + " bytes, not even a header)");
  Header h;
  std::memcpy(&h, p, sizeof(h));
  if (h.version > kVersion)
    throw Error(ErrorCode::UnsupportedVersion, "'" + path + "' uses SRM format v" + std::to_string(h.version) +
                                                   ", newer than this lmrec reads (v1): upgrade lmrec to load it");
  if (h.version == 0 || h.header_bytes != sizeof(Header)) corrupt(path, "bad header");
  Shape s;
  s.items = h.items, s.dim = h.dim, s.blocks = h.blocks, s.heads = h.heads, s.max_len = h.max_len;
  try {
    s.validate();
  } catch (const Error& e) {
    corrupt(path, std::string("bad shape: ") + e.what());
  }
  if (h.param_count != srm::param_count(s)) corrupt(path, "parameter count does not match the shape");
  if (h.payload_bytes != (h.param_count + s.items) * sizeof(float)) corrupt(path, "section sizes do not add up");
  const uint64_t total = sizeof(Header) + h.payload_bytes + sizeof(FileTrailer);
  if (size < total)
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short: " + std::to_string(size) + " bytes of the " +
                                              std::to_string(total) + " its header announces (an interrupted write or copy)");
  if (size > total) corrupt(path, "unexpected bytes after the end");
  if (const char* problem = trailer_problem(p, total, verify_crc)) corrupt(path, problem);

  SrmFileView v;
  v.shape = s;
  v.steps = h.steps;
  v.params = reinterpret_cast<const float*>(p + sizeof(Header));
  v.param_count = h.param_count;
  v.popularity = v.params + h.param_count;
  for (size_t i = 0; i < v.param_count; ++i)
    if (!std::isfinite(v.params[i])) corrupt(path, "non-finite parameter");
  // Counts of training events: what count_popularity() can produce (finite, >= 0).
  for (size_t i = 0; i < s.items; ++i)
    if (!(v.popularity[i] >= 0 && std::isfinite(v.popularity[i]))) corrupt(path, "negative or non-finite popularity count");
  return v;
}

std::unique_ptr<Recommender> Recommender::load(const std::string& path) {
  const std::shared_ptr<FileBytes> file = FileBytes::open(path, false);
  const SrmFileView v = parse_srm_file(file->data(), file->size(), path, true);
  auto r = std::make_unique<Recommender>(v.shape, 0);
  std::memcpy(r->params_.data(), v.params, v.param_count * sizeof(float));
  std::memcpy(r->popularity_.data(), v.popularity, size_t(v.shape.items) * sizeof(float));
  r->step_ = v.steps;
  return r;
}

}  // namespace lmrec::srm
