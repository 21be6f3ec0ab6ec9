/**
 * native.releaseMemory(): free heap memory handed back to the operating system (glibc's
 * malloc_trim), off the JS thread, safe while other native work runs. The Recommender calls it
 * after every re-index (see `npm run bench:serve` for what it does to a server's RSS).
 * native.limitHeapArenas(n): glibc's arena cap (`lmrec serve --heap-arenas`, default 2).
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { native } from '../src/addon/loader.js';
import { VectorIndex } from '../src/vector-index/vector-index.js';
import { Random } from '../src/util/random.js';
import { thrown } from './helpers/errors.js';

const glibc = process.platform === 'linux' && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);

describe('releaseMemory', () => {
  it('resolves with whether memory was released: true on glibc once freed blocks sit between live ones, false where the C library cannot', async () => {
    const rng = new Random(1);
    const dim = 16;
    const n = 40_000;
    const vectors = Float32Array.from({ length: n * dim }, () => rng.normal());
    const ids = Float64Array.from({ length: n }, (_, i) => i);
    const build = async (count: number, m: number) => {
      const made = Array.from({ length: count }, () => new VectorIndex({ dim, keepOriginals: true, threads: 1 }));
      for (const x of made) await x.add(ids.subarray(0, m), vectors.subarray(0, m * dim));
      return made;
    };
    // freeing large mapped blocks raises glibc's mmap threshold: smaller ones then come from the heap
    for (const x of await build(2, n)) x.close();
    const kept = await build(8, 30_000);
    kept.forEach((x, i) => i % 2 === 0 && x.close()); // free blocks between live ones: the heap cannot shrink by itself
    expect(await native.releaseMemory()).toBe(glibc);
    for (const x of kept) x.close();
  });

  it('runs off the JS thread alongside searches and index builds, which see no difference', async () => {
    const rng = new Random(2);
    const dim = 8;
    const vectors = Float32Array.from({ length: 5000 * dim }, () => rng.normal());
    const ids = Float64Array.from({ length: 5000 }, (_, i) => i);
    const index = new VectorIndex({ dim, keepOriginals: true });
    await index.add(ids, vectors);
    const queries = vectors.subarray(0, 20 * dim);
    const want = await index.searchBatch(queries, 5, { rescore: true });
    const other = new VectorIndex({ dim });
    const [got] = await Promise.all([
      index.searchBatch(queries, 5, { rescore: true }),
      native.releaseMemory(),
      other.add(ids, vectors),
      native.releaseMemory(),
    ]);
    expect(got).toEqual(want);
    expect(other.size).toBe(5000);
    index.close();
    other.close();
  });
});

describe('limitHeapArenas', () => {
  it('caps glibc heap arenas (true on glibc, false elsewhere); a count under 1 or not a number is INVALID_ARGUMENT', () => {
    // glibc's own default (8 a core): the rest of this test process allocates as before
    expect(native.limitHeapArenas(8 * availableParallelism())).toBe(glibc);
    expect(thrown(() => native.limitHeapArenas(0)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => native.limitHeapArenas(2.5)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => native.limitHeapArenas('2' as unknown as number)).code).toBe('INVALID_ARGUMENT');
  });
});

describe('heapStats', () => {
  it('reports the C heap in use and held (glibc): an index of 40 MB raises it while it lives', async () => {
    const before = native.heapStats();
    if (!glibc) return expect(before).toEqual({ inUse: -1, held: -1 });
    expect(before.inUse).toBeGreaterThan(0);
    expect(before.held).toBeGreaterThanOrEqual(before.inUse);
    const dim = 100;
    const n = 100_000; // 40 MB of originals, 10 MB of codes
    const index = new VectorIndex({ dim, keepOriginals: true, threads: 1 });
    await index.add(Float64Array.from({ length: n }, (_, i) => i), new Float32Array(n * dim).fill(0.5));
    const during = native.heapStats();
    expect(during.inUse - before.inUse).toBeGreaterThan(0.9 * index.memoryBytes);
    await index.close(); // released off the JS thread
    expect(during.inUse - native.heapStats().inUse).toBeGreaterThan(0.9 * 50e6);
  });
});
