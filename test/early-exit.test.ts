/**
 * Early exit over late interaction: exit heads (ridge regressions to the final state), a
 * confidence threshold per exit set from a target loss on validation users, the fall-back to
 * the last layer with exactly the full model's scores, and the exit histogram.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EarlyExit } from '../src/lm/early-exit.js';
import { LateInteraction } from '../src/lm/late-interaction.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { SegmentCache } from '../src/lm/segment-cache.js';
import { Random } from '../src/util/random.js';
import { maxAbsDiff } from './helpers/compare.js';
import { writeTinyDecoder } from './helpers/tiny-models.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-exit-'));
let lm: LanguageModel;
let li: LateInteraction;
const rng = new Random(8);
const user = () => Array.from({ length: 3 + rng.int(4) }, () => Array.from({ length: 2 + rng.int(3) }, () => 1 + rng.int(50)));
const train = Array.from({ length: 40 }, user);
const valid = Array.from({ length: 25 }, user);
const test = Array.from({ length: 10 }, user);
let candidates: Float32Array[];

beforeAll(async () => {
  writeTinyDecoder(path.join(root, 'm'), { seed: 3, layers: 6, vocab: 61, maxPositions: 64 });
  lm = await LanguageModel.load(path.join(root, 'm'), { blockSize: 1, threads: 1 });
  li = new LateInteraction(lm, { splitLayer: 2, cache: new SegmentCache({ budgetBytes: 1 << 22, storage: 'f32' }) });
  candidates = await lm.encode(Array.from({ length: 30 }, () => [1 + rng.int(50), 1 + rng.int(50)]), { layer: 6, pooling: 'last' });
});
afterAll(async () => {
  li.close();
  await lm.close();
  rmSync(root, { recursive: true, force: true });
});

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('EarlyExit', () => {
  it('a request no exit is sure of runs every layer and gets exactly the full scores', async () => {
    const strict = await EarlyExit.fit(li, 6, train, valid, candidates, { exits: [3, 4], targetLoss: 0, k: 5 });
    for (const h of test) {
      const r = await strict.rank(h, candidates);
      const u = await li.encodeUser(h);
      if (r.layer === 6) expect(maxAbsDiff(r.scores, Float32Array.from(candidates, (c) => dot(c, u)))).toBeLessThan(1e-4);
      else expect([3, 4]).toContain(r.layer);
    }
    const total = Object.values(strict.histogram).reduce((a, b) => a + b, 0);
    expect(total).toBe(test.length);
  });

  it('a loose target lets every request leave at the first exit; the first threshold falls as the target rises', async () => {
    const loose = await EarlyExit.fit(li, 6, train, valid, candidates, { exits: [3, 4], targetLoss: 1, k: 5 });
    for (const h of test) expect((await loose.rank(h, candidates)).layer).toBe(3);
    expect(loose.histogram).toEqual({ 3: test.length });
    expect(loose.thresholds[4]).toBe(Infinity); // nobody is left for the second exit to let out
    const mid = await EarlyExit.fit(li, 6, train, valid, candidates, { exits: [3, 4], targetLoss: 0.2, k: 5 });
    const strict = await EarlyExit.fit(li, 6, train, valid, candidates, { exits: [3, 4], targetLoss: 0, k: 5 });
    expect(loose.thresholds[3]!).toBeLessThanOrEqual(mid.thresholds[3]!);
    expect(mid.thresholds[3]!).toBeLessThanOrEqual(strict.thresholds[3]!);
  });

  it('with true targets the budget is a share of the final NDCG against them', async () => {
    // targets the final model ranks first: NDCG 1 each, so the budget and the losses are as without targets
    const best = await Promise.all(valid.map(async (h) => {
      const u = (await li.encodeUserAt(h, [6])).get(6)!;
      const s = candidates.map((c) => dot(c, u));
      return s.indexOf(Math.max(...s));
    }));
    const loose = await EarlyExit.fit(li, 6, train, valid, candidates, { exits: [3, 4], targetLoss: 1, k: 5, targets: best });
    expect(loose.thresholds[4]).toBe(Infinity);
    const none = await EarlyExit.fit(li, 6, train, valid, candidates, { exits: [3, 4], targetLoss: 0, k: 5, targets: best });
    expect(none.thresholds[3]!).toBeGreaterThan(loose.thresholds[3]!);
    await expect(EarlyExit.fit(li, 6, train, valid, candidates, { exits: [3], targets: [0] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('the exit heads predict the final state better than the raw exit state does', async () => {
    // ranking by the head's prediction agrees with the final ranking more often than by the raw state
    const e = await EarlyExit.fit(li, 6, train, valid, candidates, { exits: [4], targetLoss: 1, k: 5 });
    let headAgree = 0;
    let rawAgree = 0;
    for (const h of [...valid, ...test]) {
      const s = await li.encodeUserAt(h, [4, 6]);
      const finalTop = new Set(topK(Float32Array.from(candidates, (c) => dot(c, s.get(6)!)), 5));
      const viaHead = (await e.rank(h, candidates)).scores;
      headAgree += topK(viaHead, 5).filter((i) => finalTop.has(i)).length;
      rawAgree += topK(Float32Array.from(candidates, (c) => dot(c, s.get(4)!)), 5).filter((i) => finalTop.has(i)).length;
    }
    expect(headAgree).toBeGreaterThan(rawAgree);
  });

  it('a scoring function (an item head, say) ranks as the candidate vectors it computes', async () => {
    const asFunction = (state: Float32Array) => Float32Array.from(candidates, (c) => dot(c, state));
    const a = await EarlyExit.fit(li, 6, train, valid, candidates, { exits: [3, 4], targetLoss: 0.2, k: 5 });
    const b = await EarlyExit.fit(li, 6, train, valid, asFunction, { exits: [3, 4], targetLoss: 0.2, k: 5 });
    for (const l of [3, 4]) expect(b.thresholds[l]).toBeCloseTo(a.thresholds[l]!, 4);
    for (const h of test) expect((await b.rank(h, asFunction)).layer).toBe((await a.rank(h, candidates)).layer);
  });

  it('bad settings are typed errors', async () => {
    await expect(EarlyExit.fit(li, 6, train, valid, candidates, { exits: [2] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(EarlyExit.fit(li, 6, train, valid, candidates, { exits: [6] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(EarlyExit.fit(li, 6, train, valid, candidates.slice(0, 5), { exits: [3], k: 5 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(li.encodeUserAt(train[0]!, [2])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

function topK(scores: Float32Array, k: number): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, k);
}
