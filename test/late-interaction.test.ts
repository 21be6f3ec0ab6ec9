/**
 * Late interaction (M6-Rec): bottom layers per segment through the segment cache, top layers
 * over the concatenation. The cached path against the reference path (bottom layers over the
 * whole sequence with a segment-local mask, no cache) within 1e-5 with exact (f32) cache
 * entries and within fp16 rounding with the default cache; a one-segment history against the
 * plain model (segment-local = causal there); cache hits on repeated segments; a swapped
 * model invalidating the cache; bad input.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LateInteraction } from '../src/lm/late-interaction.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { SegmentCache } from '../src/lm/segment-cache.js';
import { maxAbsDiff } from './helpers/compare.js';
import { writeTinyDecoder, writeTinyTokenizer } from './helpers/tiny-models.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-late-'));
const words = ['the', 'cat', 'sat', 'on', 'mat', 'dog', 'ran', 'a', 'red', 'ball', '##s', '.'];
let lm: LanguageModel;
let other: LanguageModel;

beforeAll(async () => {
  writeTinyDecoder(path.join(root, 'm'), { seed: 5, layers: 4, maxPositions: 64 });
  writeTinyTokenizer(path.join(root, 'm'), words);
  lm = await LanguageModel.load(path.join(root, 'm'), { blockSize: 2, threads: 1 });
  writeTinyDecoder(path.join(root, 'o'), { seed: 6, layers: 4, maxPositions: 64 });
  writeTinyTokenizer(path.join(root, 'o'), words);
  other = await LanguageModel.load(path.join(root, 'o'), { blockSize: 2, threads: 1 });
});
afterAll(async () => {
  await lm.close();
  await other.close();
  rmSync(root, { recursive: true, force: true });
});

const history = ['the cat sat on the mat', 'a red ball', 'the dog ran'];
const candidates = ['a dog', 'the red mat .', 'cat', 'balls'];

describe('LateInteraction', () => {
  it('cached results equal the reference path (segment-local bottom over the whole sequence) within 1e-5', async () => {
    const cache = new SegmentCache({ budgetBytes: 1 << 20, storage: 'f32' });
    const li = new LateInteraction(lm, { splitLayer: 2, cache });
    const user = await li.encodeUser(history);
    expect(maxAbsDiff(user, await li.referenceEncodeUser(history))).toBeLessThan(1e-5);
    const scores = await li.score(history, candidates);
    const ref = await li.referenceScore(history, candidates);
    expect(maxAbsDiff(scores, ref)).toBeLessThan(1e-5);
    expect(scores.every((x) => Number.isFinite(x) && x < 0)).toBe(true);
    // the second time every segment comes from the cache, with the same answers
    const before = cache.stats;
    expect(maxAbsDiff(await li.score(history, candidates), scores)).toBe(0);
    const after = cache.stats;
    expect(after.hits - before.hits).toBe(history.length + candidates.length);
    expect(after.misses).toBe(before.misses);
    expect(after.entries).toBe(history.length + candidates.length);
  });

  it('with one segment, segment-local is causal: encodeUser equals the plain model', async () => {
    const li = new LateInteraction(lm, { splitLayer: 2, cache: new SegmentCache({ budgetBytes: 1 << 20, storage: 'f32' }) });
    const text = 'the cat sat on the mat';
    const [states] = await lm.hiddenStates(text, { layers: [4] });
    const H = lm.config.hidden;
    const T = lm.tokenize(text).length;
    expect(maxAbsDiff(await li.encodeUser([text]), states!.subarray((T - 1) * H, T * H))).toBeLessThan(1e-5);
  });

  it('the default fp16 cache stays within its rounding of the exact path', async () => {
    const li = new LateInteraction(lm, { splitLayer: 2 });
    const exact = new LateInteraction(lm, { splitLayer: 2, cache: new SegmentCache({ budgetBytes: 1 << 20, storage: 'f32' }) });
    await li.score(history, candidates); // fills the cache: later runs read fp16 states
    const a = await li.score(history, candidates);
    const b = await exact.score(history, candidates);
    expect(maxAbsDiff(a, b)).toBeLessThan(5e-3);
    li.close();
  });

  it('a different model on the same cache drops the old entries; split layers on block boundaries only', async () => {
    const cache = new SegmentCache({ budgetBytes: 1 << 20 });
    const a = new LateInteraction(lm, { splitLayer: 2, cache });
    await a.encodeUser(history);
    expect(cache.stats.entries).toBe(3);
    const b = new LateInteraction(other, { splitLayer: 2, cache });
    expect(cache.stats.entries).toBe(0);
    expect(a.modelId).not.toBe(b.modelId);
    expect(() => new LateInteraction(lm, { splitLayer: 1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new LateInteraction(lm, { splitLayer: 4 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('bad input: empty lists and segments, a history beyond the context', async () => {
    const li = new LateInteraction(lm, { splitLayer: 2 });
    await expect(li.encodeUser([])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(li.encodeUser(['the cat', ''])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(li.score(history, [])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const long = Array.from({ length: 20 }, () => 'the cat sat on the mat');
    await expect(li.encodeUser(long)).rejects.toMatchObject({ code: 'INPUT_TOO_LONG' });
    li.close();
  });
});
