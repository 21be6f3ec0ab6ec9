import { describe, expect, it } from 'vitest';
import { VectorIndex } from '../src/index.js';
import { clusteredQueries, clusteredVectors } from '../src/tools.js';

describe('concurrency', () => {
  it('runs many batched searches at once with the same answers as one at a time', async () => {
    const dim = 32;
    const data = clusteredVectors({ n: 30_000, dim, seed: 4 });
    const queries = clusteredQueries(data, 64, dim);
    const index = new VectorIndex({ dim, threads: 2 });
    index.add(Array.from({ length: 30_000 }, (_, i) => i), data.vectors);
    const expected = await index.searchBatch(queries, 10);
    const parallel = await Promise.all(Array.from({ length: 24 }, () => index.searchBatch(queries, 10)));
    for (const r of parallel) expect(r).toEqual(expected);
  });

  it('serializes adds and removes against searches in flight', async () => {
    const dim = 16;
    const data = clusteredVectors({ n: 40_000, dim, seed: 8 });
    const queries = clusteredQueries(data, 32, dim);
    const index = new VectorIndex({ dim });
    index.add(Array.from({ length: 20_000 }, (_, i) => i), data.vectors.subarray(0, 20_000 * dim));
    const searches: Promise<{ ids: number[] }[]>[] = [];
    let next = 20_000;
    for (let round = 0; round < 20; round++) {
      searches.push(index.searchBatch(queries, 5));
      const ids = Array.from({ length: 1000 }, (_, i) => next + i);
      index.add(ids, data.vectors.subarray(next * dim, (next + 1000) * dim));
      index.remove(ids.slice(0, 500));
      next += 1000;
    }
    const everAdded = next;
    for (const results of await Promise.all(searches)) {
      for (const r of results) {
        expect(r.ids).toHaveLength(5);
        expect(new Set(r.ids).size).toBe(5);
        for (const id of r.ids) expect(id >= 0 && id < everAdded).toBe(true);
      }
    }
    expect(index.size).toBe(20_000 + 20 * 500);
  });

  it('keeps the JS thread free while a batch runs', async () => {
    const dim = 64;
    const data = clusteredVectors({ n: 100_000, dim, seed: 6 });
    const index = new VectorIndex({ dim, threads: 1 });
    index.add(Array.from({ length: 100_000 }, (_, i) => i), data.vectors);
    const queries = clusteredQueries(data, 3000, dim); // ~100 ms of scanning on one thread
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    await index.searchBatch(queries, 10);
    const ms = performance.now() - t0;
    clearInterval(timer);
    // the timer kept firing while native threads searched
    expect(ms).toBeGreaterThan(20);
    expect(ticks).toBeGreaterThanOrEqual(3);
  });
});
