/**
 * Every kernel this CPU runs (AVX-512 VNNI, AVX2, NEON, scalar) against the naive reference,
 * over odd sizes: partial blocks of 16, query tiles with remainders, dims not a multiple of 4.
 */
import { describe, expect, it } from 'vitest';
import { VectorIndex, type Metric, type Storage } from '../src/index.js';
import { Random } from '../src/util/random.js';
import { referenceScorer } from './helpers/reference.js';

const kernels = VectorIndex.kernels();
const DIMS = [1, 3, 17, 64, 128, 1536];
const METRICS: Metric[] = ['ip', 'l2', 'cosine'];
const STORAGES: Storage[] = ['int8', 'f16', 'f32'];

function randomMatrix(rows: number, dim: number, seed: number): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length: rows * dim }, () => rng.normal() + 0.3);
}

/** Tolerance on a score: float32 rounding of the kernel's arithmetic, relative to magnitudes. */
function tolerance(metric: Metric, storage: Storage, dim: number, query: Float32Array, x2max: number): number {
  let q2 = 0;
  for (const v of query) q2 += v * v;
  const magnitude = metric === 'cosine' ? 1 : metric === 'l2' ? q2 + x2max : Math.sqrt(q2 * x2max);
  const eps = storage === 'int8' ? 1e-5 : 2e-6;
  return eps * magnitude * Math.sqrt(dim) + 1e-6;
}

describe('scan kernels match the naive reference', () => {
  it('runs the scalar kernel everywhere and the best one first', () => {
    expect(kernels.at(-1)).toBe('scalar');
    expect(new VectorIndex({ dim: 4 }).kernel).toBe(kernels[0]);
  });

  for (const kernel of kernels) {
    for (const storage of STORAGES) {
      for (const metric of METRICS) {
        it(`${kernel} ${storage} ${metric}: full ranking over dims ${DIMS.join(', ')}`, async () => {
          for (const dim of DIMS) {
            const n = dim >= 1024 ? 37 : 53; // partial last block
            const nq = 7; // a tile of 6 plus a remainder of 1
            const vectors = randomMatrix(n, dim, dim * 31 + 1);
            const queries = randomMatrix(nq, dim, dim * 31 + 2);
            const index = new VectorIndex({ dim, metric, storage, kernel });
            await index.add(Array.from({ length: n }, (_, i) => i), vectors);
            let x2max = 0;
            for (let i = 0; i < n; i++) {
              let s = 0;
              for (let d = 0; d < dim; d++) s += vectors[i * dim + d]! ** 2;
              x2max = Math.max(x2max, s);
            }
            const results = index.search(queries.subarray(0, dim), n);
            const batch = [results];
            for (let q = 1; q < nq; q++) batch.push(index.search(queries.subarray(q * dim, (q + 1) * dim), n));
            const score = referenceScorer(vectors, dim, metric, storage);
            for (let q = 0; q < nq; q++) {
              const query = queries.subarray(q * dim, (q + 1) * dim);
              const want = score(query);
              const got = batch[q]!;
              const tol = tolerance(metric, storage, dim, query, x2max);
              expect(got.ids.length).toBe(n);
              expect(new Set(got.ids).size).toBe(n);
              for (let i = 0; i < n; i++) {
                const id = got.ids[i]!;
                expect(Math.abs(got.scores[i]! - want[id]!), `dim ${dim} query ${q} id ${id}`).toBeLessThanOrEqual(tol);
              }
              // best first: ip/cosine descending, l2 ascending (within rounding)
              for (let i = 1; i < n; i++) {
                const a = got.scores[i - 1]!;
                const b = got.scores[i]!;
                if (metric === 'l2') expect(a).toBeLessThanOrEqual(b + tol);
                else expect(a).toBeGreaterThanOrEqual(b - tol);
              }
            }
          }
        });

        it(`${kernel} ${storage} ${metric}: k = 1 and indexes smaller than one kernel tile`, async () => {
          for (const n of [1, 2, 15, 16, 17, 63, 65]) {
            const dim = 5;
            const vectors = randomMatrix(n, dim, n);
            const queries = randomMatrix(8, dim, n + 100);
            const index = new VectorIndex({ dim, metric, storage, kernel });
            await index.add(Array.from({ length: n }, (_, i) => i), vectors);
            const score = referenceScorer(vectors, dim, metric, storage);
            for (let q = 0; q < 8; q++) {
              const want = score(queries.subarray(q * dim, (q + 1) * dim));
              const best = metric === 'l2' ? Math.min(...want) : Math.max(...want);
              for (const k of [1, Math.min(3, n)]) {
                const got = index.search(queries.subarray(q * dim, (q + 1) * dim), k);
                expect(Math.abs(got.scores[0]! - best), `n ${n} k ${k}`).toBeLessThanOrEqual(1e-4 * (Math.abs(best) + 1));
                expect(Math.abs(want[got.ids[0]!]! - best)).toBeLessThanOrEqual(1e-4 * (Math.abs(best) + 1));
              }
            }
          }
        });

        // 'shared scale': every vector has the same largest component, so all int8 scales are
        // equal and keys nearly tie, which makes the int8 prefilter's bound as tight as it gets.
        it.each(['random', 'shared scale'])(`${kernel} ${storage} ${metric}: batched top-10 over 5,000 %s vectors equals the reference`, async (kind) => {
          const dim = 64;
          const n = 5003;
          const nq = 13; // two tiles of 6 and a remainder
          const vectors = randomMatrix(n, dim, 11);
          const queries = randomMatrix(nq, dim, 12);
          if (kind === 'shared scale') {
            for (let i = 0; i < n; i++) vectors[i * dim] = 8;
            for (let q = 0; q < nq; q++) queries[q * dim] = 8;
          }
          const index = new VectorIndex({ dim, metric, storage, kernel, threads: 2 });
          await index.add(Array.from({ length: n }, (_, i) => i), vectors);
          const results = await index.searchBatch(queries, 10);
          const score = referenceScorer(vectors, dim, metric, storage);
          for (let q = 0; q < nq; q++) {
            const want = score(queries.subarray(q * dim, (q + 1) * dim));
            const order = want.map((s, i) => [s, i] as const).sort((a, b) => (metric === 'l2' ? a[0] - b[0] : b[0] - a[0]));
            const scale = Math.abs(order[0]![0]) + 1;
            for (let i = 0; i < 10; i++) {
              // scores of rank i agree; ids agree except where the reference has a near-tie
              expect(Math.abs(results[q]!.scores[i]! - order[i]![0])).toBeLessThanOrEqual(1e-5 * scale);
              const id = results[q]!.ids[i]!;
              expect(Math.abs(want[id]! - order[i]![0])).toBeLessThanOrEqual(1e-5 * scale);
            }
          }
        });
      }
    }
  }
});
