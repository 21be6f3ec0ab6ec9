/**
 * The SRM as users drive it: it learns (beats popularity by far on the synthetic log, with
 * early stopping), trains deterministically under a seed whatever the thread count, saves and
 * loads exactly, updates incrementally, serves while training, and meets bad input with
 * typed errors or its documented fallbacks.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectInteractions, IdMap } from '../src/data/interactions.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { evaluate, leaveOneOut, popularityScorer, type LeaveOneOut } from '../src/eval/leave-one-out.js';
import { nativeOf, SequentialRecommender, SRM_DEFAULTS } from '../src/srm/sequential-recommender.js';
import { rejection } from './helpers/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-srm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let items = 0;
let split: LeaveOneOut;
let model: SequentialRecommender;

beforeAll(async () => {
  const syn = generateSynthetic({ items: 600, users: 1200, seed: 5 });
  const ids = new IdMap();
  syn.items.forEach((it) => ids.add(it.id));
  const data = await collectInteractions(syn.events, { items: ids });
  items = ids.size;
  split = leaveOneOut(data.sequences);
  model = await SequentialRecommender.fit(split.train, items, { valid: split.valid, epochs: 60, patience: 2, dim: 32, maxLen: 30, seed: 1 });
}, 120_000);

describe('SequentialRecommender: learning', () => {
  it('beats popularity by a wide margin on held-out test events', async () => {
    const pop = await evaluate(split.test, items, popularityScorer(split.train, items), [10]);
    const srm = await evaluate(split.test, items, model.scorer(), [10]);
    expect(srm['NDCG@10']!).toBeGreaterThan(2 * pop['NDCG@10']!);
    expect(srm['HR@10']!).toBeGreaterThan(pop['HR@10']! + 0.1);
  });

  it('returns the best validation epoch\'s weights, and its training loss falls', async () => {
    const h = model.history;
    expect(h.length).toBeGreaterThan(1);
    expect(h.at(-1)!.loss).toBeLessThan(h[0]!.loss);
    const best = h.filter((r) => r.best).at(-1)!;
    expect(best.valid!['NDCG@10']).toBe(Math.max(...h.map((r) => r.valid!['NDCG@10']!)));
    // Training went on past the best epoch, so a model left at its last weights would differ.
    expect(h.at(-1)!.best).toBe(false);
    expect(model.stopReason).toBe('early-stopping');
    const again = await evaluate(split.valid, items, model.scorer(), [10]);
    expect(again['NDCG@10']).toBe(best.valid!['NDCG@10']);
  });

  it('scores, top-k and batched scores agree', async () => {
    const history = split.test[0]!.history;
    const all = await model.scoreBatch([history]);
    const top = model.topK(history, 10);
    const seen = new Set(history);
    const want = Array.from(all.keys())
      .filter((i) => !seen.has(i))
      .sort((a, b) => all[b]! - all[a]! || a - b)
      .slice(0, 10);
    expect(Array.from(top.ids)).toEqual(want);
    const s = model.score(history, top.ids);
    for (let i = 0; i < 10; i++) expect(s.scores[i]).toBeCloseTo(all[top.ids[i]!]!, 4);
    expect(model.topK(history, 10, { excludeHistory: false }).ids[0]).toBe(Array.from(all.keys()).sort((a, b) => all[b]! - all[a]! || a - b)[0]);
  });
});

describe('SequentialRecommender: determinism, files, updates', () => {
  const small = (threads: number) =>
    SequentialRecommender.fit(split.train.slice(0, 300), items, { epochs: 2, dim: 16, maxLen: 20, seed: 9, threads, batchSize: 32 });

  it('trains to bit-identical weights under one seed on 1 and 2 threads', async () => {
    const a = await small(1);
    const b = await small(2);
    expect(Buffer.from(nativeOf(a).params().buffer).equals(Buffer.from(nativeOf(b).params().buffer))).toBe(true);
    const c = await SequentialRecommender.fit(split.train.slice(0, 300), items, { epochs: 2, dim: 16, maxLen: 20, seed: 10, batchSize: 32 });
    expect(Buffer.from(nativeOf(a).params().buffer).equals(Buffer.from(nativeOf(c).params().buffer))).toBe(false);
  });

  it('saves atomically and loads the same model', async () => {
    const file = path.join(dir, 'srm.bin');
    await model.save(file);
    const loaded = await SequentialRecommender.load(file);
    expect(loaded.info).toEqual(model.info);
    const h = split.test[3]!.history;
    expect(Array.from(loaded.topK(h, 20).ids)).toEqual(Array.from(model.topK(h, 20).ids));
    expect(Array.from(loaded.popularity())).toEqual(Array.from(model.popularity()));
  });

  it('rejects damaged, truncated, foreign and missing files with typed errors', async () => {
    const file = path.join(dir, 'srm.bin');
    await model.save(file);
    const bytes = readFileSync(file);
    const flipped = Buffer.from(bytes);
    flipped[200]! ^= 1;
    writeFileSync(path.join(dir, 'flipped.bin'), flipped);
    writeFileSync(path.join(dir, 'short.bin'), bytes.subarray(0, bytes.length - 100));
    writeFileSync(path.join(dir, 'foreign.bin'), 'hello, not a model');
    expect((await rejection(SequentialRecommender.load(path.join(dir, 'flipped.bin')))).code).toBe('CORRUPT_FILE');
    expect((await rejection(SequentialRecommender.load(path.join(dir, 'short.bin')))).code).toBe('TRUNCATED_FILE');
    expect((await rejection(SequentialRecommender.load(path.join(dir, 'foreign.bin')))).code).toBe('NOT_A_MODEL');
    expect((await rejection(SequentialRecommender.load(path.join(dir, 'missing.bin')))).code).toBe('IO_ERROR');
  });

  it('update() learns fresh events without a retrain and counts them in popularity', async () => {
    const m = await small(2);
    const history = split.test[5]!.history;
    const target = (history[history.length - 1]! + 7) % items; // an unlikely next item
    const before = m.score(history, [target]).scores[0]!;
    const popBefore = m.popularity()[target]!;
    const seq = Int32Array.from([...history, target]);
    const r = await m.update([seq, seq, seq], { passes: 5, lr: 5e-3 });
    expect(r.steps).toBe(5);
    expect(r.targets).toBe(15);
    expect(m.score(history, [target]).scores[0]!).toBeGreaterThan(before);
    expect(m.popularity()[target]).toBe(popBefore + 3);
  });

  it('keeps answering while it trains, and refuses a second concurrent training', async () => {
    const m = await small(1);
    const training = m.update(split.train.slice(0, 300), { passes: 3 });
    const second = rejection(m.update(split.train.slice(0, 10))); // handled at once: it rejects while we poll
    let answered = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 50) {
      m.topK(split.test[0]!.history, 5);
      answered++;
      await new Promise((r) => setImmediate(r));
    }
    expect(answered).toBeGreaterThan(3);
    expect((await second).code).toBe('BUSY');
    await training;
  });
});

describe('SequentialRecommender: training controls', () => {
  const opts = { dim: 16, maxLen: 20, seed: 3, batchSize: 16, patience: 100 };

  it('stops on a time budget within an epoch and keeps the best validated weights', async () => {
    const t0 = performance.now();
    const m = await SequentialRecommender.fit(split.train, items, { ...opts, valid: split.valid, epochs: 10_000, maxSeconds: 1.5 });
    const seconds = (performance.now() - t0) / 1000;
    expect(m.stopReason).toBe('time-budget');
    expect(seconds).toBeLessThan(4);
    const h = m.history;
    expect(h.at(-1)!.partial || h.length < 10_000).toBe(true);
    const best = h.filter((r) => r.best).at(-1)!;
    expect((await evaluate(split.valid, items, m.scorer(), [10]))['NDCG@10']).toBe(best.valid!['NDCG@10']);
  });

  it('stops when its AbortSignal is aborted, keeping the best weights', async () => {
    const ctl = new AbortController();
    const m = await SequentialRecommender.fit(split.train, items, {
      ...opts,
      valid: split.valid,
      epochs: 50,
      onEpoch: (r) => r.epoch === 2 && ctl.abort(),
      signal: ctl.signal,
    });
    expect(m.stopReason).toBe('aborted');
    expect(m.history).toHaveLength(3);
    const best = m.history.filter((r) => r.best).at(-1)!;
    expect((await evaluate(split.valid, items, m.scorer(), [10]))['NDCG@10']).toBe(best.valid!['NDCG@10']);
  });

  it('validates every N epochs and after the last', async () => {
    const m = await SequentialRecommender.fit(split.train.slice(0, 200), items, { ...opts, valid: split.valid, epochs: 5, validateEvery: 2 });
    expect(m.history.map((r) => r.valid !== undefined)).toEqual([false, true, false, true, true]);
    expect(m.stopReason).toBe('epochs');
  });

  it('passes Adam\'s betas to the trainer', async () => {
    const base = { ...opts, epochs: 1 };
    const a = await SequentialRecommender.fit(split.train.slice(0, 100), items, base);
    const b = await SequentialRecommender.fit(split.train.slice(0, 100), items, { ...base, beta1: 0.5, beta2: 0.9 });
    expect(Buffer.from(nativeOf(a).params().buffer).equals(Buffer.from(nativeOf(b).params().buffer))).toBe(false);
  });

  it('refuses the second of two back-to-back updates every time (the slot is taken before queueing)', async () => {
    const m = await SequentialRecommender.fit(split.train.slice(0, 50), items, { ...opts, epochs: 1 });
    for (let i = 0; i < 20; i++) {
      const first = m.update(split.train.slice(0, 50));
      const second = rejection(m.update(split.train.slice(0, 5)));
      expect((await second).code).toBe('BUSY');
      await first;
    }
  });
});

describe('SequentialRecommender: bad input and fallbacks', () => {
  it('skips unknown history items with a count, and falls back to popularity for empty histories', () => {
    const h = split.test[0]!.history;
    const clean = model.score(h, [1, 2, 3]);
    const dirty = model.score([-1, ...h, items + 5, 2.5], [1, 2, 3]);
    expect(dirty.ignored).toBe(3);
    expect(Array.from(dirty.scores)).toEqual(Array.from(clean.scores));
    const empty = model.score([items + 1], [0, 1]);
    expect(empty.fallback).toBe('popularity');
    const pop = model.popularity();
    expect(Array.from(empty.scores)).toEqual([pop[0], pop[1]]);
    const top = model.topK([], 3);
    expect(top.fallback).toBe('popularity');
    expect(pop[top.ids[0]!]).toBe(Math.max(...pop));
  });

  it('scores candidates never seen in training as -Infinity, counted', () => {
    const r = model.score(split.test[0]!.history, [0, items, -3, 1]);
    expect(r.unknownCandidates).toBe(2);
    expect(r.scores[1]).toBe(-Infinity);
    expect(r.scores[2]).toBe(-Infinity);
    expect(Number.isFinite(r.scores[0]!)).toBe(true);
  });

  it('rejects bad options, bad k, NaN or misshapen embeddings, and unknown training items', async () => {
    const train = split.train.slice(0, 20);
    const code = async (p: Promise<unknown>) => (await rejection(p)).code;
    expect(await code(SequentialRecommender.fit(train, items, { heads: 3, dim: 32 }))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit(train, items, { lr: -1, epochs: 1 }))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit(train, items, { dropout: 1, epochs: 1 }))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit(train, 0))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit([Int32Array.from([1, items])], items, { epochs: 1 }))).toBe('UNKNOWN_ID');
    const vectors = new Float32Array(items * 16);
    vectors[37] = Number.NaN;
    expect(await code(SequentialRecommender.fit(train, items, { dim: 16, itemEmbeddings: vectors, epochs: 1 }))).toBe('NON_FINITE');
    expect(await code(SequentialRecommender.fit(train, items, { dim: 16, itemEmbeddings: new Float32Array(10), epochs: 1 }))).toBe('DIM_MISMATCH');
    expect(() => model.topK([1], 0)).toThrow(expect.objectContaining({ code: 'INVALID_K' }));
    expect(() => model.topK([1], 2.5)).toThrow(expect.objectContaining({ code: 'INVALID_K' }));
    expect(await code(SequentialRecommender.fit([], items))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit([Int32Array.of(1)], items))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit('abc' as never, items))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit([null] as never, items))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit(train, items, { valid: [] }))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit(train, items, { beta1: 1, epochs: 1 }))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit(train, items, { validateEvery: 0 }))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit(train, items, { maxSeconds: -1 }))).toBe('INVALID_ARGUMENT');
    expect(await code(SequentialRecommender.fit(train, items, { signal: {} as never }))).toBe('INVALID_ARGUMENT');
    expect(() => model.topK(null as never, 3)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => model.score([1], 5 as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(await code(model.scoreBatch('x' as never))).toBe('INVALID_ARGUMENT');
  });

  it('returns min(k, eligible) items when k exceeds the catalog, as the index does', () => {
    const h = split.test[0]!.history;
    const eligible = items - new Set(h).size;
    expect(model.topK(h, 1e9).ids).toHaveLength(eligible);
    expect(model.topK([], items + 10).ids).toHaveLength(items);
  });

  it('fails with CLOSED after close()', async () => {
    const m = await SequentialRecommender.fit(split.train.slice(0, 20), items, { dim: 16, epochs: 1 });
    m.close();
    expect(() => m.topK([1], 3)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    expect(() => m.info).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    expect((await rejection(m.save(path.join(dir, 'closed.bin')))).code).toBe('CLOSED');
  });

  it('starts from given item embeddings', async () => {
    const vectors = Float32Array.from({ length: items * 16 }, (_, i) => Math.sin(i));
    const m = await SequentialRecommender.fit(split.train.slice(0, 5), items, { dim: 16, itemEmbeddings: vectors, epochs: 0 });
    expect(Array.from(nativeOf(m).params().subarray(0, items * 16))).toEqual(Array.from(vectors));
  });
});

describe('SRM defaults', () => {
  it('are one set: the native core builds what SRM_DEFAULTS says when given nothing', async () => {
    const { native } = await import('../src/addon/loader.js');
    const info = new native.NativeSrm({ items: 10 }).info();
    expect({ dim: info.dim, blocks: info.blocks, heads: info.heads, maxLen: info.maxLen }).toEqual({
      dim: SRM_DEFAULTS.dim,
      blocks: SRM_DEFAULTS.blocks,
      heads: SRM_DEFAULTS.heads,
      maxLen: SRM_DEFAULTS.maxLen,
    });
  });
});
