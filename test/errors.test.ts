/** Every kind of bad input gets an LmrecError with a code, never a crash or a wrong answer. */
import { describe, expect, it } from 'vitest';
import { LmrecError, VectorIndex, type LmrecErrorCode } from '../src/index.js';
import { rejection } from './helpers/errors.js';

function code(fn: () => unknown): LmrecErrorCode {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LmrecError);
    expect((e as LmrecError).message.length).toBeGreaterThan(10);
    return (e as LmrecError).code;
  }
  throw new Error('expected an LmrecError');
}

async function asyncCode(p: () => Promise<unknown>): Promise<LmrecErrorCode> {
  return (await rejection(p())).code;
}

async function filled(dim: number, n = 3): Promise<VectorIndex> {
  const index = new VectorIndex({ dim });
  await index.add(
    Array.from({ length: n }, (_, i) => i),
    Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i)),
  );
  return index;
}

describe('bad input', () => {
  it('rejects bad options', () => {
    expect(code(() => new VectorIndex({ dim: 0 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new VectorIndex({ dim: 1.5 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new VectorIndex({ dim: 70_000 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new VectorIndex({ dim: Number.NaN }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new VectorIndex({ dim: 4, metric: 'hamming' as never }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new VectorIndex({ dim: 4, storage: 'int4' as never }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new VectorIndex({ dim: 4, kernel: 'quantum' as never }))).toBe('UNSUPPORTED');
    expect(code(() => new VectorIndex({ dim: 4, threads: -1 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new VectorIndex(null as never))).toBe('INVALID_ARGUMENT');
  });

  it('rejects wrong dimensions', async () => {
    const index = await filled(4);
    expect(await asyncCode(() => index.add([9], new Float32Array(5)))).toBe('DIM_MISMATCH');
    expect(await asyncCode(() => index.add([9], [[1, 2, 3]]))).toBe('DIM_MISMATCH');
    expect(code(() => index.search(new Float32Array(3), 1))).toBe('DIM_MISMATCH');
    expect(code(() => index.search([1, 2, 3, 4, 5], 1))).toBe('DIM_MISMATCH');
    expect(await asyncCode(() => index.add([9], [[1, 2, 'x', 4] as never]))).toBe('INVALID_ARGUMENT');
  });

  it('rejects NaN, infinity and overflowing magnitudes', async () => {
    const index = await filled(4);
    expect(await asyncCode(() => index.add([9], [[1, Number.NaN, 3, 4]]))).toBe('NON_FINITE');
    expect(await asyncCode(() => index.add([9], [[1, Infinity, 3, 4]]))).toBe('NON_FINITE');
    expect(await asyncCode(() => index.add([9], [[1e30, 1, 1, 1]]))).toBe('NON_FINITE');
    expect(code(() => index.search([0, Number.NaN, 0, 0], 1))).toBe('NON_FINITE');
    expect(index.has(9)).toBe(false);
    expect(index.size).toBe(3);
  });

  it('rejects a zero vector under cosine', async () => {
    const index = new VectorIndex({ dim: 3, metric: 'cosine' });
    expect(await asyncCode(() => index.add([1], [[0, 0, 0]]))).toBe('INVALID_ARGUMENT');
    await index.add([1], [[1, 0, 0]]);
    expect(code(() => index.search([0, 0, 0], 1))).toBe('INVALID_ARGUMENT');
  });

  it('rejects bad k', async () => {
    const index = await filled(4);
    expect(code(() => index.search([1, 2, 3, 4], 0))).toBe('INVALID_K');
    expect(code(() => index.search([1, 2, 3, 4], -1))).toBe('INVALID_K');
    expect(code(() => index.search([1, 2, 3, 4], 1.5))).toBe('INVALID_K');

    expect(code(() => index.search([1, 2, 3, 4], Number.NaN))).toBe('INVALID_K');
    expect(await asyncCode(() => index.searchBatch([[1, 2, 3, 4]], 0))).toBe('INVALID_K');
  });

  it('rejects duplicate and unknown ids, changing nothing', async () => {
    const index = await filled(2);
    expect(await asyncCode(() => index.add([1], [[1, 1]]))).toBe('DUPLICATE_ID');
    expect(await asyncCode(() => index.add([7, 7], [
      [1, 1],
      [2, 2],
    ]))).toBe('DUPLICATE_ID');
    expect(index.has(7)).toBe(false);
    expect(await asyncCode(() => index.remove([1, 42]))).toBe('UNKNOWN_ID');
    expect(index.has(1)).toBe(true);
    expect(await asyncCode(() => index.remove([0, 0]))).toBe('DUPLICATE_ID');
    expect(await asyncCode(() => index.add([-1], [[1, 1]]))).toBe('INVALID_ARGUMENT');
    expect(await asyncCode(() => index.add([0.5], [[1, 1]]))).toBe('INVALID_ARGUMENT');
    expect(await asyncCode(() => index.add([2 ** 53], [[1, 1]]))).toBe('INVALID_ARGUMENT');
    expect(await asyncCode(() => index.add('abc' as never, [[1, 1]]))).toBe('INVALID_ARGUMENT');
    expect(index.size).toBe(3);
  });

  it('rejects searches of an empty index and empty query lists', async () => {
    const index = new VectorIndex({ dim: 3 });
    expect(code(() => index.search([1, 2, 3], 1))).toBe('EMPTY_INDEX');
    expect(await asyncCode(() => index.searchBatch([[1, 2, 3]], 1))).toBe('EMPTY_INDEX');
    const full = await filled(3);
    expect(await asyncCode(() => full.searchBatch([], 1))).toBe('INVALID_ARGUMENT');
    expect(await asyncCode(() => full.searchBatch(new Float32Array(0), 1))).toBe('INVALID_ARGUMENT');
  });

  it('rejects rescoring without originals, and bad rescore factors', async () => {
    const index = await filled(3);
    expect(code(() => index.search([1, 2, 3], 1, { rescore: true }))).toBe('NO_ORIGINALS');
    expect(code(() => index.search([1, 2, 3], 1, { rescore: 0.5 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => index.search([1, 2, 3], 1, { rescore: 5000 }))).toBe('INVALID_ARGUMENT');
  });

  it('bounds every request before allocating: k beyond the size returns them all, huge batches fail at once', async () => {
    const peak = () => process.resourceUsage().maxRSS * 1024; // bytes, the process's high-water mark
    const small = await filled(4, 2);
    const before = peak();
    for (const k of [3, 1e9, 1e12, 2 ** 53 - 1]) {
      expect(small.search([1, 2, 3, 4], k).ids).toHaveLength(2);
      expect((await small.searchBatch([[1, 2, 3, 4], [4, 3, 2, 1]], k)).map((r) => r.ids.length)).toEqual([2, 2]);
    }
    expect(code(() => small.search([1, 2, 3, 4], 2 ** 53))).toBe('INVALID_K');
    const index = await filled(1, 5000);
    const queries = new Float32Array(100_000).fill(1);
    const t0 = performance.now();
    expect(await asyncCode(() => index.searchBatch(queries, 5000))).toBe('REQUEST_TOO_LARGE');
    expect(index.search([1], 5000).ids).toHaveLength(5000);
    expect(performance.now() - t0).toBeLessThan(1000);
    // 100k x 5,000 results would be 6 GB; k = 1e12 used to answer OUT_OF_MEMORY after trying.
    expect(peak() - before).toBeLessThan(64 << 20);
  });

  it('rejects bad paths', async () => {
    const index = await filled(3);
    expect(await asyncCode(() => index.save(42 as never))).toBe('INVALID_ARGUMENT');
    expect(await asyncCode(() => VectorIndex.load(undefined as never))).toBe('INVALID_ARGUMENT');
  });
});
