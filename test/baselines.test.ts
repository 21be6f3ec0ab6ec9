/**
 * The content baselines of the quality table (src/eval/baselines.ts): the TF-IDF content scorer
 * against a naive dense TF-IDF cosine written here from the definition, and the fusion weight
 * against a brute-force search, with each scorer called once per batch of splits.
 */
import { describe, expect, it } from 'vitest';
import { chooseColdWeight, chooseFusionWeight, coldWeightedScorer, contentScorer, FUSION_WEIGHTS, fusedScorer, MIN_COLD_TARGETS } from '../src/eval/baselines.js';
import { evaluate, type Scorer, type Split } from '../src/eval/leave-one-out.js';
import { TfidfVectors } from '../src/text/tfidf.js';
import { Random } from '../src/util/random.js';

const CATALOG = [
  'Red wooden train set',
  'Blue wooden train tracks',
  'Red racing car',
  'Plush teddy bear',
  'Teddy bear with red bow',
  'Racing car tracks, blue',
  'Wooden puzzle',
  '', // no text
  'Chess set, wooden',
  'Bear puzzle',
];

/** Dense TF-IDF from the definition: words in >= 2 items and <= half of them, smooth idf, rows L2-normalised. */
function naiveTfidf(texts: string[]): number[][] {
  const tokens = texts.map((t) => t.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
  const n = texts.length;
  const df = new Map<string, number>();
  for (const ws of tokens) for (const w of new Set(ws)) df.set(w, (df.get(w) ?? 0) + 1);
  const vocab = [...df.keys()].filter((w) => df.get(w)! >= 2 && df.get(w)! <= Math.max(2, 0.5 * n)).sort();
  return tokens.map((ws) => {
    const v = vocab.map((w) => ws.filter((x) => x === w).length * (Math.log((1 + n) / (1 + df.get(w)!)) + 1));
    const norm = Math.hypot(...v);
    return norm > 0 ? v.map((x) => x / norm) : v;
  });
}

/** Cosine of every item with the normalised mean of the last `recent` history items' vectors. */
function naiveScores(x: number[][], history: number[], recent: number): number[] {
  const last = history.slice(-recent);
  const width = x[0]!.length;
  const mean = Array.from({ length: width }, (_, k) => last.reduce((a, i) => a + x[i]![k]!, 0) / Math.max(1, last.length));
  const norm = Math.hypot(...mean);
  const p = norm > 0 ? mean.map((v) => v / norm) : mean;
  return x.map((row) => row.reduce((a, v, k) => a + v * p[k]!, 0));
}

const split = (history: number[], target = 0, user = 0): Split => ({ history: Int32Array.from(history), target, user });

describe('contentScorer', () => {
  it('equals a naive dense TF-IDF cosine, per user of a batch, over the last `recent` items', async () => {
    const tfidf = TfidfVectors.fit(CATALOG);
    const x = naiveTfidf(CATALOG);
    expect(tfidf.words).toBe(x[0]!.length);
    const histories = [[0], [0, 1], [3, 4, 4], [2, 5, 6, 8, 9], [7], [9, 0, 3, 2, 1, 5, 6]];
    for (const recent of [2, 50]) {
      const scorer = contentScorer(tfidf, recent);
      // one batch: the profile buffer is reused, so a user's words must not leak into the next
      const rows = await scorer(histories.map((h, u) => split(h, 0, u)));
      expect(rows).toHaveLength(histories.length * CATALOG.length);
      histories.forEach((h, u) => {
        const want = naiveScores(x, h, recent);
        const got = rows.subarray(u * CATALOG.length, (u + 1) * CATALOG.length);
        want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
      });
      // the same users alone, in another order, score the same
      for (const u of [5, 0, 3]) expect(await scorer([split(histories[u]!)])).toEqual(rows.subarray(u * CATALOG.length, (u + 1) * CATALOG.length));
    }
    // only the last `recent` items count: item 9 ('bear puzzle') is out of a 2-item window
    const windowed = await contentScorer(tfidf, 2)([split([9, 0, 1])]);
    expect(Array.from(windowed)).toEqual(Array.from(await contentScorer(tfidf, 2)([split([0, 1])])));
    // a history without words scores every item 0 (chance under evaluate's ties)
    expect(Array.from(await contentScorer(tfidf)([split([7])]))).toEqual(new Array(CATALOG.length).fill(0));
    // the items a user shares words with score above those it shares none with
    const trains = await contentScorer(tfidf)([split([0])]);
    expect(trains[1]).toBeGreaterThan(0);
    expect(trains[3]).toBe(0);
  });

  it('rejects a bad window and history items outside the catalog', async () => {
    const tfidf = TfidfVectors.fit(CATALOG);
    expect(() => contentScorer(tfidf, 0)).toThrow(/recent must be a positive integer/);
    expect(() => contentScorer(tfidf)([split([CATALOG.length])])).toThrow(/outside/);
  });
});

/** A seeded scorer of fixed rows per user: noise, plus `signal` times a boost on the user's target. */
function randomScorer(items: number, seed: number, signal: number, calls: { calls: number; splits: number }): Scorer {
  return (splits) => {
    calls.calls++;
    calls.splits += splits.length;
    const rows = new Float32Array(items * splits.length);
    splits.forEach((s, j) => {
      const rng = new Random(seed * 100_003 + s.user);
      for (let i = 0; i < items; i++) rows[j * items + i] = rng.normal() + (i === s.target ? signal : 0);
    });
    return rows;
  };
}

describe('fusion', () => {
  const items = 60;
  const rng = new Random(3);
  const valid: Split[] = Array.from({ length: 600 }, (_, user) => ({ user, target: rng.int(items), history: Int32Array.from({ length: 5 }, () => rng.int(items)) }));

  it('fusedScorer returns a + weight · b', async () => {
    const count = { calls: 0, splits: 0 };
    const a = randomScorer(items, 1, 1, count);
    const b = randomScorer(items, 2, 1, count);
    const some = valid.slice(0, 7);
    const [ra, rb] = [await a(some), await b(some)];
    for (const w of [0, 0.5, 3]) {
      const got = await fusedScorer(a, b, w)(some);
      expect(got).toHaveLength(ra.length);
      for (let x = 0; x < got.length; x++) expect(got[x]).toBe(Math.fround(ra[x]! + w * rb[x]!));
    }
    expect(() => fusedScorer(a, b, Number.NaN)).toThrow(/finite/);
  });

  it('chooses the weight a brute-force search picks, scoring each model once per batch', async () => {
    const brute = async (a: Scorer, b: Scorer, weights: readonly number[]) => {
      let best = { weight: NaN, ndcg: -Infinity };
      const all: { weight: number; ndcg: number }[] = [];
      for (const weight of weights) {
        const ndcg = (await evaluate(valid, items, fusedScorer(a, b, weight), [10]))['NDCG@10']!;
        all.push({ weight, ndcg });
        if (ndcg > best.ndcg) best = { weight, ndcg };
      }
      return { ...best, all };
    };
    // a: the main model, weakly informative; b: a second signal of varying strength
    const picked = new Set<number>();
    for (const [signalA, signalB] of [
      [1.5, 0.6],
      [1.5, 3],
      [2.5, 0],
    ] as const) {
      const counts = { a: { calls: 0, splits: 0 }, b: { calls: 0, splits: 0 } };
      const a = randomScorer(items, 1, signalA, counts.a);
      const b = randomScorer(items, 2, signalB, counts.b);
      const chosen = await chooseFusionWeight(valid, items, a, b);
      // 600 splits: batches of 256, 256 and 88, each scored once by each model
      expect(counts.a).toEqual({ calls: 3, splits: 600 });
      expect(counts.b).toEqual({ calls: 3, splits: 600 });
      const want = await brute(randomScorer(items, 1, signalA, { calls: 0, splits: 0 }), randomScorer(items, 2, signalB, { calls: 0, splits: 0 }), FUSION_WEIGHTS);
      expect(chosen.weight).toBe(want.weight);
      picked.add(chosen.weight);
      expect(chosen.ndcg).toBeCloseTo(want.ndcg, 10);
      expect(chosen.tried.map((t) => t.weight)).toEqual([...FUSION_WEIGHTS]);
      chosen.tried.forEach((t, j) => expect(t.ndcg).toBeCloseTo(want.all[j]!.ndcg, 10));
    }
    expect(picked.size).toBe(3); // the cases need different weights (0.5, 2 and 0 here)
  });

  it('a useless second signal gets weight 0; the first of equal weights wins', async () => {
    const count = { calls: 0, splits: 0 };
    const a = randomScorer(items, 1, 3, count);
    const zero: Scorer = (splits) => new Float32Array(items * splits.length);
    const chosen = await chooseFusionWeight(valid.slice(0, 100), items, a, zero, [4, 2, 0]);
    expect(chosen.weight).toBe(4); // every weight ties: the first listed
    expect(new Set(chosen.tried.map((t) => t.ndcg)).size).toBe(1);
    await expect(chooseFusionWeight([], items, a, zero)).rejects.toThrow(/no validation splits/);
    await expect(chooseFusionWeight(valid, items, a, zero, [])).rejects.toThrow(/weights/);
  });

  it('the cold weight: a + w_i · b, w_i of its own for cold items, chosen for warm and cold targets alike', async () => {
    const cold = Uint8Array.from({ length: items }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const counts = { a: { calls: 0, splits: 0 }, b: { calls: 0, splits: 0 } };
    const a = randomScorer(items, 1, 1.5, counts.a);
    const b = randomScorer(items, 2, 2, counts.b);
    // the scorer: warm items get `weight`, cold ones the cold weight
    const some = valid.slice(0, 5);
    const [ra, rb] = [await a(some), await b(some)];
    const got = await coldWeightedScorer(a, b, 1, 8, cold)(some);
    for (let x = 0; x < got.length; x++) expect(got[x]).toBe(Math.fround(ra[x]! + (cold[x % items] ? 8 : 1) * rb[x]!));
    // the choice: the mean of warm-target and cold-target NDCG@10, brute force
    counts.a.calls = counts.b.calls = 0;
    const chosen = await chooseColdWeight(valid, items, a, b, 1, cold);
    expect(counts.a.calls).toBe(3);
    expect(counts.b.calls).toBe(3);
    const warmSplits = valid.filter((v) => !cold[v.target]);
    const coldSplits = valid.filter((v) => cold[v.target]);
    expect(coldSplits.length).toBeGreaterThanOrEqual(MIN_COLD_TARGETS);
    let best = { weight: NaN, ndcg: -Infinity };
    for (const wc of [1, ...FUSION_WEIGHTS.filter((w) => w !== 1)]) {
      const sc = coldWeightedScorer(a, b, 1, wc, cold);
      const ndcg = ((await evaluate(warmSplits, items, sc, [10]))['NDCG@10']! + (await evaluate(coldSplits, items, sc, [10]))['NDCG@10']!) / 2;
      if (ndcg > best.ndcg) best = { weight: wc, ndcg };
    }
    expect(chosen.weight).toBe(best.weight);
    expect(chosen.ndcg).toBeCloseTo(best.ndcg, 10);
    // too few cold targets to choose on: the warm weight stays
    const fewCold = valid.filter((v) => !cold[v.target]).concat(coldSplits.slice(0, MIN_COLD_TARGETS - 1));
    expect((await chooseColdWeight(fewCold, items, a, b, 2, cold)).weight).toBe(2);
  });
});
