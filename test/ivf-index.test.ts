import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VectorIndex, type Metric, type SearchResult } from '../src/index.js';
import { clusteredQueries, clusteredVectors } from '../src/tools.js';
import { recallAtK } from '../src/vector-index/recall.js';
import { rejection, thrown } from './helpers/errors.js';
import { referenceScorer } from './helpers/reference.js';

const dir = mkdtempSync(join(tmpdir(), 'lmrec-ivf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const range = (n: number, from = 0) => Float64Array.from({ length: n }, (_, i) => from + i);
const dim = 24;
// Looser clusters than the partitions, so partition edges cut through neighbourhoods.
const data = clusteredVectors({ n: 6000, dim, clusters: 40, spread: 0.8, seed: 5 });
const queries = clusteredQueries(data, 60, dim, 9, 0.8);

async function pair(
  metric: Metric,
  options: { keepOriginals?: boolean; partitions?: number | 'auto'; n?: number; storage?: 'int8' | 'f32' } = {},
) {
  const n = options.n ?? 6000;
  const vectors = data.vectors.subarray(0, n * dim);
  const keepOriginals = options.keepOriginals ?? false;
  const storage = options.storage ?? 'int8';
  const flat = new VectorIndex({ dim, metric, keepOriginals, storage, threads: 1 });
  const ivf = new VectorIndex({ dim, metric, keepOriginals, storage, threads: 1, partitions: options.partitions ?? 32 });
  await flat.add(range(n), vectors);
  await ivf.add(range(n), vectors);
  return { flat, ivf };
}

/** The same rankings up to float rounding: scores equal within 1e-5 (relative; q.r + q.c sums in another order than q.x), the same ids where they are not tied. */
function expectSameRanking(a: SearchResult[], b: SearchResult[]): void {
  const close = (x: number, y: number) => Math.abs(x - y) <= 1e-5 * Math.max(1, Math.abs(y));
  expect(a.length).toBe(b.length);
  a.forEach((r, q) => {
    const want = b[q]!;
    expect(r.scores.length).toBe(want.scores.length);
    r.scores.forEach((s, i) => expect(close(s, want.scores[i]!), `query ${q} rank ${i}: ${s} vs ${want.scores[i]}`).toBe(true));
    const tied = (i: number) => want.scores.filter((s) => close(s, want.scores[i]!)).length > 1;
    r.ids.forEach((id, i) => tied(i) || expect(id).toBe(want.ids[i]));
  });
}

describe('VectorIndex with partitions (IVF)', () => {
  it('scans everything, exactly as the flat index, until it holds enough vectors to train', async () => {
    const { flat, ivf } = await pair('cosine', { partitions: 'auto' });
    expect(ivf.partitioned).toBe(true);
    expect(flat.partitioned).toBe(false);
    expect(ivf.partitions).toEqual({ count: 1, calibration: [] });
    expect(await ivf.searchBatch(queries, 10)).toEqual(await flat.searchBatch(queries, 10));
  });

  for (const metric of ['ip', 'cosine', 'l2'] as const) {
    it(`${metric}: probing every partition of fp32 residuals ranks exactly as the flat scan`, async () => {
      const { flat, ivf } = await pair(metric, { storage: 'f32' });
      expect(ivf.partitions.count).toBe(32);
      expectSameRanking(await ivf.searchBatch(queries, 10, { probe: 32 }), await flat.searchBatch(queries, 10));
    });

    it(`${metric}: int8 residual codes score close to fp32, recall at least the flat int8 scan's, and the recall target holds`, async () => {
      const { flat, ivf } = await pair(metric, { keepOriginals: true });
      const { count, calibration } = ivf.partitions;
      const truth = await flat.searchBatch(queries, 10, { rescore: true });
      const all = await ivf.searchBatch(queries, 10, { probe: count });
      // the centroid's key is added back in the right units: every score is near the exact fp32 one
      const exactScores = referenceScorer(data.vectors, dim, metric, 'f32');
      all.forEach((r, q) => {
        const exact = exactScores(queries.subarray(q * dim, (q + 1) * dim));
        r.ids.forEach((id, i) => expect(Math.abs(r.scores[i]! - exact[id]!)).toBeLessThan(0.02 * Math.max(1, Math.abs(exact[id]!))));
      });
      expect(recallAtK(all, truth, 10)).toBeGreaterThanOrEqual(recallAtK(await flat.searchBatch(queries, 10), truth, 10) - 0.005);
      expectSameRanking(await ivf.searchBatch(queries, 10, { probe: count, rescore: true }), truth);
      // the calibration: probes increase, recall does not fall, and it ends at (near) 1 or every partition
      expect(calibration.length).toBeGreaterThan(0);
      for (let i = 1; i < calibration.length; i++) expect(calibration[i]!.probe).toBeGreaterThan(calibration[i - 1]!.probe);
      const last = calibration.at(-1)!;
      expect(last.recall >= 0.999 || last.probe === count).toBe(true);
      // the default target (0.95) holds on queries the calibration never saw (within sampling error)
      const got = await ivf.searchBatch(queries, 10, { rescore: true });
      expect(recallAtK(got, truth, 10)).toBeGreaterThanOrEqual(0.9);
      // a single query on the calling thread equals the batched answer
      expect(ivf.search(queries.subarray(0, dim), 10, { recall: 0.9 })).toEqual((await ivf.searchBatch(queries.subarray(0, dim), 10, { recall: 0.9 }))[0]);
    });
  }

  it('probe and recall choose how many partitions are scanned', async () => {
    const { flat, ivf } = await pair('cosine', { storage: 'f32' });
    const truth = await flat.searchBatch(queries, 10);
    const recalls = [];
    for (const probe of [1, 2, 4, 8, 32]) recalls.push(recallAtK(await ivf.searchBatch(queries, 10, { probe }), truth, 10));
    for (let i = 1; i < recalls.length; i++) expect(recalls[i]).toBeGreaterThanOrEqual(recalls[i - 1]!);
    expect(recalls[0]).toBeLessThan(0.95); // pruning does lose neighbours at probe 1: the test measures something
    expect(recalls.at(-1)).toBe(1);
    const low = await ivf.searchBatch(queries, 10, { recall: 0.5 });
    const high = await ivf.searchBatch(queries, 10, { recall: 1 });
    expect(recallAtK(high, truth, 10)).toBe(1);
    expect(recallAtK(low, truth, 10)).toBeLessThanOrEqual(recallAtK(high, truth, 10));
  });

  it('filters: k admitted results always, exact when the probed partitions hold too few', async () => {
    const { flat, ivf } = await pair('ip', { storage: 'f32' });
    const only = Array.from({ length: 25 }, (_, i) => i * 211 + 3);
    // 25 admitted ids spread over the partitions: probing one cannot find 10 of them
    expectSameRanking(await ivf.searchBatch(queries, 10, { only, probe: 1 }), await flat.searchBatch(queries, 10, { only }));
    const exclude = Array.from({ length: 3000 }, (_, i) => i * 2);
    for (const r of await ivf.searchBatch(queries, 10, { exclude, probe: 2 })) {
      expect(r.ids).toHaveLength(10);
      for (const id of r.ids) expect(id % 2).toBe(1);
    }
    // every id excluded but 4: 4 results
    const most = Array.from({ length: 5996 }, (_, i) => i + 4);
    expect((await ivf.searchBatch(queries.subarray(0, dim), 10, { exclude: most, probe: 1 }))[0]!.ids.sort()).toEqual([0, 1, 2, 3]);
  });

  it('adds to the nearest partition, removes, and reports has()', async () => {
    const { flat, ivf } = await pair('l2', { n: 5000, storage: 'f32' });
    const extra = data.vectors.subarray(5000 * dim, 5600 * dim);
    await ivf.add(range(600, 5000), extra);
    await flat.add(range(600, 5000), extra);
    expect(ivf.partitions.count).toBe(32); // 5,600 is under twice the 5,000 it trained on
    expect(ivf.size).toBe(5600);
    expect(ivf.has(5599)).toBe(true);
    expectSameRanking(await ivf.searchBatch(queries, 10, { probe: 32 }), await flat.searchBatch(queries, 10));
    const gone = Array.from({ length: 800 }, (_, i) => i * 7);
    await ivf.remove(gone);
    await flat.remove(gone);
    expect(ivf.size).toBe(5600 - 800);
    expect(ivf.has(7)).toBe(false);
    expect(ivf.has(8)).toBe(true);
    expectSameRanking(await ivf.searchBatch(queries, 10, { probe: 32 }), await flat.searchBatch(queries, 10));
    expect((await rejection(ivf.remove([7]))).code).toBe('UNKNOWN_ID');
    expect((await rejection(ivf.add([8], data.vectors.subarray(0, dim)))).code).toBe('DUPLICATE_ID');
    expect(ivf.size).toBe(4800);
  });

  it("'auto' trains at 16,384 vectors with about sqrt(n) partitions, and again when it doubles", async () => {
    const n = 5 * 8192;
    const big = clusteredVectors({ n, dim: 8, seed: 2 });
    const ivf = new VectorIndex({ dim: 8, metric: 'l2', partitions: 'auto' });
    const sizes: number[] = [];
    for (let i = 0; i < n; i += 8192) {
      await ivf.add(range(8192, i), big.vectors.subarray(i * 8, (i + 8192) * 8));
      sizes.push(ivf.partitions.count);
    }
    // 8,192: untrained; 16,384: trains (128); 24,576: not doubled; 32,768: doubled (181); 40,960: not
    expect(sizes).toEqual([1, 128, 128, 181, 181]);
    expect(ivf.size).toBe(n);
  });

  it('emptyCopy keeps the partitions: its first add assigns and calibrates without k-means', async () => {
    const ivf = new VectorIndex({ dim, metric: 'cosine', storage: 'f32', partitions: 32, threads: 1 });
    await ivf.add(range(6000), data.vectors);
    const copy = ivf.emptyCopy();
    expect([copy.size, copy.partitioned, copy.partitions.count, copy.dim, copy.metric, copy.storage]).toEqual([0, true, 1, dim, 'cosine', 'f32']);
    const copyOfCopy = copy.emptyCopy(); // not filled yet: still carries the partitions
    // half the vectors: the trained index's partitions (a k-means of its own would differ), so
    // the same answers as the trained index restricted to them; too few to train, yet partitioned
    const half = ivf.emptyCopy();
    await half.add(range(3000), data.vectors.subarray(0, 3000 * dim));
    expect(half.partitions.count).toBe(32);
    expect(await half.searchBatch(queries, 10, { probe: 3 })).toEqual(await ivf.searchBatch(queries, 10, { probe: 3, only: range(3000) }));
    const few = ivf.emptyCopy();
    await few.add(range(500), data.vectors.subarray(0, 500 * dim)); // a new index trains at 32 x 32
    expect(few.partitions.count).toBe(32);
    // the same vectors: the same partitions, calibration and answers as the trained index
    await copy.add(range(6000), data.vectors);
    expect(copy.partitions).toEqual(ivf.partitions);
    expect(await copy.searchBatch(queries, 10, { probe: 3 })).toEqual(await ivf.searchBatch(queries, 10, { probe: 3 }));
    // vectors that moved (an update's embeddings): the old partitions, a fresh calibration, exact when every partition is probed
    const moved = data.vectors.map((v, i) => v + 0.3 * Math.sin(i * 12.9898));
    await copyOfCopy.add(range(6000), moved);
    expect(copyOfCopy.partitions.count).toBe(32);
    expect(copyOfCopy.partitions.calibration).not.toEqual(ivf.partitions.calibration);
    const flat = new VectorIndex({ dim, metric: 'cosine', storage: 'f32', threads: 1 });
    await flat.add(range(6000), moved);
    const truth = await flat.searchBatch(queries, 10);
    expectSameRanking(await copyOfCopy.searchBatch(queries, 10, { probe: 32 }), truth);
    expect(recallAtK(await copyOfCopy.searchBatch(queries, 10, { recall: 0.9 }), truth, 10)).toBeGreaterThanOrEqual(0.85);
    // a loaded (mapped) index's copy too; a flat index's copy is an empty flat index
    await ivf.save(join(dir, 'copy.ivf'));
    const mapped = await VectorIndex.load(join(dir, 'copy.ivf'), { mmap: true });
    const fromMapped = mapped.emptyCopy();
    await fromMapped.add(range(6000), data.vectors);
    expect(await fromMapped.searchBatch(queries, 10, { probe: 3 })).toEqual(await ivf.searchBatch(queries, 10, { probe: 3 }));
    const flatCopy = flat.emptyCopy();
    expect([flatCopy.size, flatCopy.partitioned, flatCopy.metric, flatCopy.storage]).toEqual([0, false, 'cosine', 'f32']);
    for (const x of [ivf, copy, copyOfCopy, half, few, flat, mapped, fromMapped, flatCopy]) x.close();
    expect(thrown(() => ivf.emptyCopy()).code).toBe('CLOSED');
  });

  it('builds deterministically: the same seed gives the same partitions on any thread count', async () => {
    const a = new VectorIndex({ dim, metric: 'cosine', partitions: 32, threads: 1, seed: 7 });
    const b = new VectorIndex({ dim, metric: 'cosine', partitions: 32, threads: 2, seed: 7 });
    const c = new VectorIndex({ dim, metric: 'cosine', partitions: 32, threads: 1, seed: 8 });
    for (const x of [a, b, c]) await x.add(range(6000), data.vectors);
    expect(b.partitions).toEqual(a.partitions);
    expect(await b.searchBatch(queries, 10, { probe: 3 })).toEqual(await a.searchBatch(queries, 10, { probe: 3 }));
    expect(await c.searchBatch(queries, 10, { probe: 3 })).not.toEqual(await a.searchBatch(queries, 10, { probe: 3 }));
  });

  it('saves and loads (read or mapped) with the same answers, and grows a mapped index', async () => {
    const { ivf } = await pair('cosine', { keepOriginals: true });
    const path = join(dir, 'ivf.lmrec');
    await ivf.save(path);
    const want = await ivf.searchBatch(queries, 10, { probe: 3, rescore: true });
    for (const mmap of [false, true]) {
      const loaded = await VectorIndex.load(path, { mmap });
      expect(loaded.partitioned).toBe(true);
      expect(loaded.partitions).toEqual(ivf.partitions);
      expect(loaded.size).toBe(6000);
      expect(await loaded.searchBatch(queries, 10, { probe: 3, rescore: true })).toEqual(want);
      await loaded.add([9999], queries.subarray(0, dim));
      expect(loaded.search(queries.subarray(0, dim), 1, { probe: 1 }).ids).toEqual([9999]);
      await loaded.remove([0, 1, 2]);
      expect(loaded.size).toBe(5998);
      loaded.close();
    }
    // an untrained one too
    const small = new VectorIndex({ dim, partitions: 'auto' });
    await small.add(range(100), data.vectors.subarray(0, 100 * dim));
    await small.save(join(dir, 'small.lmrec'));
    const back = await VectorIndex.load(join(dir, 'small.lmrec'));
    expect(await back.searchBatch(queries, 5)).toEqual(await small.searchBatch(queries, 5));
  });

  it('rejects damaged, truncated and future files with typed errors', async () => {
    const { ivf } = await pair('l2');
    const path = join(dir, 'good.lmrec');
    await ivf.save(path);
    const bytes = readFileSync(path);
    const bad = Buffer.from(bytes);
    bad[bytes.length >> 1] = bad[bytes.length >> 1]! ^ 0x40;
    writeFileSync(join(dir, 'flip.lmrec'), bad);
    expect((await rejection(VectorIndex.load(join(dir, 'flip.lmrec')))).code).toBe('CORRUPT_FILE');
    writeFileSync(join(dir, 'cut.lmrec'), bytes.subarray(0, bytes.length - 100));
    expect((await rejection(VectorIndex.load(join(dir, 'cut.lmrec')))).code).toBe('TRUNCATED_FILE');
    writeFileSync(join(dir, 'head.lmrec'), bytes.subarray(0, 40));
    expect((await rejection(VectorIndex.load(join(dir, 'head.lmrec')))).code).toBe('TRUNCATED_FILE');
    const future = Buffer.from(bytes);
    future.writeUInt32LE(99, 8);
    writeFileSync(join(dir, 'future.lmrec'), future);
    expect((await rejection(VectorIndex.load(join(dir, 'future.lmrec')))).code).toBe('UNSUPPORTED_VERSION');
    // partition sizes that do not add up, with a valid checksum: still caught
    const counts = Buffer.from(bytes);
    const countsAt = 128 + Math.ceil((32 * dim * 4) / 64) * 64;
    counts.writeBigUInt64LE(counts.readBigUInt64LE(countsAt) + 1n, countsAt);
    writeFileSync(join(dir, 'counts.lmrec'), counts);
    expect((await rejection(VectorIndex.load(join(dir, 'counts.lmrec'), { verify: false }))).code).toBe('CORRUPT_FILE');
  });

  it('rejects bad options and queries with typed errors', async () => {
    for (const partitions of [0, -1, 1.5, 'many', 70_000]) {
      expect(thrown(() => new VectorIndex({ dim, partitions: partitions as number })).code).toBe('INVALID_ARGUMENT');
    }
    const { ivf } = await pair('ip', { n: 2000 });
    const q = queries.subarray(0, dim);
    for (const probe of [0, -2, 1.5]) expect(thrown(() => ivf.search(q, 5, { probe })).code).toBe('INVALID_ARGUMENT');
    for (const recall of [0, 1.5, Number.NaN]) expect(thrown(() => ivf.search(q, 5, { recall })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => ivf.search(q, 5, { rescore: true })).code).toBe('NO_ORIGINALS');
    expect((await rejection(ivf.add([1e6], [Array.from({ length: dim }, () => Number.NaN)]))).code).toBe('NON_FINITE');
    const empty = new VectorIndex({ dim, partitions: 4 });
    expect(thrown(() => empty.search(q, 5)).code).toBe('EMPTY_INDEX');
    // a probe past the partition count scans them all
    expect(ivf.search(q, 5, { probe: 60_000 })).toEqual(ivf.search(q, 5, { probe: 32 }));
  });
});
