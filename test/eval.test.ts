import { describe, expect, it } from 'vitest';
import { generateSynthetic } from '../src/data/synthetic.js';
import { IdMap } from '../src/data/interactions.js';
import { evaluate, leaveOneOut, popularityScorer } from '../src/eval/leave-one-out.js';

const seqs = (...xs: number[][]) => xs.map((x) => Int32Array.from(x));

describe('leave-one-out evaluation', () => {
  it('splits the last event for test and the one before for validation', () => {
    const split = leaveOneOut(seqs([0, 1, 2, 3], [4, 0], [1, 2, 4]));
    expect(Array.from(split.train[0]!)).toEqual([0, 1]);
    expect(Array.from(split.train[1]!)).toEqual([4, 0]); // too short to evaluate
    expect(split.test.map((s) => [s.user, s.target, Array.from(s.history)])).toEqual([
      [0, 3, [0, 1, 2]],
      [2, 4, [1, 2]],
    ]);
    expect(split.valid.map((s) => [s.user, s.target, Array.from(s.history)])).toEqual([
      [0, 2, [0, 1]],
      [2, 2, [1]],
    ]);
  });

  it('ranks over the full catalog with the history masked and the target eligible', async () => {
    // fixed scores: item 0 best ... item 4 worst
    const scores = Float32Array.from([5, 4, 3, 2, 1]);
    const { test } = leaveOneOut(seqs([0, 1, 2, 3], [4, 0, 1], [1, 2, 4], [3, 0, 3]));
    // ranks (0-based): 0 (0,1,2 masked), 0 (4,0 masked), 2 (0 and 3 beat 4), 2 (1 and 2 beat 3; 3 is the target)
    const m = await evaluate(test, 5, (b) => tile(scores, b.length), [1, 5]);
    expect(m['HR@1']).toBeCloseTo(0.5);
    expect(m['HR@5']).toBeCloseTo(1);
    expect(m['NDCG@1']).toBeCloseTo(0.5);
    expect(m['NDCG@5']).toBeCloseTo((1 + 1 + 0.5 + 0.5) / 4);
    expect(m.MRR).toBeCloseTo((1 + 1 + 1 / 3 + 1 / 3) / 4);
  });

  it('ranks among sampled negatives when asked: never worse than full ranking, all negatives = full', async () => {
    const users = Array.from({ length: 60 }, (_, u) => Int32Array.from({ length: 6 }, (_, i) => (u * 7 + i * 13) % 50));
    const { test } = leaveOneOut(users);
    const scores = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i * 3.1));
    const scorer = (b: unknown[]) => tile(scores, b.length);
    const full = await evaluate(test, 50, scorer, [10]);
    const sampled = await evaluate(test, 50, scorer, [10], { sampledNegatives: 5, seed: 2 });
    expect(sampled.MRR).toBeGreaterThan(full.MRR!);
    expect(sampled['HR@10']).toBe(1); // 5 negatives: the target is always in the top 6
    expect(await evaluate(test, 50, scorer, [10], { sampledNegatives: 1000 })).toEqual(full);
    await expect(evaluate(test, 50, scorer, [10], { sampledNegatives: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('rejects scorers of the wrong size, NaN targets, and nothing to evaluate', async () => {
    const { test } = leaveOneOut(seqs([0, 1, 2]));
    await expect(evaluate(test, 3, () => new Float32Array(2))).rejects.toMatchObject({ code: 'DIM_MISMATCH' });
    await expect(evaluate(test, 3, (b) => tile(Float32Array.from([0, 0, Number.NaN]), b.length))).rejects.toMatchObject({ code: 'NON_FINITE' });
    await expect(evaluate([], 3, (b) => new Float32Array(3 * b.length))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('popularity beats chance by far on the synthetic log', async () => {
    const data = generateSynthetic({ items: 1000, users: 500, seed: 3 });
    const items = new IdMap();
    data.items.forEach((it) => items.add(it.id));
    const users = new IdMap();
    const sequences: number[][] = [];
    for (const e of data.events) (sequences[users.add(e.user)] ??= []).push(items.get(e.item)!);
    const split = leaveOneOut(sequences.map((s) => Int32Array.from(s)));
    const m = await evaluate(split.test, items.size, popularityScorer(split.train, items.size));
    expect(m['HR@10']).toBeGreaterThan(5 * (10 / items.size));
  });
});

function tile(row: Float32Array, n: number): Float32Array {
  const out = new Float32Array(row.length * n);
  for (let i = 0; i < n; i++) out.set(row, i * row.length);
  return out;
}
