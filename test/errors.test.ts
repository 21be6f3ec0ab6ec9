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

function filled(dim: number, n = 3): VectorIndex {
  const index = new VectorIndex({ dim });
  index.add(
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
    expect(code(() => new VectorIndex({ dim: 4, kernel: 'quantum' }))).toBe('UNSUPPORTED');
    expect(code(() => new VectorIndex({ dim: 4, threads: -1 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new VectorIndex(null as never))).toBe('INVALID_ARGUMENT');
  });

  it('rejects wrong dimensions', () => {
    const index = filled(4);
    expect(code(() => index.add([9], new Float32Array(5)))).toBe('DIM_MISMATCH');
    expect(code(() => index.add([9], [[1, 2, 3]]))).toBe('DIM_MISMATCH');
    expect(code(() => index.search(new Float32Array(3), 1))).toBe('DIM_MISMATCH');
    expect(code(() => index.search([1, 2, 3, 4, 5], 1))).toBe('DIM_MISMATCH');
    expect(code(() => index.add([9], [[1, 2, 'x', 4] as never]))).toBe('INVALID_ARGUMENT');
  });

  it('rejects NaN, infinity and overflowing magnitudes', () => {
    const index = filled(4);
    expect(code(() => index.add([9], [[1, Number.NaN, 3, 4]]))).toBe('NON_FINITE');
    expect(code(() => index.add([9], [[1, Infinity, 3, 4]]))).toBe('NON_FINITE');
    expect(code(() => index.add([9], [[1e30, 1, 1, 1]]))).toBe('NON_FINITE');
    expect(code(() => index.search([0, Number.NaN, 0, 0], 1))).toBe('NON_FINITE');
    expect(index.has(9)).toBe(false);
    expect(index.size).toBe(3);
  });

  it('rejects a zero vector under cosine', () => {
    const index = new VectorIndex({ dim: 3, metric: 'cosine' });
    expect(code(() => index.add([1], [[0, 0, 0]]))).toBe('INVALID_ARGUMENT');
    index.add([1], [[1, 0, 0]]);
    expect(code(() => index.search([0, 0, 0], 1))).toBe('INVALID_ARGUMENT');
  });

  it('rejects bad k', async () => {
    const index = filled(4);
    expect(code(() => index.search([1, 2, 3, 4], 0))).toBe('INVALID_K');
    expect(code(() => index.search([1, 2, 3, 4], -1))).toBe('INVALID_K');
    expect(code(() => index.search([1, 2, 3, 4], 1.5))).toBe('INVALID_K');
    expect(code(() => index.search([1, 2, 3, 4], 4))).toBe('INVALID_K');
    expect(code(() => index.search([1, 2, 3, 4], Number.NaN))).toBe('INVALID_K');
    expect(await asyncCode(() => index.searchBatch([[1, 2, 3, 4]], 99))).toBe('INVALID_K');
  });

  it('rejects duplicate and unknown ids, changing nothing', () => {
    const index = filled(2);
    expect(code(() => index.add([1], [[1, 1]]))).toBe('DUPLICATE_ID');
    expect(code(() => index.add([7, 7], [
      [1, 1],
      [2, 2],
    ]))).toBe('DUPLICATE_ID');
    expect(index.has(7)).toBe(false);
    expect(code(() => index.remove([1, 42]))).toBe('UNKNOWN_ID');
    expect(index.has(1)).toBe(true);
    expect(code(() => index.remove([0, 0]))).toBe('DUPLICATE_ID');
    expect(code(() => index.add([-1], [[1, 1]]))).toBe('INVALID_ARGUMENT');
    expect(code(() => index.add([0.5], [[1, 1]]))).toBe('INVALID_ARGUMENT');
    expect(code(() => index.add([2 ** 53], [[1, 1]]))).toBe('INVALID_ARGUMENT');
    expect(code(() => index.add('abc' as never, [[1, 1]]))).toBe('INVALID_ARGUMENT');
    expect(index.size).toBe(3);
  });

  it('rejects searches of an empty index and empty query lists', async () => {
    const index = new VectorIndex({ dim: 3 });
    expect(code(() => index.search([1, 2, 3], 1))).toBe('EMPTY_INDEX');
    expect(await asyncCode(() => index.searchBatch([[1, 2, 3]], 1))).toBe('EMPTY_INDEX');
    const full = filled(3);
    expect(await asyncCode(() => full.searchBatch([], 1))).toBe('INVALID_ARGUMENT');
    expect(await asyncCode(() => full.searchBatch(new Float32Array(0), 1))).toBe('INVALID_ARGUMENT');
  });

  it('rejects rescoring without originals, and bad rescore factors', () => {
    const index = filled(3);
    expect(code(() => index.search([1, 2, 3], 1, { rescore: true }))).toBe('NO_ORIGINALS');
    expect(code(() => index.search([1, 2, 3], 1, { rescore: 0.5 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => index.search([1, 2, 3], 1, { rescore: 5000 }))).toBe('INVALID_ARGUMENT');
  });

  it('rejects oversized requests instead of exhausting memory', async () => {
    const index = filled(1, 5000);
    const queries = new Float32Array(100_000).fill(1);
    expect(await asyncCode(() => index.searchBatch(queries, 5000))).toBe('REQUEST_TOO_LARGE');
  });

  it('rejects bad paths', async () => {
    const index = filled(3);
    expect(await asyncCode(() => index.save(42 as never))).toBe('INVALID_ARGUMENT');
    expect(await asyncCode(() => VectorIndex.load(undefined as never))).toBe('INVALID_ARGUMENT');
  });
});
