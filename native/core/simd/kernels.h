// The scan kernels: one table per instruction set, chosen at run time.
//
// Code layout (shared by every kernel). Vectors are stored in blocks of kLanes = 16.
//  - int8: a block is dim_padded/4 groups of 64 bytes; group g holds, for each lane, the four
//    codes of dims 4g..4g+3, biased to unsigned (code + 128). One AVX-512 VNNI `vpdpbusd`
//    with the query's four signed codes broadcast then advances 16 dot products at once with
//    no horizontal reduction, and the bias becomes one per-query constant (-128 * sum(q)).
//  - f32 / f16: a block is dim_padded rows of 16 lanes (64 or 32 bytes a row).
// Padding lanes and padding dims hold zero (code 128 for int8), so they add nothing.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lmrec::simd {

constexpr int kLanes = 16;
constexpr int kDimAlign = 4;  // dims are padded to a multiple of this

inline size_t padded_dim(size_t dim) { return (dim + kDimAlign - 1) / kDimAlign * kDimAlign; }

enum class Storage : uint8_t { Int8 = 0, F16 = 1, F32 = 2 };

// Bytes one block of kLanes vectors takes.
inline size_t block_bytes(Storage s, size_t dim_padded) {
  switch (s) {
    case Storage::Int8: return dim_padded * kLanes;
    case Storage::F16: return dim_padded * kLanes * 2;
    case Storage::F32: return dim_padded * kLanes * 4;
  }
  return 0;
}

// Queries prepared for one storage type; nq rows of dim_padded.
struct QueryBlock {
  int nq = 0;
  size_t dim_padded = 0;
  const int8_t* codes = nullptr;      // int8 storage: quantized queries
  const int32_t* acc_init = nullptr;  // int8 storage: -128 * sum(codes) per query
  const float* values = nullptr;      // f16/f32 storage: the queries themselves
  const float* key_mul = nullptr;     // per query: scales the dot product when there is a bias
  const float* inv_key_mul = nullptr; // 1 / key_mul
};

// The stored side. `scale` (int8 only) and `bias` (l2 only, else null) have one float per
// lane of every block, so kernels can load them 16 at a time.
struct CodeView {
  Storage storage = Storage::Int8;
  size_t dim_padded = 0;
  const uint8_t* blocks = nullptr;
  const float* scale = nullptr;
  const float* bias = nullptr;
  size_t count = 0;  // valid vectors; lanes at or past it are ignored
};

// Per-query bounded top-k. Kernels compare keys against thresholds() and hand survivors to
// push(), which lives in a baseline-compiled file: it is rare, and keeping shared code out of
// the per-ISA files avoids one of them lending wide instructions to the others.
class TopKSink {
 public:
  virtual ~TopKSink() = default;
  virtual const float* thresholds() const = 0;
  virtual void push(int query, float key, uint32_t position) = 0;
};

// Ranking key of vector x for query q (larger is better), with t the dot product:
//   t = scale[x] * dot(codes_q, codes_x)   (int8)    or   dot(q, x)   (f16/f32)
//   key = t                                (no bias)  or   key_mul[q] * t + bias[x]
// scan() adds every vector of blocks [block_begin, block_end) to the sink.
using ScanFn = void (*)(const QueryBlock& q, const CodeView& x, size_t block_begin,
                        size_t block_end, TopKSink& sink);

struct Kernels {
  const char* name;
  ScanFn scan_int8;
  ScanFn scan_f16;
  ScanFn scan_f32;
  // Machine probes: a register-only loop of int8 multiply-adds (returns the count done) and a
  // streaming read of `bytes` (returns a checksum so the loads cannot be optimised away).
  uint64_t (*int8_peak_loop)(uint64_t iterations);
  uint64_t (*stream_read)(const uint8_t* data, size_t bytes);
  // f32 GEMM micro-kernel (see f32_kernels.h): c[sgemm_mr x sgemm_nr] (+)= packed a · packed b.
  int sgemm_mr, sgemm_nr;
  void (*sgemm_tile)(int kc, const float* a, const float* b, float* c, size_t ldc, bool accumulate);
  // out[i] = dot(row i of x, q) over n rows of dim floats.
  void (*dot_rows)(const float* x, size_t n, size_t dim, const float* q, float* out);
  // x[i] = exp(x[i] - shift); returns the sum (softmax).
  float (*exp_shifted)(float* x, size_t n, float shift);
};

// Every kernel table this CPU can run, best first; the scalar one is always last.
int available_kernels(const Kernels** out, int max);
const Kernels& best_kernels();
// nullptr when the name is unknown or the CPU cannot run it.
const Kernels* find_kernels(const char* name);

const Kernels* kernels_scalar();
const Kernels* kernels_avx2();        // null when not compiled in
const Kernels* kernels_avx512vnni();  // null when not compiled in
const Kernels* kernels_neon();        // null when not compiled in

}  // namespace lmrec::simd
