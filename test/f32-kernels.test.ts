/**
 * The f32 kernels behind the SRM, on every instruction set this CPU runs: the GEMM against a
 * double-precision triple loop, for all transpose combinations and sizes that leave partial
 * tiles and panels; the threaded split, which must give bit-identical results (training
 * determinism rests on it); the many-rows dot product; and the softmax exponential.
 */
import { describe, expect, it } from 'vitest';
import { native } from '../src/addon/loader.js';
import { Random } from '../src/util/random.js';

function matrix(n: number, rng: Random): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** C = alpha op(A) op(B) + beta C in doubles; op(A) is m x k, op(B) k x n. */
function reference(
  m: number, n: number, k: number, alpha: number,
  a: Float32Array, ta: boolean, b: Float32Array, tb: boolean, beta: number, c: Float32Array,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i]! : a[i * k + p]!) * (tb ? b[j * k + p]! : b[p * n + j]!);
      out[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * n + j]!);
    }
  return out;
}

const SIZES: [number, number, number][] = [
  [1, 1, 1], [7, 5, 3], [8, 32, 64], [13, 33, 257], [100, 70, 9], [3, 600, 40], [260, 17, 300],
];

describe('sgemm', () => {
  for (const kernel of native.kernels()) {
    it(`${kernel}: matches the reference for every transpose, odd sizes, alpha and beta`, () => {
      const rng = new Random(11);
      for (const [m, n, k] of SIZES)
        for (const ta of [false, true])
          for (const tb of [false, true]) {
            const a = matrix(m * k, rng), b = matrix(k * n, rng), c = matrix(m * n, rng);
            for (const [alpha, beta] of [[1, 0], [0.5, 1], [-2, 0.25]] as const) {
              const want = reference(m, n, k, alpha, a, ta, b, tb, beta, c);
              const got = c.slice();
              native.sgemm(kernel, m, n, k, alpha, a, ta, b, tb, beta, got, 1);
              let worst = 0;
              for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
              // float32 accumulation over k terms of unit-variance products
              expect(worst, `${m}x${n}x${k} ta=${ta} tb=${tb}`).toBeLessThan(2e-6 * Math.sqrt(k) * Math.abs(alpha) * 4 + 1e-6);
            }
          }
    });
  }

  for (const kernel of native.kernels()) {
    it(`${kernel}: dot products of one query with many rows match the reference`, () => {
      const rng = new Random(4);
      for (const [rows, dim] of [[1, 1], [7, 3], [9, 64], [33, 70], [5, 129]] as const) {
        const x = matrix(rows * dim, rng), q = matrix(dim, rng);
        const want = reference(rows, 1, dim, 1, x, false, q, false, 0, new Float32Array(rows));
        const got = native.dotRows(kernel, x, dim, q);
        for (let i = 0; i < rows; i++) expect(Math.abs(got[i]! - want[i]!), `${rows}x${dim} row ${i}`).toBeLessThan(1e-5 * Math.sqrt(dim) * 4);
      }
    });
  }

  for (const kernel of native.kernels()) {
    it(`${kernel}: exp(x - shift) within 2e-7 relative of Math.exp, 0 below the float range`, () => {
      const x = Float32Array.from({ length: 203 }, (_, i) => -100 + i * 0.5 + (i % 7) * 0.01);
      x[5] = -Infinity;
      const { values, sum } = native.expShifted(kernel, x, 1.5);
      let want = 0;
      for (let i = 0; i < x.length; i++) {
        const arg = Math.fround(x[i]! - 1.5); // the kernel subtracts in float
        const e = Math.exp(arg);
        want += values[i]!;
        if (arg < -87.3) expect(values[i]).toBe(0);
        else expect(Math.abs(values[i]! - e) / e, `x = ${x[i]}`).toBeLessThan(2e-7 * 4);
      }
      expect(Math.abs(sum - want) / want).toBeLessThan(1e-6);
    });
  }

  it('beta = 0 ignores NaN already in C', () => {
    const c = new Float32Array(4).fill(Number.NaN);
    native.sgemm(undefined, 2, 2, 1, 1, Float32Array.from([1, 2]), false, Float32Array.from([3, 4]), false, 0, c, 1);
    expect(Array.from(c)).toEqual([3, 4, 6, 8]);
  });

  it('gives bit-identical results on 1, 2 and 3 threads, split by rows or by columns', () => {
    const rng = new Random(5);
    for (const [m, n, k] of [[700, 64, 64], [64, 900, 128]] as const) {
      const a = matrix(m * k, rng), b = matrix(k * n, rng);
      const outs = [1, 2, 3].map((threads) => {
        const c = new Float32Array(m * n);
        native.sgemm(undefined, m, n, k, 1, a, false, b, false, 0, c, threads);
        return c;
      });
      expect(Buffer.from(outs[1]!.buffer).equals(Buffer.from(outs[0]!.buffer))).toBe(true);
      expect(Buffer.from(outs[2]!.buffer).equals(Buffer.from(outs[0]!.buffer))).toBe(true);
    }
  });

  it('rejects operands that do not match the sizes', () => {
    expect(() => native.sgemm(undefined, 2, 2, 2, 1, new Float32Array(3), false, new Float32Array(4), false, 0, new Float32Array(4), 1)).toThrow(
      expect.objectContaining({ code: 'DIM_MISMATCH' }),
    );
  });
});
