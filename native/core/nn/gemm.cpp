// BLIS-style blocking: B is packed kc x NR strip by strip, A kc x MR, and the micro-kernel
// adds each MR x NR tile into C. Edge tiles go through a small scratch tile.
#include "nn/gemm.h"

#include <algorithm>
#include <vector>

#include "util/buffer.h"
#include "util/thread_pool.h"

namespace lmrec::nn {
namespace {

constexpr size_t kKc = 256;     // depth of one packed panel: A and B strips stay in L1/L2
constexpr size_t kMcTiles = 12;  // A panel rows, in micro-tiles
constexpr size_t kNcTiles = 64;  // B panel columns, in micro-tiles

// Packs rows [i0, i0+m) x depth [p0, p0+kc) of A, times alpha, as strips of mr rows: strip s
// holds kc columns of mr floats. Rows past m are zero. Reads follow A's memory order (the
// writes land in a small buffer that stays in L1).
void pack_a(const Mat& A, size_t i0, size_t m, size_t p0, size_t kc, float alpha, size_t mr, float* out) {
  for (size_t s = 0; s < m; s += mr, out += kc * mr) {
    const size_t rows = std::min(mr, m - s);
    if (A.trans) {  // element (i, p) at p * ld + i: rows of the strip are contiguous
      for (size_t p = 0; p < kc; ++p) {
        const float* src = A.p + (p0 + p) * A.ld + i0 + s;
        float* dst = out + p * mr;
        size_t i = 0;
        for (; i < rows; ++i) dst[i] = alpha * src[i];
        for (; i < mr; ++i) dst[i] = 0.f;
      }
    } else {  // element (i, p) at i * ld + p: depth is contiguous
      for (size_t i = 0; i < rows; ++i) {
        const float* src = A.p + (i0 + s + i) * A.ld + p0;
        for (size_t p = 0; p < kc; ++p) out[p * mr + i] = alpha * src[p];
      }
      for (size_t i = rows; i < mr; ++i)
        for (size_t p = 0; p < kc; ++p) out[p * mr + i] = 0.f;
    }
  }
}

// Packs depth [p0, p0+kc) x columns [j0, j0+n) of B as strips of nr columns.
void pack_b(const Mat& B, size_t p0, size_t kc, size_t j0, size_t n, size_t nr, float* out) {
  for (size_t s = 0; s < n; s += nr, out += kc * nr) {
    const size_t cols = std::min(nr, n - s);
    if (!B.trans) {  // element (p, j) at p * ld + j: columns of the strip are contiguous
      for (size_t p = 0; p < kc; ++p) {
        const float* src = B.p + (p0 + p) * B.ld + j0 + s;
        float* dst = out + p * nr;
        size_t j = 0;
        for (; j < cols; ++j) dst[j] = src[j];
        for (; j < nr; ++j) dst[j] = 0.f;
      }
    } else {  // element (p, j) at j * ld + p: depth is contiguous
      for (size_t j = 0; j < cols; ++j) {
        const float* src = B.p + (j0 + s + j) * B.ld + p0;
        for (size_t p = 0; p < kc; ++p) out[p * nr + j] = src[p];
      }
      for (size_t j = cols; j < nr; ++j)
        for (size_t p = 0; p < kc; ++p) out[p * nr + j] = 0.f;
    }
  }
}

void scale_c(size_t M, size_t N, float beta, float* C, size_t ldc) {
  if (beta == 1.f) return;
  for (size_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.f)
      std::fill(row, row + N, 0.f);
    else
      for (size_t j = 0; j < N; ++j) row[j] *= beta;
  }
}

struct PackBuffers {
  Buffer<float> a, b;
};

}  // namespace

void sgemm(size_t M, size_t N, size_t K, float alpha, Mat A, Mat B, float beta, float* C, size_t ldc,
           const simd::Kernels& kernels) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.f) return scale_c(M, N, beta, C, ldc);
  // beta = 0: the first depth panel stores its tiles instead of adding them, so C is never read.
  if (beta != 0.f) scale_c(M, N, beta, C, ldc);
  const size_t mr = size_t(kernels.sgemm_mr), nr = size_t(kernels.sgemm_nr);
  const size_t mc = mr * kMcTiles, nc = nr * kNcTiles;
  thread_local PackBuffers pack;  // reused across calls; one per thread, so no locking
  if (pack.a.size() < mc * kKc) pack.a.resize(mc * kKc);
  if (pack.b.size() < nc * kKc) pack.b.resize(nc * kKc);
  float* pa = pack.a.mutable_data();
  float* pb = pack.b.mutable_data();
  alignas(64) float edge[16 * 64];  // one tile; micro-kernels have mr * nr <= 1024

  for (size_t j0 = 0; j0 < N; j0 += nc) {
    const size_t n = std::min(nc, N - j0);
    for (size_t p0 = 0; p0 < K; p0 += kKc) {
      const size_t kc = std::min(kKc, K - p0);
      const bool accumulate = p0 > 0 || beta != 0.f;
      pack_b(B, p0, kc, j0, n, nr, pb);
      for (size_t i0 = 0; i0 < M; i0 += mc) {
        const size_t m = std::min(mc, M - i0);
        pack_a(A, i0, m, p0, kc, alpha, mr, pa);
        for (size_t js = 0; js < n; js += nr) {
          const float* b = pb + js * kc;
          const size_t cols = std::min(nr, n - js);
          for (size_t is = 0; is < m; is += mr) {
            const float* a = pa + is * kc;
            const size_t rows = std::min(mr, m - is);
            float* c = C + (i0 + is) * ldc + j0 + js;
            if (rows == mr && cols == nr) {
              kernels.sgemm_tile(int(kc), a, b, c, ldc, accumulate);
              continue;
            }
            kernels.sgemm_tile(int(kc), a, b, edge, nr, false);
            for (size_t i = 0; i < rows; ++i)
              for (size_t j = 0; j < cols; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + edge[i * nr + j] : edge[i * nr + j];
          }
        }
      }
    }
  }
}

void sgemm_parallel(size_t M, size_t N, size_t K, float alpha, Mat A, Mat B, float beta, float* C,
                    size_t ldc, int threads, const simd::Kernels& kernels) {
  const size_t mr = size_t(kernels.sgemm_mr), nr = size_t(kernels.sgemm_nr);
  // One piece a thread (each piece packs the whole other operand, so more pieces cost more
  // packing), and enough work per piece that the hand-off is noise; pieces are whole tiles.
  const size_t work = M * N * K;
  const size_t max_pieces = std::max<size_t>(1, std::min<size_t>(size_t(threads), work / (1 << 18)));
  const bool by_rows = M / mr >= N / nr;
  const size_t extent = by_rows ? M : N, unit = by_rows ? mr : nr;
  const size_t units = (extent + unit - 1) / unit;
  const size_t pieces = std::min(max_pieces, units);
  if (threads <= 1 || pieces <= 1) return sgemm(M, N, K, alpha, A, B, beta, C, ldc, kernels);
  const size_t per = (units + pieces - 1) / pieces * unit;
  ThreadPool::global().parallel_for(int((extent + per - 1) / per), threads, [&](int piece) {
    const size_t begin = size_t(piece) * per, len = std::min(per, extent - begin);
    if (by_rows) {
      const Mat a = A.trans ? Mat{A.p + begin, A.ld, true} : Mat{A.p + begin * A.ld, A.ld, false};
      sgemm(len, N, K, alpha, a, B, beta, C + begin * ldc, ldc, kernels);
    } else {
      const Mat b = B.trans ? Mat{B.p + begin * B.ld, B.ld, true} : Mat{B.p + begin, B.ld, false};
      sgemm(M, len, K, alpha, A, b, beta, C + begin, ldc, kernels);
    }
  });
}

void sgemm_reference(size_t M, size_t N, size_t K, float alpha, Mat A, Mat B, float beta, float* C, size_t ldc) {
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < N; ++j) {
      double s = 0;
      for (size_t p = 0; p < K; ++p) s += double(A.at(i, p)) * double(B.at(p, j));
      float& c = C[i * ldc + j];
      c = float(alpha * s + (beta == 0.f ? 0.0 : double(beta) * c));
    }
}

}  // namespace lmrec::nn
