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
    const split = syntheticSplit();
    const m = await evaluate(split.test, split.items, popularityScorer(split.train, split.items));
    expect(m['HR@10']).toBeGreaterThan(5 * (10 / split.items));
  });
});

describe('ties', () => {
  // Users with distinct items: every test target has N = items - 4 eligible items (itself included).
  const items = 60;
  const { test } = leaveOneOut(Array.from({ length: 12 }, (_, u) => Int32Array.from({ length: 5 }, (_, i) => u * 5 + i)));
  const N = items - 4;
  const constant = (b: unknown[]) => new Float32Array(items * b.length).fill(0.5);

  it('a constant scorer scores at chance level: HR@K = K/N, MRR = H(N)/N', async () => {
    const m = await evaluate(test, items, constant, [1, 5, 10, 20]);
    for (const k of [1, 5, 10, 20]) {
      expect(m[`HR@${k}`]).toBeCloseTo(k / N, 14);
      expect(m[`NDCG@${k}`]).toBeCloseTo(sum(k, (r) => 1 / Math.log2(r + 2)) / N, 14);
    }
    expect(m.MRR).toBeCloseTo(sum(N, (r) => 1 / (r + 1)) / N, 14);
  });

  it('a target tied with 3 others at the top is equally likely at ranks 0..3', async () => {
    const scorer = (b: typeof test) => {
      const rows = new Float32Array(items * b.length);
      b.forEach((s, j) => {
        const row = rows.subarray(j * items, (j + 1) * items);
        for (const i of [s.target, (s.target + 5) % items, (s.target + 10) % items, (s.target + 15) % items]) row[i] = 1;
        row[s.history[0]!] = 2; // masked: not a competitor
      });
      return rows;
    };
    const m = await evaluate(test, items, scorer, [1, 2, 5]);
    expect(m['HR@1']).toBeCloseTo(1 / 4, 14);
    expect(m['HR@2']).toBeCloseTo(2 / 4, 14);
    expect(m['HR@5']).toBe(1);
    expect(m['NDCG@1']).toBeCloseTo(1 / 4, 14);
    expect(m['NDCG@5']).toBeCloseTo((1 + 1 / Math.log2(3) + 1 / 2 + 1 / Math.log2(5)) / 4, 14);
    expect(m.MRR).toBeCloseTo((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4, 14);
  });

  it('counts NaN competitors as lowest', async () => {
    const scorer = (b: typeof test) => {
      const rows = new Float32Array(items * b.length).fill(Number.NaN);
      b.forEach((s, j) => (rows[j * items + s.target] = -1));
      return rows;
    };
    expect(await evaluate(test, items, scorer, [1])).toEqual({ 'HR@1': 1, 'NDCG@1': 1, MRR: 1 });
  });

  it('computes MRR exactly for large ties (the harmonic sums past the summed terms)', async () => {
    const { test: one } = leaveOneOut([Int32Array.from([0, 1, 2])]); // 2 history items masked
    for (const n of [63, 64, 65, 66, 1_000, 123_457]) {
      const m = await evaluate(one, n + 2, (b) => new Float32Array((n + 2) * b.length), [1]);
      expect(Math.abs(m.MRR! - sum(n, (r) => 1 / (r + 1)) / n)).toBeLessThan(1e-13);
      expect(m['HR@1']).toBeCloseTo(1 / n, 15);
    }
  });

  it('ranks ties fairly among sampled negatives too', async () => {
    const m = await evaluate(test, items, constant, [1, 5], { sampledNegatives: 9, seed: 3 });
    expect(m['HR@1']).toBeCloseTo(1 / 10, 14);
    expect(m['HR@5']).toBeCloseTo(5 / 10, 14);
    expect(m.MRR).toBeCloseTo(sum(10, (r) => 1 / (r + 1)) / 10, 14);
  });

  it('gives popularity (integer counts, many ties) its expected figures, below the optimistic ones', async () => {
    const split = syntheticSplit(100); // a short log: low counts, many ties
    const scorer = popularityScorer(split.train, split.items);
    const ks = [1, 10];
    const m = await evaluate(split.test, split.items, scorer, ks);
    // Reference: every rank from h to h + t, averaged one by one; and the old rank h alone.
    const fair: Record<string, number> = { 'HR@1': 0, 'HR@10': 0, MRR: 0 };
    const optimistic: Record<string, number> = { 'HR@1': 0, 'HR@10': 0, MRR: 0 };
    const counts = (await scorer(split.test.slice(0, 1))) as Float32Array;
    for (const s of split.test) {
      const masked = new Set([...s.history, s.target]);
      let h = 0;
      let t = 0;
      counts.forEach((c, i) => {
        if (masked.has(i)) return;
        if (c > counts[s.target]!) h++;
        else if (c === counts[s.target]) t++;
      });
      for (let r = h; r <= h + t; r++) {
        for (const k of ks) fair[`HR@${k}`]! += r < k ? 1 / (t + 1) : 0;
        fair.MRR! += 1 / (r + 1) / (t + 1);
      }
      for (const k of ks) optimistic[`HR@${k}`]! += h < k ? 1 : 0;
      optimistic.MRR! += 1 / (h + 1);
    }
    for (const key of Object.keys(fair)) {
      expect(m[key]).toBeCloseTo(fair[key]! / split.test.length, 12);
      expect(m[key]).toBeLessThanOrEqual(optimistic[key]! / split.test.length);
    }
    // The top counts rarely tie, so HR@10 may not move; the ranks below do.
    expect(m.MRR).toBeLessThan(optimistic.MRR! / split.test.length);
  });
});

function sum(n: number, f: (i: number) => number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += f(i);
  return s;
}

function syntheticSplit(users = 500): ReturnType<typeof leaveOneOut> & { items: number } {
  const data = generateSynthetic({ items: 1000, users, seed: 3 });
  const items = new IdMap();
  data.items.forEach((it) => items.add(it.id));
  const userIds = new IdMap();
  const sequences: number[][] = [];
  for (const e of data.events) (sequences[userIds.add(e.user)] ??= []).push(items.get(e.item)!);
  return { ...leaveOneOut(sequences.map((s) => Int32Array.from(s))), items: items.size };
}

function tile(row: Float32Array, n: number): Float32Array {
  const out = new Float32Array(row.length * n);
  for (let i = 0; i < n; i++) out.set(row, i * row.length);
  return out;
}
