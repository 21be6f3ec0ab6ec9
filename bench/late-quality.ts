/**
 * The quality half of `npm run bench:late`: late interaction on a model lmrec trained, on the
 * synthetic benchmark (1,000 items, 2,000 users, seed 7; --quick: 300 items, 400 users).
 *
 *  - full attention: an 8-layer, 128-wide decoder pretrained from scratch (next token + item
 *    head, 6 epochs), its item head read natively with causal attention over the whole history;
 *  - late interaction at split s (4 and 6 of 8), before tuning: the same model served as late
 *    interaction — each event's bottom s layers alone, from the segment cache, the top layers
 *    over the concatenation — through LanguageModel + LateInteraction + ItemHead;
 *  - the same model trained 2 more epochs with full attention (the extra training tuning gets);
 *  - after tuning: the model trained 2 more epochs with the segment-local mask in its bottom
 *    s layers, which stay frozen (the cached states do not change), so the top layers and the
 *    item head (a softmax over the catalog: user → next item, every other item a negative)
 *    learn to read segments that never saw each other; served the same way;
 *  - the SRM alone (SASRec, same split, 60 s), and the fusion of the SRM with each LM: per
 *    user, z-scored scores over the catalog, z(SRM) + w·z(LM), w chosen on validation users;
 *  - early exit on the tuned split-4 model: heads after layers 5, 6, 7 (ridge on the states,
 *    against the final layer; 1,000 validation users), thresholds from 1,000 other validation
 *    users for at most 1% loss of NDCG@10 against their true next items; test users' mean
 *    latency against the same late interaction without exit, test NDCG@10 with and without
 *    exit, the agreement with the final ranking, the exit histogram.
 * Every row is test NDCG@10 / HR@10 over the full catalog, history items excluded (leave-one-out).
 */
import path from 'node:path';
import { evaluate, type Metrics, type Scorer, type Split } from '../src/eval/leave-one-out.js';
import { EarlyExit, ndcgAgainst } from '../src/lm/early-exit.js';
import { ItemHead } from '../src/lm/item-head.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { LateInteraction } from '../src/lm/late-interaction.js';
import { SegmentCache } from '../src/lm/segment-cache.js';
import { readModelInfo } from '../src/lm/model-info.js';
import { loadTokenizer } from '../src/lm/tokenizer.js';
import { writeSynthetic } from '../src/data/synthetic.js';
import { historySegments, type BehaviourEncoder } from '../src/pretrain/behaviour-corpus.js';
import { behaviourEncoder, readBehaviour, type BehaviourData } from '../src/pretrain/behaviour-data.js';
import { openItemHeadScorer } from '../src/pretrain/item-head-scorer.js';
import { pretrain } from '../src/pretrain/pretrain.js';
import { SequentialRecommender } from '../src/srm/sequential-recommender.js';
import { latencyStats } from './measure.js';

interface Row {
  model: string;
  testNdcg10: number;
  testHr10: number;
  /** Fusion rows: the LM's weight chosen on validation users. */
  weight?: number;
  /** Served rows: ms per user (encode the history, score the catalog), warm cache. */
  p50Ms?: number;
  seconds?: number;
}

const K = [10];
const TUNE_EPOCHS = 2;
const metricsRow = (model: string, m: Metrics, extra: Partial<Row> = {}): Row => ({ model, testNdcg10: m['NDCG@10']!, testHr10: m['HR@10']!, ...extra });

/** A scorer over splits scored ahead (row per split object). */
function tableScorer(rows: Map<Split, Float32Array>): Scorer {
  return (splits) => {
    const I = rows.values().next().value!.length;
    const out = new Float32Array(splits.length * I);
    splits.forEach((s, i) => out.set(rows.get(s)!, i * I));
    return out;
  };
}

async function scoreAll(splits: Split[], scorer: Scorer, items: number): Promise<Map<Split, Float32Array>> {
  const out = new Map<Split, Float32Array>();
  for (let at = 0; at < splits.length; at += 256) {
    const batch = splits.slice(at, at + 256);
    const scores = await scorer(batch);
    batch.forEach((s, i) => out.set(s, scores.slice(i * items, (i + 1) * items)));
  }
  return out;
}

function zscore(v: Float32Array): Float32Array {
  let mean = 0;
  for (const x of v) mean += x / v.length;
  let sq = 0;
  for (const x of v) sq += (x - mean) ** 2 / v.length;
  const sd = Math.sqrt(sq) || 1;
  return Float32Array.from(v, (x) => (x - mean) / sd);
}

function fuse(a: Map<Split, Float32Array>, b: Map<Split, Float32Array>, w: number): Map<Split, Float32Array> {
  const out = new Map<Split, Float32Array>();
  for (const [s, x] of a) {
    const za = zscore(x);
    const zb = zscore(b.get(s)!);
    out.set(s, Float32Array.from(za, (v, i) => v + w * zb[i]!));
  }
  return out;
}

/** The model's way of writing behaviour (tokenizer, BOS/EOS, context, separator) over `data`. */
function encoderOf(dir: string, data: BehaviourData): BehaviourEncoder {
  const info = readModelInfo(dir)!;
  return behaviourEncoder(data, loadTokenizer(dir)!, { bos: info.bos, eos: info.eos, context: info.context!, separator: info.separator });
}

/** The model served as late interaction at `split`: per-user item-head scores and ms per user. */
async function served(dir: string, split: number, data: BehaviourData, splitSets: Split[][], threads: number) {
  const encoder = encoderOf(dir, data);
  const lm = await LanguageModel.load(dir, { precision: 'fp32', blockSize: 1, threads });
  const li = new LateInteraction(lm, { splitLayer: split });
  const head = await ItemHead.load(dir);
  const ms: number[] = [];
  const out: Map<Split, Float32Array>[] = [];
  try {
    for (const splits of splitSets) {
      const m = new Map<Split, Float32Array>();
      for (const s of splits) {
        const t0 = performance.now();
        m.set(s, head.scores(await li.encodeUser(historySegments(s.history, encoder))));
        ms.push(performance.now() - t0);
      }
      out.push(m);
    }
  } finally {
    li.close();
    await lm.close();
  }
  // the first pass over the catalog fills the cache: report the warm half
  return { scores: out, p50Ms: latencyStats(ms.slice(ms.length >> 1)).p50 };
}

export async function lateQuality(dir: string, quick: boolean, threads: number) {
  const syn = quick ? { items: 300, users: 400 } : { items: 1000, users: 2000 };
  writeSynthetic(path.join(dir, 'data'), { ...syn, seed: 7 });
  const items = path.join(dir, 'data', 'items.jsonl');
  const events = path.join(dir, 'data', 'events.jsonl');
  const data = await readBehaviour(items, events, '{title}');
  const { valid, test } = data.split;
  const I = data.catalog.size;
  const shape = quick ? { dim: 64, layers: 4, heads: 4, kvHeads: 2, ffn: 176 } : { dim: 128, layers: 8, heads: 4, kvHeads: 2, ffn: 352 };
  const L = shape.layers;
  const splits = quick ? [2, 3] : [4, 6];
  const epochs = quick ? 2 : 6;
  const log = (what: string) => (p: { step: number; totalSteps: number; lmLoss: number; itemLoss: number }) => {
    if (p.step % 100 === 0 || p.step === p.totalSteps) console.error(`${what}: step ${p.step}/${p.totalSteps} loss ${p.lmLoss.toFixed(3)} item ${p.itemLoss.toFixed(3)}`);
  };
  const rows: Row[] = [];

  console.error('quality: the SRM');
  let t0 = performance.now();
  const srm = await SequentialRecommender.fit(data.split.train, I, { valid, maxSeconds: quick ? 20 : 60, threads });
  const srmScores = { valid: await scoreAll(valid, srm.scorer(), I), test: await scoreAll(test, srm.scorer(), I) };
  srm.close();
  rows.push(metricsRow('SRM alone (SASRec)', await evaluate(test, I, tableScorer(srmScores.test), K), { seconds: (performance.now() - t0) / 1000 }));

  console.error(`quality: pretraining the ${L}x${shape.dim} model (full attention)`);
  const full = path.join(dir, 'full');
  t0 = performance.now();
  const pre = await pretrain({ items, events, out: full, template: '{title}', context: 192, vocabSize: 512, ...shape, epochs, threads, onProgress: log('full') });
  const fullHead = await openItemHeadScorer(full, items, data.catalog, threads);
  const fullScores = { valid: await scoreAll(valid, fullHead.scorer, I), test: await scoreAll(test, fullHead.scorer, I) };
  fullHead.close();
  rows.push(metricsRow(`LM, full attention (${L} layers)`, await evaluate(test, I, tableScorer(fullScores.test), K), { seconds: pre.seconds }));

  // The same extra training as tuning gets, with full attention everywhere: the fair reference.
  const more = path.join(dir, 'full-more');
  const r2 = await pretrain({ items, events, out: more, model: full, epochs: TUNE_EPOCHS, threads, onProgress: log('full +2') });
  const moreHead = await openItemHeadScorer(more, items, data.catalog, threads);
  const moreScores = { valid: await scoreAll(valid, moreHead.scorer, I), test: await scoreAll(test, moreHead.scorer, I) };
  moreHead.close();
  rows.push(metricsRow(`LM, full attention, +${TUNE_EPOCHS} epochs`, await evaluate(test, I, tableScorer(moreScores.test), K), { seconds: r2.seconds }));

  const lmScores: { name: string; valid: Map<Split, Float32Array>; test: Map<Split, Float32Array> }[] = [{ name: `full attention +${TUNE_EPOCHS}`, ...moreScores }];
  const tunedDirs = new Map<number, string>();
  for (const split of splits) {
    console.error(`quality: late interaction at split ${split}, before tuning`);
    const before = await served(full, split, data, [test], threads);
    rows.push(metricsRow(`LM, late interaction split ${split}/${L}, before tuning`, await evaluate(test, I, tableScorer(before.scores[0]!), K), { p50Ms: before.p50Ms }));
    const tuned = path.join(dir, `tuned-${split}`);
    tunedDirs.set(split, tuned);
    t0 = performance.now();
    const r = await pretrain({ items, events, out: tuned, model: full, localLayers: split, freezeLayers: split, epochs: TUNE_EPOCHS, threads, onProgress: log(`tune ${split}`) });
    console.error(`quality: late interaction at split ${split}, after tuning (native: NDCG@10 ${r.itemHead.test['NDCG@10']!.toFixed(4)})`);
    const after = await served(tuned, split, data, [valid, test], threads);
    rows.push(metricsRow(`LM, late interaction split ${split}/${L}, tuned`, await evaluate(test, I, tableScorer(after.scores[1]!), K), { p50Ms: after.p50Ms, seconds: r.seconds }));
    lmScores.push({ name: `late ${split}/${L} tuned`, valid: after.scores[0]!, test: after.scores[1]! });
  }

  for (const lm of lmScores) {
    let best = { w: 0, ndcg: -1 };
    for (const w of [0.125, 0.25, 0.5, 1, 2, 4]) {
      const m = await evaluate(valid, I, tableScorer(fuse(srmScores.valid, lm.valid, w)), K);
      if (m['NDCG@10']! > best.ndcg) best = { w, ndcg: m['NDCG@10']! };
    }
    rows.push(metricsRow(`fusion: SRM + LM (${lm.name})`, await evaluate(test, I, tableScorer(fuse(srmScores.test, lm.test, best.w)), K), { weight: best.w }));
  }

  const earlyExit = await earlyExitOnTrained(tunedDirs.get(splits[0]!)!, splits[0]!, L, data, threads, quick ? 150 : 1000);
  return { data: { ...syn, seed: 7, testUsers: test.length }, model: { ...shape, epochs, tuneEpochs: TUNE_EPOCHS }, rows, earlyExit };
}

/**
 * Early exit on a model tuned for late interaction at `split`: heads after every layer between
 * the split and the last, fitted on `n` validation users, thresholds (at most 1% loss of NDCG@10
 * against the true next items) on `n` others; test users' mean latency with and without exit.
 */
export async function earlyExitOnTrained(dir: string, split: number, L: number, data: BehaviourData, threads: number, n: number) {
  const encoder = encoderOf(dir, data);
  const lm = await LanguageModel.load(dir, { precision: 'fp32', blockSize: 1, threads });
  const li = new LateInteraction(lm, { splitLayer: split });
  const head = await ItemHead.load(dir);
  const score = (state: Float32Array) => head.scores(state);
  const exits = Array.from({ length: L - split - 1 }, (_, i) => split + 1 + i);
  const segs = (s: Split) => historySegments(s.history, encoder);
  const train = data.split.valid.slice(0, n).map(segs);
  const thresholdSplits = data.split.valid.slice(n, 2 * n);
  console.error(`early exit: heads at ${exits.join(', ')} on ${train.length} users, thresholds on ${thresholdSplits.length}`);
  const ee = await EarlyExit.fit(li, L, train, thresholdSplits.map(segs), score, { exits, targetLoss: 0.01, targets: thresholdSplits.map((s) => s.target) });
  const test = data.split.test;
  const I = data.catalog.size;
  let base = 0;
  let exit = 0;
  let loss = 0;
  const withExit = new Map<Split, Float32Array>();
  const without = new Map<Split, Float32Array>();
  try {
    for (const s of test) {
      const h = segs(s);
      await li.encodeUser(h); // warm the cache: both paths read the same bottoms
      let t = performance.now();
      const final = score((await li.encodeUserAt(h, [L])).get(L)!);
      base += performance.now() - t;
      t = performance.now();
      const r = await ee.rank(h, score);
      exit += performance.now() - t;
      const rank = (v: Float32Array) => Array.from(v.keys()).sort((a, b) => v[b]! - v[a]! || a - b);
      loss += 1 - ndcgAgainst(rank(r.scores), rank(final), 10);
      withExit.set(s, r.scores);
      without.set(s, final);
    }
  } finally {
    li.close();
    await lm.close();
  }
  const m = await evaluate(test, I, tableScorer(withExit), K);
  const m0 = await evaluate(test, I, tableScorer(without), K);
  return {
    split,
    exits,
    thresholds: ee.thresholds,
    testUsers: test.length,
    meanMs: exit / test.length,
    baselineMeanMs: base / test.length,
    speedup: base / exit,
    ndcgLossAgainstFinal: loss / test.length,
    testNdcg10: m['NDCG@10']!,
    testNdcg10WithoutExit: m0['NDCG@10']!,
    testNdcgLoss: 1 - m['NDCG@10']! / m0['NDCG@10']!,
    histogram: ee.histogram,
  };
}
