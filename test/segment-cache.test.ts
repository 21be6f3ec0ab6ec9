/**
 * The segment cache (native/core/cache): fp16 and int8 values within their rounding, LRU
 * eviction under the byte budget, statistics, entries too large for the budget, invalidation
 * when the model changes, and persistence (round trip, a smaller budget keeps the warmest,
 * damaged and cut files are typed errors).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SegmentCache } from '../src/lm/segment-cache.js';
import { native } from '../src/addon/loader.js';
import { Random } from '../src/util/random.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-segcache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DIM = 16;
const states = (seed: number, n: number) => {
  const rng = new Random(seed);
  return Float32Array.from({ length: n * DIM }, () => rng.normal() * 3);
};
const tokens = (...t: number[]) => Int32Array.from(t);
const maxErr = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('SegmentCache', () => {
  it('returns what was put, within fp16 or int8 rounding; a miss otherwise', () => {
    for (const storage of ['f16', 'int8'] as const) {
      const c = new SegmentCache({ budgetBytes: 1 << 20, storage });
      const s = states(1, 5);
      expect(c.put('m', 3, tokens(1, 2, 3, 4, 5), s)).toBe(true);
      const got = c.get('m', 3, tokens(1, 2, 3, 4, 5), DIM)!;
      const peak = Math.max(...s.map(Math.abs));
      expect(maxErr(got, s)).toBeLessThan(storage === 'f16' ? peak * 1e-3 : peak / 127);
      expect(c.get('m', 2, tokens(1, 2, 3, 4, 5), DIM)).toBeUndefined(); // another layer
      expect(c.get('other', 3, tokens(1, 2, 3, 4, 5), DIM)).toBeUndefined(); // another model
      expect(c.get('m', 3, tokens(1, 2, 3, 4), DIM)).toBeUndefined(); // a prefix is another segment
      expect(c.get('m', 3, tokens(1, 2, 3, 4, 5), DIM * 2)).toBeUndefined(); // another width
      expect(c.stats).toMatchObject({ hits: 1, misses: 4, entries: 1, insertions: 1, storage });
      c.close();
    }
  });

  it('keeps its byte budget by evicting the least recently used entries', () => {
    const one = 2 * 4 * DIM + 4 * 4 + 96; // fp16 values, token ids, bookkeeping: 4-token entries
    const c = new SegmentCache({ budgetBytes: 3 * one });
    for (let i = 0; i < 3; i++) c.put('m', 1, tokens(i, i, i, i), states(i, 4));
    expect(c.stats.entries).toBe(3);
    c.get('m', 1, tokens(0, 0, 0, 0), DIM); // 0 becomes the most recent: 1 is now the oldest
    c.put('m', 1, tokens(9, 9, 9, 9), states(9, 4));
    expect(c.get('m', 1, tokens(1, 1, 1, 1), DIM)).toBeUndefined();
    expect(c.get('m', 1, tokens(0, 0, 0, 0), DIM)).toBeDefined();
    expect(c.stats).toMatchObject({ entries: 3, evictions: 1 });
    expect(c.stats.bytes).toBeLessThanOrEqual(3 * one);
    // replacing an entry does not grow the cache
    c.put('m', 1, tokens(9, 9, 9, 9), states(10, 4));
    expect(c.stats.entries).toBe(3);
    expect(maxErr(c.get('m', 1, tokens(9, 9, 9, 9), DIM)!, states(10, 4))).toBeLessThan(0.02);
    c.close();
  });

  it('an entry larger than the budget is not cached (and counted); bad input is typed', () => {
    const c = new SegmentCache({ budgetBytes: 200 });
    expect(c.put('m', 1, tokens(1, 2, 3), states(1, 3))).toBe(false);
    expect(c.stats).toMatchObject({ rejected: 1, entries: 0, bytes: 0 });
    expect(() => new SegmentCache({ budgetBytes: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new SegmentCache({ budgetBytes: 10, storage: 'f8' as 'f16' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => c.put('m', 1, tokens(), new Float32Array(0))).toThrow(expect.objectContaining({ code: 'DIM_MISMATCH' }));
    expect(() => c.put('m', 1, tokens(1, 2), new Float32Array(3))).toThrow(expect.objectContaining({ code: 'DIM_MISMATCH' }));
    expect(() => c.put('m', 1, tokens(1), Float32Array.of(NaN))).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
    expect(() => c.get('m', 1, tokens(), DIM)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    c.close();
    expect(() => c.stats).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });

  it('a swapped model invalidates the entries of the old one', () => {
    const c = new SegmentCache({ budgetBytes: 1 << 20 });
    c.put('old', 1, tokens(1), states(1, 1));
    c.put('new', 1, tokens(1), states(2, 1));
    c.keepOnly('new');
    expect(c.get('old', 1, tokens(1), DIM)).toBeUndefined();
    expect(c.get('new', 1, tokens(1), DIM)).toBeDefined();
    c.clear();
    expect(c.stats).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('persists: a restarted server starts warm; a smaller budget keeps the most recent; damage is typed', async () => {
    const c = new SegmentCache({ budgetBytes: 1 << 20, storage: 'int8' });
    for (let i = 0; i < 10; i++) c.put('m', 2, tokens(i, i + 1), states(i, 2));
    c.get('m', 2, tokens(0, 1), DIM); // entry 0 becomes the most recent
    const file = path.join(dir, 'cache.bin');
    await c.save(file);
    const back = await SegmentCache.load(file, 1 << 20);
    for (let i = 0; i < 10; i++) expect(back.get('m', 2, tokens(i, i + 1), DIM)).toEqual(c.get('m', 2, tokens(i, i + 1), DIM));
    expect(back.stats.storage).toBe('int8');
    const entry = 2 * DIM + 2 * 4 + 2 * 4 + 96;
    const small = await SegmentCache.load(file, 3 * entry);
    expect(small.stats.entries).toBe(3);
    expect(small.get('m', 2, tokens(0, 1), DIM)).toBeDefined(); // the warmest survive
    expect(small.get('m', 2, tokens(1, 2), DIM)).toBeUndefined();

    const bytes = readFileSync(file);
    const flipped = Buffer.from(bytes);
    flipped[60]! ^= 0xff;
    writeFileSync(path.join(dir, 'bad.bin'), flipped);
    await expect(SegmentCache.load(path.join(dir, 'bad.bin'), 1 << 20)).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
    writeFileSync(path.join(dir, 'cut.bin'), bytes.subarray(0, bytes.length - 30));
    await expect(SegmentCache.load(path.join(dir, 'cut.bin'), 1 << 20)).rejects.toMatchObject({ code: 'TRUNCATED_FILE' });
    writeFileSync(path.join(dir, 'other.bin'), 'not a cache');
    await expect(SegmentCache.load(path.join(dir, 'other.bin'), 1 << 20)).rejects.toMatchObject({ code: 'NOT_A_MODEL' });
    await expect(SegmentCache.load(path.join(dir, 'missing.bin'), 1 << 20)).rejects.toMatchObject({ code: 'IO_ERROR' });
  });

  it('holds its budget under two threads putting and getting overlapping keys, with no wrong value', async () => {
    for (const storage of ['f16', 'int8'] as const) {
      // room for about a third of the 64 keys: constant eviction
      const cache = new native.NativeSegmentCache({ budgetBytes: 6 * 1024, storage });
      const r = await cache.stress(2, 20_000, 5);
      expect(r.ops).toBe(40_000);
      expect(r.wrongValues).toBe(0);
      expect(r.overBudget).toBe(0);
      expect(r.maxBytes).toBeLessThanOrEqual(6 * 1024);
      expect(r.hits).toBeGreaterThan(1000);
      const s = cache.stats();
      expect(s.evictions).toBeGreaterThan(100);
      expect(s.insertions + s.rejected + s.hits + s.misses).toBe(40_000); // every put and get accounted for
      cache.close();
    }
  });
});
