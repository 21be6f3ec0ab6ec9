import { describe, expect, it } from 'vitest';
import { VectorIndex, type Metric } from '../src/index.js';
import { clusteredQueries, clusteredVectors } from '../src/tools.js';
import { recallAtK } from '../src/vector-index/recall.js';
import { bruteForce } from './helpers/reference.js';

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('VectorIndex', () => {
  it('adds, reports and removes vectors', async () => {
    const index = new VectorIndex({ dim: 3, metric: 'l2', keepOriginals: true });
    expect(index.size).toBe(0);
    await index.add([10, 11, 12], [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    expect(index.size).toBe(3);
    expect(index.has(11)).toBe(true);
    expect(index.has(13)).toBe(false);
    expect(index.has(-1)).toBe(false);
    expect(index.search([0, 1, 0.1], 1).ids).toEqual([11]);
    await index.remove([11]);
    expect(index.has(11)).toBe(false);
    expect(index.size).toBe(2);
    expect(index.search([0, 1, 0.1], 2).ids).toEqual([12, 10]);
    expect(index.memoryBytes).toBeGreaterThan(0);
    expect(index.dim).toBe(3);
    expect(index.metric).toBe('l2');
    expect(index.storage).toBe('int8');
  });

  it('scores: exact rescoring returns the fp32 similarity and distance', async () => {
    const ip = new VectorIndex({ dim: 2, keepOriginals: true });
    await ip.add([1, 2], [
      [1, 2],
      [3, -1],
    ]);
    const r = ip.search([0.5, 0.25], 2, { rescore: true });
    expect(r.ids).toEqual([2, 1]);
    expect(r.scores[0]).toBeCloseTo(1.25, 6);
    expect(r.scores[1]).toBeCloseTo(1.0, 6);
    const l2 = new VectorIndex({ dim: 2, metric: 'l2', keepOriginals: true });
    await l2.add([1, 2], [
      [1, 2],
      [3, -1],
    ]);
    const d = l2.search([1, 1], 2, { rescore: 2 });
    expect(d.ids).toEqual([1, 2]);
    expect(d.scores).toEqual([1, 8]);
  });

  it('after removals, searches equal those of an index built from the survivors', async () => {
    const dim = 24;
    const data = clusteredVectors({ n: 3000, dim, seed: 3 });
    const queries = clusteredQueries(data, 20, dim);
    const index = new VectorIndex({ dim, metric: 'cosine' });
    await index.add(ids(3000), data.vectors);
    const removed = ids(3000).filter((i) => i % 3 === 0 || (i > 2950 && i % 2 === 0));
    await index.remove(removed);
    const gone = new Set(removed);
    const fresh = new VectorIndex({ dim, metric: 'cosine' });
    const keep = ids(3000).filter((i) => !gone.has(i));
    await fresh.add(keep, Float32Array.from(keep.flatMap((i) => Array.from(data.vectors.subarray(i * dim, (i + 1) * dim)))));
    expect(index.size).toBe(keep.length);
    const a = await index.searchBatch(queries, 10);
    const b = await fresh.searchBatch(queries, 10);
    for (let q = 0; q < 20; q++) {
      expect(a[q]!.ids.some((id) => gone.has(id))).toBe(false);
      expect(a[q]!.scores).toEqual(b[q]!.scores);
    }
  });

  // 100 queries on two threads split the queries between them; 25 split the codes.
  it.each([25, 100])('gives the same answers batched or one at a time, on one thread or two (%i queries)', async (nq) => {
    const dim = 40;
    const data = clusteredVectors({ n: 20_000, dim, seed: 5 });
    const queries = clusteredQueries(data, nq, dim);
    const one = new VectorIndex({ dim, threads: 1 });
    const two = new VectorIndex({ dim, threads: 2 });
    await one.add(ids(20_000), data.vectors);
    await two.add(ids(20_000), data.vectors);
    const batched = await two.searchBatch(queries, 15);
    const single = await one.searchBatch(queries, 15);
    for (let q = 0; q < nq; q++) {
      const s = one.search(queries.subarray(q * dim, (q + 1) * dim), 15);
      expect(s).toEqual(single[q]);
      expect(batched[q]!.scores).toEqual(single[q]!.scores);
    }
  });

  for (const [dim, metric] of [
    [64, 'ip'],
    [128, 'cosine'],
    [128, 'l2'],
  ] as [number, Metric][]) {
    it(`recall@10 on clustered data (dim ${dim}, ${metric}): >= 0.95 from int8 codes, >= 0.99 rescored`, async () => {
      const n = 20_000;
      const data = clusteredVectors({ n, dim, seed: 9 });
      const queries = clusteredQueries(data, 100, dim);
      const truth = bruteForce(data.vectors, queries, dim, 10, metric).map((t) => ({ ids: t, scores: [] }));
      const index = new VectorIndex({ dim, metric, keepOriginals: true });
      await index.add(ids(n), data.vectors);
      const plain = recallAtK(await index.searchBatch(queries, 10), truth, 10);
      const rescored = recallAtK(await index.searchBatch(queries, 10, { rescore: true }), truth, 10);
      expect(plain).toBeGreaterThanOrEqual(0.95);
      expect(rescored).toBeGreaterThanOrEqual(0.99);
      const f32 = new VectorIndex({ dim, metric, storage: 'f32' });
      await f32.add(ids(n), data.vectors);
      expect(recallAtK(await f32.searchBatch(queries, 10), truth, 10)).toBeGreaterThanOrEqual(0.999);
    });
  }

  it('accepts ids up to 2^53 - 1', async () => {
    const index = new VectorIndex({ dim: 2 });
    const big = Number.MAX_SAFE_INTEGER;
    await index.add([big, 0], [
      [1, 1],
      [-1, -1],
    ]);
    expect(index.search([1, 1], 1).ids).toEqual([big]);
  });
});

describe('VectorIndex filters', () => {
  const n = 3000;
  const dim = 24;
  const data = clusteredVectors({ n, dim, clusters: 12, seed: 5 });
  const queries = clusteredQueries(data, 8, dim, 9);
  const plainBest = (q: Float32Array, k: number, admit: (id: number) => boolean) => {
    const scored: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      if (!admit(i)) continue;
      let s = 0;
      for (let j = 0; j < dim; j++) s += q[j]! * data.vectors[i * dim + j]!;
      scored.push([s, i]);
    }
    scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    return scored.slice(0, k).map((x) => x[1]);
  };

  it('exclude and only are applied before top-k: k admitted results, exact with rescore, never an excluded id', async () => {
    const index = new VectorIndex({ dim, keepOriginals: true, threads: 2 });
    await index.add(ids(n), data.vectors);
    for (let qi = 0; qi < 8; qi++) {
      const q = queries.subarray(qi * dim, (qi + 1) * dim);
      const top = index.search(q, 50, { rescore: 8 }).ids;
      const exclude = top.slice(0, 40); // the best 40 are gone: a filter after top-k would return 10
      const r = index.search(q, 20, { rescore: 8, exclude });
      expect(r.ids).toHaveLength(20);
      expect(r.ids.some((id) => exclude.includes(id))).toBe(false);
      const ex = new Set(exclude);
      expect(r.ids).toEqual(plainBest(q, 20, (id) => !ex.has(id)));
      const only = ids(n).filter((id) => id % 7 === 3);
      const o = index.search(q, 15, { rescore: 8, only, exclude: [3] });
      expect(o.ids).toEqual(plainBest(q, 15, (id) => id % 7 === 3 && id !== 3));
      // a selective list (under 1/16 of the index) is scored directly from the originals: exact
      const few = ids(n).filter((id) => id % 37 === 5);
      const f = index.search(q, 12, { only: few });
      expect(f.ids).toEqual(plainBest(q, 12, (id) => id % 37 === 5));
    }
    const [batched] = await index.searchBatch(queries.subarray(0, dim), 5, { only: [10, 11, 12] });
    expect(batched!.ids.sort()).toEqual([10, 11, 12]);
    expect(index.search(queries.subarray(0, dim), 5, { only: [] })).toEqual({ ids: [], scores: [] });
    expect(index.search(queries.subarray(0, dim), 5, { only: [99999999] })).toEqual({ ids: [], scores: [] });
    // sparse, huge ids go through a hash set
    const sparse = new VectorIndex({ dim });
    await sparse.add([2 ** 40, 2 ** 41, 5], data.vectors.subarray(0, 3 * dim));
    expect(sparse.search(queries.subarray(0, dim), 3, { exclude: [2 ** 41] }).ids.sort()).toEqual([5, 2 ** 40].sort());
    expect(() => index.search(queries.subarray(0, dim), 5, { exclude: [-1] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    index.close();
    sparse.close();
  });
});
