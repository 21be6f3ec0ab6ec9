// Saving and loading a SequentialModel. Format v2 (little-endian):
//   [0, 96)  header: "LMRECSRM", version, header bytes, shape (with the compression module's),
//            steps done, parameter count, payload bytes
//   payload: parameters f32[param_count], popularity f32[items], ID flags u8[items] padded
//            to 4 bytes, then with a compression module the item codes: int8 (value·127)
//            [items x code_dim] padded to 4 bytes, or f32 when the model keeps fp32 codes
//   last 16: CRC-32C of every byte before it, then "LMRECEND" (as in index files)
// v1 (a 64-byte header, parameters and popularity only; every item has an ID) still loads.
// The optimiser's moments are not saved: update() after load() starts them afresh.
#include "srm/srm_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "srm/sequential_model.h"
#include "util/error.h"
#include "util/file_io.h"

namespace lmrec::srm {
namespace {

constexpr char kMagic[8] = {'L', 'M', 'R', 'E', 'C', 'S', 'R', 'M'};
constexpr uint32_t kVersion = 2;

struct HeaderV1 {
  char magic[8];
  uint32_t version, header_bytes;
  uint32_t items, dim, blocks, heads, max_len, reserved;
  uint64_t steps, param_count, payload_bytes;
};
static_assert(sizeof(HeaderV1) == 64, "the v1 header is 64 bytes");

struct Header : HeaderV1 {
  uint32_t code_in, code_dim, code_hidden, code_int8;
  uint64_t spare[2];
};
static_assert(sizeof(Header) == 96, "Header must be 96 bytes");

size_t pad4(size_t n) { return (n + 3) & ~size_t(3); }

size_t codes_bytes(const Shape& s) {
  if (!s.has_codes()) return 0;
  const size_t n = size_t(s.items) * s.code_dim;
  return s.code_int8 ? pad4(n) : n * sizeof(float);
}

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::CorruptFile, "'" + path + "' is damaged (" + why + "); restore it from a good copy or retrain");
}

}  // namespace

void SequentialModel::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.header_bytes = sizeof(Header);
  h.items = shape_.items, h.dim = shape_.dim, h.blocks = shape_.blocks, h.heads = shape_.heads;
  h.max_len = shape_.max_len;
  h.code_in = shape_.code_in, h.code_dim = shape_.code_dim, h.code_hidden = shape_.code_hidden;
  h.code_int8 = shape_.code_int8;
  h.steps = step_;
  h.param_count = params_.size();
  h.payload_bytes = (params_.size() + popularity_.size()) * sizeof(float) + pad4(shape_.items) + codes_bytes(shape_);
  AtomicFileWriter w(path);
  w.write(&h, sizeof(h));
  w.write(params_.data(), params_.size() * sizeof(float));
  w.write(popularity_.data(), popularity_.size() * sizeof(float));
  std::vector<uint8_t> mask(pad4(shape_.items), 0);
  std::copy(id_mask_.begin(), id_mask_.end(), mask.begin());
  w.write(mask.data(), mask.size());
  if (shape_.has_codes() && shape_.code_int8) {
    std::vector<int8_t> q(pad4(codes_.size()), 0);
    for (size_t i = 0; i < codes_.size(); ++i) q[i] = int8_t(std::lround(codes_[i] * 127.f));
    w.write(q.data(), q.size());
  } else if (shape_.has_codes()) {
    w.write(codes_.data(), codes_.size() * sizeof(float));
  }
  write_trailer(w);
  w.commit();
}

SrmFileView parse_srm_file(const uint8_t* p, size_t size, const std::string& path, bool verify_crc) {
  if (size == 0 || std::memcmp(p, kMagic, std::min<size_t>(size, 8)) != 0)
    throw Error(ErrorCode::NotAModel, "'" + path + "' is not an lmrec SRM model file");
  if (size < sizeof(HeaderV1))
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short (" + std::to_string(size) + " bytes, not even a header)");
  Header h{};
  std::memcpy(&h, p, sizeof(HeaderV1));
  if (h.version > kVersion)
    throw Error(ErrorCode::UnsupportedVersion, "'" + path + "' uses SRM format v" + std::to_string(h.version) +
                                                   ", newer than this lmrec reads (v2): upgrade lmrec to load it");
  const bool v1 = h.version == 1;
  const size_t header_bytes = v1 ? sizeof(HeaderV1) : sizeof(Header);
  if (h.version == 0 || h.header_bytes != header_bytes) corrupt(path, "bad header");
  if (size < header_bytes)
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short (" + std::to_string(size) + " bytes, not even a header)");
  if (!v1) std::memcpy(&h, p, sizeof(Header));
  if (h.code_int8 > 1) corrupt(path, "bad header");
  Shape s;
  s.items = h.items, s.dim = h.dim, s.blocks = h.blocks, s.heads = h.heads, s.max_len = h.max_len;
  s.code_in = h.code_in, s.code_dim = v1 ? s.code_dim : h.code_dim, s.code_hidden = h.code_hidden;
  s.code_int8 = v1 || h.code_int8;
  try {
    s.validate();
  } catch (const Error& e) {
    corrupt(path, std::string("bad shape: ") + e.what());
  }
  if (h.param_count != srm::param_count(s)) corrupt(path, "parameter count does not match the shape");
  const uint64_t extra = v1 ? 0 : pad4(s.items) + codes_bytes(s);
  if (h.payload_bytes != (h.param_count + s.items) * sizeof(float) + extra) corrupt(path, "section sizes do not add up");
  const uint64_t total = header_bytes + h.payload_bytes + sizeof(FileTrailer);
  if (size < total)
    throw Error(ErrorCode::TruncatedFile, "'" + path + "' is cut short: " + std::to_string(size) + " bytes of the " +
                                              std::to_string(total) + " its header announces (an interrupted write or copy)");
  if (size > total) corrupt(path, "unexpected bytes after the end");
  if (const char* problem = trailer_problem(p, total, verify_crc)) corrupt(path, problem);

  SrmFileView v;
  v.shape = s;
  v.steps = h.steps;
  v.params = reinterpret_cast<const float*>(p + header_bytes);
  v.param_count = h.param_count;
  v.popularity = v.params + h.param_count;
  if (!v1) {
    v.id_mask = reinterpret_cast<const uint8_t*>(v.popularity + s.items);
    for (size_t i = 0; i < s.items; ++i)
      if (v.id_mask[i] > 1) corrupt(path, "bad ID flag");
    const uint8_t* codes = v.id_mask + pad4(s.items);
    if (s.has_codes() && s.code_int8) {
      v.codes_i8 = reinterpret_cast<const int8_t*>(codes);
      for (size_t i = 0; i < size_t(s.items) * s.code_dim; ++i)
        if (v.codes_i8[i] == -128) corrupt(path, "item code out of range");
    } else if (s.has_codes()) {
      v.codes_f32 = reinterpret_cast<const float*>(codes);
      for (size_t i = 0; i < size_t(s.items) * s.code_dim; ++i)
        if (!(std::abs(v.codes_f32[i]) <= 2.f)) corrupt(path, "item code out of range");
    }
  }
  for (size_t i = 0; i < v.param_count; ++i)
    if (!std::isfinite(v.params[i])) corrupt(path, "non-finite parameter");
  // Counts of training events: what count_popularity() can produce (finite, >= 0).
  for (size_t i = 0; i < s.items; ++i)
    if (!(v.popularity[i] >= 0 && std::isfinite(v.popularity[i]))) corrupt(path, "negative or non-finite popularity count");
  return v;
}

std::unique_ptr<SequentialModel> SequentialModel::load(const std::string& path) {
  const std::shared_ptr<FileBytes> file = FileBytes::open(path, false);
  const SrmFileView v = parse_srm_file(file->data(), file->size(), path, true);
  auto r = std::make_unique<SequentialModel>(v.shape, 0);
  std::memcpy(r->params_.data(), v.params, v.param_count * sizeof(float));
  std::memcpy(r->popularity_.data(), v.popularity, size_t(v.shape.items) * sizeof(float));
  if (v.id_mask) std::copy_n(v.id_mask, v.shape.items, r->id_mask_.begin());
  const size_t nc = size_t(v.shape.items) * v.shape.code_dim;
  if (v.codes_i8)
    for (size_t i = 0; i < nc; ++i) r->codes_[i] = float(v.codes_i8[i]) / 127.f;
  if (v.codes_f32) std::copy_n(v.codes_f32, nc, r->codes_.begin());
  r->step_ = v.steps;
  return r;
}

}  // namespace lmrec::srm
