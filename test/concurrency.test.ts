import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { VectorIndex } from '../src/index.js';
import { clusteredQueries, clusteredVectors } from '../src/tools.js';

describe('concurrency', () => {
  it('runs many batched searches at once with the same answers as one at a time', async () => {
    const dim = 32;
    const data = clusteredVectors({ n: 30_000, dim, seed: 4 });
    const queries = clusteredQueries(data, 64, dim);
    const index = new VectorIndex({ dim, threads: 2 });
    await index.add(Array.from({ length: 30_000 }, (_, i) => i), data.vectors);
    const expected = await index.searchBatch(queries, 10);
    const parallel = await Promise.all(Array.from({ length: 24 }, () => index.searchBatch(queries, 10)));
    for (const r of parallel) expect(r).toEqual(expected);
  });

  it('serializes adds and removes against searches in flight', async () => {
    const dim = 16;
    const data = clusteredVectors({ n: 40_000, dim, seed: 8 });
    const queries = clusteredQueries(data, 32, dim);
    const index = new VectorIndex({ dim });
    await index.add(Array.from({ length: 20_000 }, (_, i) => i), data.vectors.subarray(0, 20_000 * dim));
    const searches: Promise<{ ids: number[] }[]>[] = [];
    let next = 20_000;
    for (let round = 0; round < 20; round++) {
      searches.push(index.searchBatch(queries, 5));
      const ids = Array.from({ length: 1000 }, (_, i) => next + i);
      await index.add(ids, data.vectors.subarray(next * dim, (next + 1000) * dim));
      await index.remove(ids.slice(0, 500));
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
    await index.add(Array.from({ length: 100_000 }, (_, i) => i), data.vectors);
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

  it('adds, removes and un-maps without blocking the event loop while a long batch runs', async () => {
    const dim = 64;
    const data = clusteredVectors({ n: 100_000, dim, seed: 7 });
    const index = new VectorIndex({ dim, threads: 1 });
    await index.add(Array.from({ length: 100_000 }, (_, i) => i), data.vectors);
    const queries = clusteredQueries(data, 3000, dim);
    const batch = index.searchBatch(queries, 10);
    // add() used to wait on the JS thread for the batch (1.8 s at 1M); now only its promise waits
    const t0 = performance.now();
    const adding = index.add([100_000], data.vectors.subarray(0, dim));
    const removing = index.remove([5]);
    expect(performance.now() - t0).toBeLessThan(20);
    await Promise.all([batch, adding, removing]);
    expect(index.has(100_000) && !index.has(5)).toBe(true);
  });

  it('answers a sync search quickly while an add copies a mapped index into memory', async () => {
    const dim = 64;
    const data = clusteredVectors({ n: 200_000, dim, seed: 9 });
    const built = new VectorIndex({ dim, threads: 1 });
    await built.add(Array.from({ length: 200_000 }, (_, i) => i), data.vectors);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lmrec-conc-')), 'i.lmrec');
    await built.save(file);
    built.close();
    const index = await VectorIndex.load(file, { mmap: true, threads: 1 });
    const idle: number[] = [];
    for (let i = 0; i < 20; i++) idle.push(timeSearch(index, data.vectors.subarray(0, dim)));
    // the first change copies the mapped arrays: off the JS thread, while searches go on
    const adding = index.add([200_000], data.vectors.subarray(dim, 2 * dim));
    const during: number[] = [];
    let done = false;
    void adding.then(() => (done = true));
    while (!done) {
      during.push(timeSearch(index, data.vectors.subarray(0, dim)));
      await new Promise((r) => setImmediate(r));
    }
    await adding;
    expect(index.size).toBe(200_001);
    expect(Math.max(...during)).toBeLessThan(20 * Math.max(5, median(idle)));
    rmSync(path.dirname(file), { recursive: true, force: true });
  });
});

function timeSearch(index: VectorIndex, q: Float32Array): number {
  const t0 = performance.now();
  index.search(q, 10);
  return performance.now() - t0;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
