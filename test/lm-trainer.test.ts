/**
 * The native decoder trainer (native/core/lm): its gradients against finite differences for
 * every tensor, its loss and forward pass against the independent TypeScript decoder
 * (test/oracle/decoder.ts, itself checked against transformers), export to a Hugging Face
 * directory that LanguageModel runs, memorisation, determinism across thread counts,
 * checkpoint/resume (in process and after kill -9) reaching bit-identical weights, and errors.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LmrecError } from '../src/errors.js';
import type { DecoderConfig } from '../src/lm/config.js';
import type { DecoderWeights } from '../src/lm/decoder-weights.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { native } from '../src/addon/loader.js';
import type { NativeLlamaShape, NativeLmCorpus, NativeLmTrainer, NativeLmTrainOptions } from '../src/addon/lm-trainer.js';
import { exportModel, fillParams, importModel } from '../src/pretrain/hf-model.js';
import { loadCheckpoint, runTraining } from '../src/pretrain/training-run.js';
import { Random } from '../src/util/random.js';
import { maxAbsDiff } from './helpers/compare.js';
import { RUN_OPTIONS, RUN_SHAPE, runCorpus, TINY, tinyCorpus } from './helpers/lm-trainer-fixtures.js';
import { decoderForward, linear, rmsNorm, type ReferenceOutput } from './oracle/decoder.js';

const ROOT = path.resolve(__dirname, '..');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'lmrec-lm-trainer-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Worst measured error per check, printed with LMREC_TEST_VERBOSE=1 (how the tolerances were chosen). */
const measured = new Map<string, number>();
function measure(what: string, value: number): number {
  measured.set(what, Math.max(measured.get(what) ?? 0, value));
  return value;
}
afterAll(() => {
  if (process.env.LMREC_TEST_VERBOSE) console.log([...measured].map(([k, v]) => `${k}: ${v.toExponential(2)}`).join('\n'));
});

// ---------------------------------------------------------------------------------------------
// helpers

/** A trainer whose weights are away from the initialiser's: gains 1 + 0.3 N(0,1), matrices x scale. */
function trainer(shape: NativeLlamaShape, seed: number, scale = 10): NativeLmTrainer {
  const t = new native.NativeLmTrainer({ ...shape, seed });
  const p = t.params();
  const rng = new Random(seed + 1000);
  for (const x of t.layout()) {
    for (let i = x.offset; i < x.offset + x.rows * x.cols; i++) p[i] = x.rows === 1 ? 1 + 0.3 * rng.normal() : p[i]! * scale;
  }
  t.setParams(p);
  return t;
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The LmrecError code a call throws or its promise rejects with. */
async function codeOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(LmrecError);
    return (e as LmrecError).code;
  }
  return 'no error';
}

/** The trainer's weights as the oracle's config and tensors (read straight from params()). */
function oracleModel(t: NativeLmTrainer): { c: DecoderConfig; w: DecoderWeights; tensors: Map<string, Float32Array> } {
  const s = t.info();
  const p = t.params();
  const tensors = new Map(t.layout().map((x) => [x.name, p.slice(x.offset, x.offset + x.rows * x.cols)]));
  const get = (name: string) => tensors.get(name) ?? expect.fail(`no tensor ${name}`);
  const c: DecoderConfig = {
    family: 'decoder', modelType: 'llama', hidden: s.dim, intermediate: s.ffn, layers: s.layers, heads: s.heads, kvHeads: s.kvHeads,
    headDim: s.dim / s.heads, vocab: s.vocab, eps: s.normEps, ropeTheta: s.ropeTheta, tiedEmbeddings: s.tied, qkvBias: false,
    maxPositions: s.maxPositions,
  };
  const w: DecoderWeights = {
    embed: get('model.embed_tokens.weight'),
    layers: Array.from({ length: s.layers }, (_, l) => {
      const q = (n: string) => get(`model.layers.${l}.${n}.weight`);
      return {
        inputNorm: q('input_layernorm'), q: q('self_attn.q_proj'), k: q('self_attn.k_proj'), v: q('self_attn.v_proj'),
        o: q('self_attn.o_proj'), postNorm: q('post_attention_layernorm'), gate: q('mlp.gate_proj'), up: q('mlp.up_proj'),
        down: q('mlp.down_proj'),
      };
    }),
    finalNorm: get('model.norm.weight'),
    head: s.tied ? get('model.embed_tokens.weight') : get('lm_head.weight'),
  };
  return { c, w, tensors };
}

/**
 * The oracle's forward pass of one window with the bottom `local` layers segment-local
 * (token t sees s when first[t] <= s <= t) and the rest causal: the bottom layers run as one
 * oracle model, and their output is fed to the rest as an "embedding table" of the rows.
 */
function oracleWindow(c: DecoderConfig, w: DecoderWeights, ids: number[], local: number, first: number[]): ReferenceOutput {
  const low = decoderForward(c, { ...w, layers: w.layers.slice(0, local) }, ids, { allowed: (t, s) => s <= t && s >= first[t]! });
  const rows = ids.map((_, i) => i);
  const high = decoderForward(c, { ...w, embed: low.layers[local]!, layers: w.layers.slice(local) }, rows);
  return { layers: [...low.layers, ...high.layers.slice(1)], final: high.final };
}

/** Softmax cross-entropy of `row` (through W [classes x d]) against `target`, in doubles. */
function crossEntropy(row: Float32Array, W: Float32Array, classes: number, target: number): number {
  const logits = linear(row, 1, row.length, W, classes);
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return max + Math.log(sum) - logits[target]!;
}

interface OracleLoss {
  total: number;
  lm: number;
  item: number;
  aux: number;
  align: number;
  /** evaluate()'s next-token loss: only targets at or after scoreFrom. */
  scored: number;
  lmRows: number;
  scoredRows: number;
}

/**
 * The trainer's loss on a batch of every window of `corpus`, from the definitions in
 * lm_trainer.h: windows of `context` tokens; next-token CE on every row but a window's last;
 * next-item CE through the item head where an event ends inside the window (and predicts
 * something); each aux head k reads layer floor(L (k+1) / (A+1)) - 1 through a gain-free RMS
 * norm at the same rows; alignment, on windows that hold a whole sequence, at each block
 * boundary: alignWeight (1 - cos(h, teacher)) + 0.1 |h - teacher|, averaged over those windows.
 */
function oracleLoss(t: NativeLmTrainer, corpus: NativeLmCorpus, o: NativeLmTrainOptions): OracleLoss {
  const { c, w, tensors } = oracleModel(t);
  const s = t.info();
  const d = s.dim;
  const context = o.context ?? 256;
  const local = o.localLayers ?? 0;
  const ends = Array.from(corpus.eventEnds ?? []);
  const next = Array.from(corpus.nextItems ?? []);
  const ones = new Float32Array(d).fill(1);
  const boundary = (k: number, points: number) => Math.floor((s.layers * (k + 1)) / points) - 1;
  let lmSum = 0;
  let lmRows = 0;
  let scoredSum = 0;
  let scoredRows = 0;
  let itemSum = 0;
  const auxSum = new Array<number>(s.auxHeads).fill(0);
  let itemRows = 0;
  const aligned: number[] = [];
  const count = corpus.offsets.length - 1;
  for (let seq = 0; seq < count; seq++) {
    const b0 = corpus.offsets[seq]!;
    const e0 = corpus.offsets[seq + 1]!;
    for (let begin = b0; begin < e0; begin += context) {
      const len = Math.min(context, e0 - begin);
      const ids = Array.from(corpus.tokens.subarray(begin, begin + len));
      const first: number[] = [];
      let f = 0;
      for (let i = 0; i < len; i++) {
        if (i > 0 && ends.includes(begin + i - 1)) f = i;
        first.push(f);
      }
      const out = oracleWindow(c, w, ids, local, first);
      const scoreFrom = corpus.scoreFrom?.[seq] ?? 0;
      for (let i = 0; i + 1 < len; i++) {
        const ce = crossEntropy(out.final.subarray(i * d, (i + 1) * d), w.head, s.vocab, ids[i + 1]!);
        lmSum += ce;
        lmRows++;
        if (begin + i + 1 >= scoreFrom) {
          scoredSum += ce;
          scoredRows++;
        }
      }
      ends.forEach((end, e) => {
        if (end < begin || end >= begin + len || next[e]! < 0) return;
        const r = end - begin;
        itemSum += crossEntropy(out.final.subarray(r * d, (r + 1) * d), tensors.get('item_head.weight')!, s.items, next[e]!);
        for (let k = 0; k < s.auxHeads; k++) {
          const x = out.layers[boundary(k, s.auxHeads + 1) + 1]!.subarray(r * d, (r + 1) * d);
          auxSum[k]! += crossEntropy(rmsNorm(x, 1, d, ones, s.normEps), tensors.get(`aux_item_heads.${k}.weight`)!, s.items, next[e]!);
        }
        itemRows++;
      });
      if (begin === b0 && begin + len === e0 && (o.alignWeight ?? 0) > 0) {
        const P = corpus.teacherPoints!;
        let a = 0;
        for (let j = 0; j < P; j++) {
          const h = out.layers[boundary(j, P) + 1]!.subarray((len - 1) * d, len * d);
          const tt = corpus.teacher!.subarray((seq * P + j) * d, (seq * P + j + 1) * d);
          let hh = 0;
          let t2 = 0;
          let ht = 0;
          let dd = 0;
          for (let i = 0; i < d; i++) {
            hh += h[i]! * h[i]!;
            t2 += tt[i]! * tt[i]!;
            ht += h[i]! * tt[i]!;
            dd += (h[i]! - tt[i]!) ** 2;
          }
          a += o.alignWeight! * (1 - ht / Math.sqrt(hh * t2)) + 0.1 * Math.sqrt(dd);
        }
        aligned.push(a);
      }
    }
  }
  const lm = lmRows ? lmSum / lmRows : 0;
  const item = itemRows ? itemSum / itemRows : 0;
  const aux = itemRows ? auxSum.reduce((x, y) => x + y, 0) / itemRows : 0;
  const align = aligned.length ? aligned.reduce((x, y) => x + y, 0) / aligned.length : 0;
  const total = (o.lmWeight ?? 1) * lm + (s.items ? (o.itemWeight ?? 1) * item + (o.auxWeight ?? 1) * aux : 0) + align;
  return { total, lm, item, aux, align, scored: scoredRows ? scoredSum / scoredRows : 0, lmRows, scoredRows };
}

// ---------------------------------------------------------------------------------------------
// 1. gradients

interface Directional {
  tensor: string;
  offset: number;
  dir: Float64Array;
  analytic: number;
  numeric: number;
}

const FD_EPS = 1e-2;
const FD_REL = 1e-2;
const FD_ABS = 1e-4;
const tolerance = (analytic: number) => FD_REL * Math.abs(analytic) + FD_ABS;

/**
 * Directional derivatives of the loss of step `step` along three unit directions per tensor
 * (two dense, one confined to a single random row, so a bug in a few rows is not averaged
 * away), by central differences, beside the analytic gradient's.
 */
function directionalDerivatives(t: NativeLmTrainer, step: number, names: Set<string>, seed: number): { gradients: Float32Array; checks: Directional[] } {
  const base = t.params();
  const { loss, gradients } = t.lossAndGradients(step);
  expect(Number.isFinite(loss)).toBe(true);
  const rng = new Random(seed);
  const checks: Directional[] = [];
  for (const x of t.layout()) {
    if (!names.has(x.name)) continue;
    const size = x.rows * x.cols;
    const row = rng.int(x.rows);
    const list = [0, 1, 2].map((k) => {
      const dir = Float64Array.from({ length: size }, (_, i) => (k < 2 || Math.floor(i / x.cols) === row ? rng.normal() : 0));
      const norm = Math.sqrt(dir.reduce((a, v) => a + v * v, 0));
      return dir.map((v) => v / norm);
    });
    for (const dir of list) {
      const at = (sign: number) => {
        const p = base.slice();
        for (let i = 0; i < size; i++) p[x.offset + i]! += sign * FD_EPS * dir[i]!;
        t.setParams(p);
        return t.lossAndGradients(step).loss;
      };
      const numeric = (at(1) - at(-1)) / (2 * FD_EPS);
      let analytic = 0;
      for (let i = 0; i < size; i++) analytic += gradients[x.offset + i]! * dir[i]!;
      checks.push({ tensor: x.name, offset: x.offset, dir, analytic, numeric });
    }
  }
  t.setParams(base);
  return { gradients, checks };
}

const failing = (checks: Directional[]) =>
  checks.filter((c) => !(Math.abs(c.numeric - c.analytic) <= tolerance(c.analytic))).map((c) => `${c.tensor}: analytic ${c.analytic}, numeric ${c.numeric}`);

describe('LM trainer gradients match finite differences', () => {
  // lengths 9, 12, 6, 11 in windows of 10: some sequences whole (aligned with the teacher), some cut in two
  const cases: [string, boolean, NativeLmTrainOptions][] = [
    ['tied, causal', true, {}],
    ['tied, localLayers 1 (segment-local bottom layer)', true, { localLayers: 1 }],
    ['untied (lm_head.weight), causal', false, {}],
    ['untied, localLayers 1', false, { localLayers: 1 }],
    ['tied, localLayers 2 (every layer local), loss weights != 1', true, { localLayers: 2, lmWeight: 0.7, itemWeight: 1.3, auxWeight: 0.4, alignWeight: 2 }],
    ['tied, localLayers 1, freezeLayers 1 (trained tensors only)', true, { localLayers: 1, freezeLayers: 1 }],
  ];
  for (const [name, tied, extra] of cases) {
    it(`${name}: every tensor along random directions`, () => {
      const shape = { ...TINY, tied };
      const t = trainer(shape, 3);
      const corpus = tinyCorpus(7, [9, 12, 6, 11], shape, 2);
      const options: NativeLmTrainOptions = { context: 10, batchTokens: 4096, alignWeight: 1, threads: 1, ...extra };
      t.setCorpus(corpus, options, false);
      const layout = t.layout();
      const from = extra.freezeLayers ? layout.find((x) => x.name === `model.layers.${extra.freezeLayers}.input_layernorm.weight`)!.offset : 0;
      const names = new Set(layout.filter((x) => x.offset >= from).map((x) => x.name));
      expect(names.has('model.embed_tokens.weight')).toBe(!extra.freezeLayers);
      expect(names.has('lm_head.weight')).toBe(!tied);
      expect(names.has('aux_item_heads.0.weight')).toBe(true);
      const { checks } = directionalDerivatives(t, 0, names, 21);
      expect(failing(checks)).toEqual([]);
      // and the check can fail: 1.5 x the analytic derivative is refused for every tensor
      const caught = new Set(checks.filter((c) => Math.abs(c.numeric - 1.5 * c.analytic) > tolerance(1.5 * c.analytic)).map((c) => c.tensor));
      expect([...names].filter((n) => !caught.has(n))).toEqual([]);
      for (const c of checks) {
        measure('gradients: |numeric - analytic| / tolerance', Math.abs(c.numeric - c.analytic) / tolerance(c.analytic));
        measure('gradients: |numeric - analytic| / |analytic|', Math.abs(c.numeric - c.analytic) / Math.abs(c.analytic));
      }
      t.close();
    });
  }

  it('guard: one tensor\'s gradient scaled by 1.5 fails the same check (and only that tensor)', () => {
    const t = trainer({ ...TINY, tied: true }, 4);
    t.setCorpus(tinyCorpus(8, [9, 12, 6], TINY, 2), { context: 10, batchTokens: 4096, alignWeight: 1, localLayers: 1, threads: 1 }, false);
    const names = new Set(['model.layers.1.self_attn.k_proj.weight', 'model.embed_tokens.weight', 'model.layers.0.self_attn.v_proj.weight']);
    const { gradients, checks } = directionalDerivatives(t, 0, names, 5);
    expect(failing(checks)).toEqual([]);
    for (const target of ['model.layers.1.self_attn.k_proj.weight', 'model.embed_tokens.weight']) {
      const x = t.layout().find((l) => l.name === target)!;
      const wrong = gradients.slice();
      for (let i = x.offset; i < x.offset + x.rows * x.cols; i++) wrong[i]! *= 1.5;
      // the same directions and finite differences, against the wrong gradient
      const rechecked = checks.map((c) => ({ ...c, analytic: c.dir.reduce((a, v, i) => a + wrong[c.offset + i]! * v, 0) }));
      expect([...new Set(failing(rechecked).map((f) => f.split(':')[0]))]).toEqual([target]);
    }
    t.close();
  });
});

// ---------------------------------------------------------------------------------------------
// 2. the loss and the forward pass against the oracle

describe('LM trainer against the TypeScript oracle decoder', () => {
  const shapes: [string, NativeLlamaShape][] = [
    ['GQA 4/2, tied, ropeTheta 500, normEps 1e-6', { ...TINY, ropeTheta: 500, normEps: 1e-6 }],
    ['MQA 4/1, untied', { ...TINY, kvHeads: 1, tied: false }],
    ['MHA 2/2, 3 layers, head_dim 8', { ...TINY, heads: 2, kvHeads: 2, layers: 3, auxHeads: 2 }],
  ];
  for (const [name, shape] of shapes) {
    it(`${name}: logits() of every position within 1e-4`, () => {
      const t = trainer(shape, 11, 5);
      const rng = new Random(12);
      const ids = Array.from({ length: 23 }, () => rng.int(shape.vocab));
      const got = t.logits(Int32Array.from(ids));
      const { c, w } = oracleModel(t);
      const want = linear(decoderForward(c, w, ids).final, ids.length, c.hidden, w.head, c.vocab);
      expect(measure('logits() vs oracle', maxAbsDiff(got, want))).toBeLessThanOrEqual(1e-4);
      // a single token, and a prefix: logits do not depend on what follows (causal)
      expect(maxAbsDiff(t.logits(Int32Array.from(ids.slice(0, 1))), want.subarray(0, c.vocab))).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(t.logits(Int32Array.from(ids.slice(0, 7))), want.subarray(0, 7 * c.vocab))).toBeLessThanOrEqual(1e-4);
      t.close();
    });
  }

  const lossCases: [string, NativeLlamaShape, NativeLmTrainOptions][] = [
    ['causal', TINY, {}],
    ['localLayers 1', TINY, { localLayers: 1 }],
    ['localLayers 2, untied, weights != 1', { ...TINY, tied: false }, { localLayers: 2, lmWeight: 0.7, itemWeight: 1.3, auxWeight: 0.4, alignWeight: 2 }],
    ['localLayers 1, 3 layers, 2 aux heads', { ...TINY, layers: 3, auxHeads: 2 }, { localLayers: 1 }],
  ];
  for (const [name, shape, extra] of lossCases) {
    it(`${name}: lossAndGradients' loss is the oracle's next-token + next-item + aux + alignment loss`, () => {
      const t = trainer(shape, 13, 5);
      const corpus = tinyCorpus(14, [9, 12, 6, 11, 4], shape, shape.auxHeads! + 1);
      const options: NativeLmTrainOptions = { context: 10, batchTokens: 4096, alignWeight: 1, threads: 1, ...extra };
      t.setCorpus(corpus, options, false);
      const want = oracleLoss(t, corpus, options);
      expect(want.item * want.aux * want.align).toBeGreaterThan(0); // every term is there
      const got = t.lossAndGradients(0).loss;
      expect(measure('training loss vs oracle (relative)', Math.abs(got - want.total) / Math.max(1, want.total))).toBeLessThanOrEqual(1e-4);
      // guard: the check tells the attention masks apart (one more or one fewer local layer)
      for (const other of [(extra.localLayers ?? 0) + 1, (extra.localLayers ?? 0) - 1]) {
        if (other < 0 || other > shape.layers!) continue;
        const wrong = oracleLoss(t, corpus, { ...options, localLayers: other }).total;
        expect(Math.abs(got - wrong), `localLayers ${other}`).toBeGreaterThan(1e-3 * Math.max(1, want.total));
      }
      t.close();
    });
  }

  it('evaluate() on a trainer with no corpus set cuts sequences longer than maxPositions into windows of maxPositions (as itemScores and lastHidden do)', async () => {
    const t = trainer(TINY, 19, 5);
    const corpus = tinyCorpus(20, [40, 12], TINY);
    expect(await codeOf(() => t.itemScores(corpus))).toBe('no error');
    const want = oracleLoss(t, corpus, { context: TINY.maxPositions });
    const r = await t.evaluate(corpus, { threads: 1 });
    expect(r.tokens).toBe(want.lmRows);
    expect(Math.abs(r.lmLoss - want.lm)).toBeLessThanOrEqual(1e-4);
    t.close();
  });

  // evaluate() scores held-out text with the trained model: it should see what training saw.
  for (const local of [0, 1]) {
    it(`localLayers ${local}: evaluate()'s next-token and next-item losses are the oracle's (scoreFrom honoured)`, async () => {
      const t = trainer(TINY, 15, 5);
      const corpus = tinyCorpus(16, [9, 12, 6, 11], TINY);
      const options: NativeLmTrainOptions = { context: 10, batchTokens: 4096, localLayers: local, threads: 1 };
      t.setCorpus(corpus, options, false);
      const want = oracleLoss(t, corpus, options);
      const r = await t.evaluate(corpus, { threads: 1 });
      expect(measure('evaluate() vs oracle', Math.abs(r.lmLoss - want.lm)), 'lmLoss').toBeLessThanOrEqual(1e-4);
      expect(measure('evaluate() vs oracle', Math.abs(r.itemLoss - want.item)), 'itemLoss').toBeLessThanOrEqual(1e-4);
      const scored = { ...corpus, scoreFrom: Float64Array.from([3, 9 + 10, 21, 27 + 5]) };
      const r2 = await t.evaluate(scored, { threads: 1 });
      const wantScored = oracleLoss(t, scored, options);
      expect(r.tokens).toBe(want.lmRows);
      expect(r2.tokens).toBe(6 + 1 + 5 + 5); // windows [0,9) [9,19) [19,21) [21,27) [27,37) [37,38): targets from 3, 19, 21, 32
      expect(wantScored.scoredRows).toBe(r2.tokens);
      expect(measure('evaluate() vs oracle', Math.abs(r2.lmLoss - wantScored.scored)), 'scored lmLoss').toBeLessThanOrEqual(1e-4);
      t.close();
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 3. export, LanguageModel, import

function tokenizerFiles(vocab: number): { 'tokenizer.json': string; 'tokenizer_config.json': string } {
  const words: Record<string, number> = { '[UNK]': 0 };
  for (let i = 1; i < vocab; i++) words[`w${i}`] = i;
  const json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' }, post_processor: null, decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: words },
  };
  return { 'tokenizer.json': JSON.stringify(json), 'tokenizer_config.json': '{}' };
}

describe('LM trainer export', () => {
  for (const tied of [true, false]) {
    it(`${tied ? 'tied' : 'untied'}: LanguageModel runs the exported directory as the trainer does; importModel + fillParams give the weights back bit for bit`, async () => {
      const shape: NativeLlamaShape = { ...TINY, tied, normEps: 1e-6, ropeTheta: 1000 };
      const t = trainer(shape, 17, 5);
      const dir = path.join(tmp, `export-${tied}`);
      const items = ['a', 'b', 'c', 'd', 'e'];
      exportModel(t, dir, tokenizerFiles(shape.vocab), { items, bos: 0, eos: 0, steps: 0, trainedBy: 'lm-trainer.test' });
      const rng = new Random(18);
      const ids = Array.from({ length: 19 }, () => rng.int(shape.vocab));
      const L = shape.layers!;
      const V = shape.vocab;
      const d = shape.dim!;
      const mine = t.logits(Int32Array.from(ids));
      const { c, w } = oracleModel(t);
      const oracle = decoderForward(c, w, ids);
      const lm = await LanguageModel.load(dir, { cacheDir: false, precision: 'fp32', blockSize: 1 });
      try {
        expect(measure('LanguageModel logits vs trainer', maxAbsDiff(await lm.logits(ids), mine.subarray((ids.length - 1) * V)))).toBeLessThanOrEqual(1e-4);
        const refs = [...Array.from({ length: L + 1 }, (_, l) => l), 'final' as const];
        const states = await lm.hiddenStates(ids, { layers: refs });
        states.forEach((s, i) =>
          expect(measure('LanguageModel hiddenStates vs oracle', maxAbsDiff(s, i <= L ? oracle.layers[i]! : oracle.final)), `layer ${String(refs[i])}`).toBeLessThanOrEqual(1e-4),
        );
        // 'final' through the head is the trainer's last row of logits
        const last = linear(states[L + 1]!.subarray((ids.length - 1) * d), 1, d, w.head, V);
        expect(measure("LanguageModel 'final' x head vs trainer logits", maxAbsDiff(last, mine.subarray((ids.length - 1) * V)))).toBeLessThanOrEqual(1e-4);
        // lastHidden(layer) is LanguageModel's layer at the last token
        const corpus: NativeLmCorpus = { tokens: Int32Array.from(ids), offsets: Float64Array.of(0, ids.length) };
        for (let l = 0; l <= L; l++) {
          const h = await t.lastHidden(corpus, l, { threads: 1 });
          expect(measure('lastHidden vs LanguageModel', maxAbsDiff(h, states[l]!.subarray((ids.length - 1) * d))), `lastHidden(${l})`).toBeLessThanOrEqual(1e-4);
        }
        // itemScores: the item head on the final state of the last token
        const scores = await t.itemScores(corpus, { threads: 1 });
        const wantScores = linear(oracle.final.subarray((ids.length - 1) * d), 1, d, oracleModel(t).tensors.get('item_head.weight')!, 5);
        expect(measure('itemScores vs oracle', maxAbsDiff(scores, wantScores))).toBeLessThanOrEqual(1e-4);
      } finally {
        await lm.close();
      }

      const imported = importModel(dir);
      const info = t.info();
      expect(imported.shape).toEqual({
        vocab: info.vocab, dim: info.dim, layers: info.layers, heads: info.heads, kvHeads: info.kvHeads, ffn: info.ffn,
        maxPositions: info.maxPositions, items: info.items, auxHeads: info.auxHeads, tied: info.tied, ropeTheta: info.ropeTheta, normEps: info.normEps,
      });
      expect(imported.info?.items).toEqual(items);
      expect(imported.bos).toBe(0);
      const other = new native.NativeLmTrainer({ ...imported.shape, seed: 99 });
      const filled = fillParams(other, imported.tensors, other.params());
      expect(bitsEqual(filled, t.params())).toBe(true);
      // every trainer tensor came from the directory (none kept the fallback)
      expect(t.layout().filter((x) => !imported.tensors.has(x.name)).map((x) => x.name)).toEqual([]);
      other.setParams(filled);
      expect(bitsEqual(other.logits(Int32Array.from(ids)), mine)).toBe(true);
      other.close();
      t.close();
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 4-5. training: memorisation, frozen layers, determinism across thread counts

describe('LM trainer training', () => {
  it('memorises a tiny corpus: next-token and next-item losses near zero', async () => {
    // every sequence starts with its own token, so each next token and item is determined by the prefix
    const seqs = [[1, 5, 9, 2, 14, 7, 3, 11, 6, 0], [4, 8, 8, 15, 2, 10, 12, 1, 16, 5], [13, 3, 6, 6, 9, 0, 7, 2, 11, 15]];
    const corpus: NativeLmCorpus = {
      tokens: Int32Array.from(seqs.flat()),
      offsets: Float64Array.of(0, 10, 20, 30),
      eventEnds: Float64Array.of(2, 5, 9, 13, 17, 19, 24, 29),
      nextItems: Int32Array.of(1, 4, -1, 0, 2, -1, 3, -1),
    };
    const t = new native.NativeLmTrainer({ ...TINY, seed: 1 });
    t.setCorpus(corpus, { lr: 1e-2, warmupSteps: 10, totalSteps: 300, weightDecay: 0, batchTokens: 64, context: 16, threads: 1 }, false);
    const before = await t.evaluate(corpus, { threads: 1 });
    expect(before.lmLoss).toBeGreaterThan(2); // ~ln 17 at the initialisation
    const r = await t.train(1000);
    expect(r.steps).toBe(300); // stops at the end of the schedule
    expect(t.info().step).toBe(300);
    expect((await t.train(5)).steps).toBe(0);
    const after = await t.evaluate(corpus, { threads: 1 });
    expect(after.tokens).toBe(27);
    expect(after.itemTargets).toBe(5);
    expect(after.lmLoss).toBeLessThan(0.05);
    expect(after.itemLoss).toBeLessThan(0.05);
    t.close();
  });

  it('freezeLayers 1 leaves the embedding and layer 0 bit-identical and trains the rest', async () => {
    const t = new native.NativeLmTrainer({ ...TINY, seed: 2 });
    t.setCorpus(tinyCorpus(3, [9, 12, 6], TINY, 2), { context: 16, alignWeight: 1, freezeLayers: 1, threads: 1 }, false);
    const before = t.params();
    await t.train(5);
    const after = t.params();
    for (const x of t.layout()) {
      const a = before.subarray(x.offset, x.offset + x.rows * x.cols);
      const b = after.subarray(x.offset, x.offset + x.rows * x.cols);
      const frozen = x.name === 'model.embed_tokens.weight' || x.name.startsWith('model.layers.0.');
      expect(bitsEqual(a, b), x.name).toBe(frozen);
    }
    t.close();
  });

  it('is deterministic across thread counts: 1, 2 and 3 threads give bit-identical weights', async () => {
    // big enough that the rows, the SwiGLU and the GEMMs are split between threads
    const shape: NativeLlamaShape = { vocab: 97, dim: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, maxPositions: 128, items: 11, auxHeads: 1, seed: 3 };
    const corpus = tinyCorpus(8, [70, 90, 40, 100, 64, 33, 80, 77], shape, 2);
    const runs: Float32Array[] = [];
    for (const threads of [1, 2, 3]) {
      const t = new native.NativeLmTrainer(shape);
      t.setCorpus(corpus, { lr: 1e-2, warmupSteps: 2, totalSteps: 100, batchTokens: 300, context: 64, alignWeight: 1, localLayers: 1, threads }, false);
      await t.train(6);
      runs.push(t.params());
      t.close();
    }
    expect(bitsEqual(runs[0]!, new native.NativeLmTrainer(shape).params())).toBe(false);
    expect(bitsEqual(runs[0]!, runs[1]!)).toBe(true);
    expect(bitsEqual(runs[0]!, runs[2]!)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// 6. checkpoints and resume

describe('LM trainer checkpoints', () => {
  const K = 30;

  async function uninterrupted(steps: number): Promise<Float32Array> {
    const t = new native.NativeLmTrainer(RUN_SHAPE);
    t.setCorpus(runCorpus(), RUN_OPTIONS, false);
    expect((await t.train(steps)).steps).toBe(steps);
    const p = t.params();
    t.close();
    return p;
  }

  async function halfway(file: string): Promise<NativeLmTrainer> {
    const t = new native.NativeLmTrainer(RUN_SHAPE);
    t.setCorpus(runCorpus(), RUN_OPTIONS, false);
    await t.train(K / 2);
    await t.saveCheckpoint(file);
    return t;
  }

  it('train K/2, save, load, train K/2 more = train K without stopping, bit for bit', async () => {
    const want = await uninterrupted(K);
    const file = path.join(tmp, 'resume.ckpt');
    const first = await halfway(file);
    const t = await native.NativeLmTrainer.loadCheckpoint(file);
    const { step, options, parameters, ...shape } = t.info();
    const f = first.info();
    expect(step).toBe(K / 2);
    expect(parameters).toBe(f.parameters);
    expect(options).toEqual(f.options);
    const { step: _s, options: _o, parameters: _p, ...firstShape } = f;
    expect(shape).toEqual(firstShape);
    expect(bitsEqual(t.params(), first.params())).toBe(true);
    expect(await codeOf(() => t.train(1))).toBe('INVALID_ARGUMENT'); // no corpus yet
    t.setCorpus(runCorpus(), t.info().options, true); // threads: all (2 here), the first half ran on 1
    expect((await t.train(K / 2)).steps).toBe(K / 2);
    expect(bitsEqual(t.params(), want)).toBe(true);

    // guard: the comparison sees a resume that restarts the optimiser (moments and step)
    first.setParams(first.params());
    await first.train(K / 2);
    expect(bitsEqual(first.params(), want)).toBe(false);
    first.close();
    t.close();
  });

  it('refuses to resume on a different corpus (INVALID_ARGUMENT); a fresh start on it is allowed', async () => {
    const file = path.join(tmp, 'other.ckpt');
    (await halfway(file)).close();
    const t = await native.NativeLmTrainer.loadCheckpoint(file);
    const other = runCorpus();
    other.tokens[5] = (other.tokens[5]! + 1) % RUN_SHAPE.vocab;
    expect(await codeOf(() => t.setCorpus(other, RUN_OPTIONS, true))).toBe('INVALID_ARGUMENT');
    const moved = { ...runCorpus(), nextItems: runCorpus().nextItems!.map((v) => (v < 0 ? v : (v + 1) % 5)) };
    expect(await codeOf(() => t.setCorpus(moved, RUN_OPTIONS, true))).toBe('INVALID_ARGUMENT');
    t.setCorpus(runCorpus(), RUN_OPTIONS, true);
    t.setCorpus(other, RUN_OPTIONS, false);
    expect((await t.train(1)).steps).toBe(1);
    t.close();
  });

  it('refuses to resume with different teacher states (INVALID_ARGUMENT): the loss of every step depends on them', async () => {
    const file = path.join(tmp, 'teacher.ckpt');
    (await halfway(file)).close();
    const t = await native.NativeLmTrainer.loadCheckpoint(file);
    const other = runCorpus();
    other.teacher = other.teacher!.map((v) => -v);
    expect(await codeOf(() => t.setCorpus(other, RUN_OPTIONS, true))).toBe('INVALID_ARGUMENT');
    t.close();
  });

  it('damaged checkpoints: TRUNCATED_FILE, CORRUPT_FILE, UNSUPPORTED_VERSION, NOT_A_MODEL, IO_ERROR', async () => {
    const file = path.join(tmp, 'good.ckpt');
    (await halfway(file)).close();
    const bytes = readFileSync(file);
    const load = (name: string, data: Buffer) => {
      const f = path.join(tmp, name);
      writeFileSync(f, data);
      return codeOf(() => native.NativeLmTrainer.loadCheckpoint(f));
    };
    expect(await load('cut-end.ckpt', bytes.subarray(0, bytes.length - 100))).toBe('TRUNCATED_FILE');
    expect(await load('cut-header.ckpt', bytes.subarray(0, 100))).toBe('TRUNCATED_FILE');
    expect(await load('cut-4.ckpt', bytes.subarray(0, 4))).toBe('TRUNCATED_FILE');
    const flipped = Buffer.from(bytes);
    flipped[bytes.length >> 1]! ^= 0x10;
    expect(await load('flipped.ckpt', flipped)).toBe('CORRUPT_FILE');
    const stepFlipped = Buffer.from(bytes);
    stepFlipped[160]! ^= 0x01; // the step counter (header offset 160)
    expect(await load('step.ckpt', stepFlipped)).toBe('CORRUPT_FILE');
    expect(await load('longer.ckpt', Buffer.concat([bytes, Buffer.alloc(8)]))).toBe('CORRUPT_FILE');
    const newer = Buffer.from(bytes);
    newer.writeUInt32LE(2, 8);
    expect(await load('newer.ckpt', newer)).toBe('UNSUPPORTED_VERSION');
    expect(await load('text.ckpt', Buffer.from(JSON.stringify({ not: 'a checkpoint' }).repeat(20)))).toBe('NOT_A_MODEL');
    expect(await load('empty.ckpt', Buffer.alloc(0))).toBe('NOT_A_MODEL');
    expect(await codeOf(() => native.NativeLmTrainer.loadCheckpoint(path.join(tmp, 'missing.ckpt')))).toBe('IO_ERROR');
    expect(await loadCheckpoint(path.join(tmp, 'missing.ckpt'))).toBeUndefined();
    // the good file still loads; a save into a missing directory is IO_ERROR
    const t = await native.NativeLmTrainer.loadCheckpoint(file);
    expect(await codeOf(() => t.saveCheckpoint(path.join(tmp, 'no-such-dir', 'x.ckpt')))).toBe('IO_ERROR');
    t.close();
  });

  // -------------------------------------------------------------------------------------------
  // 7. kill -9

  it('a run killed with SIGKILL resumes from its checkpoint to the uninterrupted weights; no temp files remain', async () => {
    const N = 2000;
    const dir = mkdtempSync(path.join(tmp, 'kill-'));
    const file = path.join(dir, 'run.ckpt');
    const script = path.join(dir, 'child.mts');
    const src = (p: string) => JSON.stringify(path.join(ROOT, p));
    // onProgress sleeps 40 ms, so the child stays in the middle of its schedule long enough to be killed there
    writeFileSync(script, `
      import { native } from ${src('src/addon/loader.ts')};
      import { runTraining } from ${src('src/pretrain/training-run.ts')};
      import { RUN_OPTIONS, RUN_SHAPE, runCorpus } from ${src('test/helpers/lm-trainer-fixtures.ts')};
      const pause = new Int32Array(new SharedArrayBuffer(4));
      const trainer = new native.NativeLmTrainer(RUN_SHAPE);
      await runTraining(trainer, runCorpus(), { ...RUN_OPTIONS, totalSteps: ${N} },
        { checkpoint: ${JSON.stringify(file)}, checkpointEverySeconds: 0.001, onProgress: () => Atomics.wait(pause, 0, 0, 40) });
      process.stdout.write('finished');
    `);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let alive = true;
    void exited.then(() => (alive = false));

    // kill once a checkpoint past the third call (1 + 4 + 16 steps) exists
    const t0 = Date.now();
    let seen = 0;
    while (alive && Date.now() - t0 < 60_000) {
      try {
        const c = await native.NativeLmTrainer.loadCheckpoint(file);
        seen = c.info().step;
        c.close();
      } catch {
        // not written yet
      }
      if (seen >= 21) break;
      await new Promise((r) => setTimeout(r, 3));
    }
    expect(alive, `the child ended before it was killed: ${output}`).toBe(true);
    child.kill('SIGKILL');
    await exited;
    expect(output).not.toContain('finished');

    // what the crash left: a complete checkpoint mid-schedule (and perhaps a temp file of the dead writer)
    const killed = await loadCheckpoint(file);
    const at = measure('kill -9: step of the checkpoint left', killed!.info().step);
    expect(at).toBeGreaterThanOrEqual(21);
    expect(at).toBeLessThan(N);
    killed!.close();
    const stale = `${file}.tmp-${child.pid}-12345`; // as a writer killed mid-save leaves
    writeFileSync(stale, 'partial');

    const resumed = (await loadCheckpoint(file))!;
    const report = await runTraining(resumed, runCorpus(), { ...RUN_OPTIONS, totalSteps: N }, { checkpoint: file }, true);
    expect(report.stopReason).toBe('steps');
    expect(report.steps).toBe(N);

    const straight = new native.NativeLmTrainer(RUN_SHAPE);
    await runTraining(straight, runCorpus(), { ...RUN_OPTIONS, totalSteps: N });
    expect(bitsEqual(resumed.params(), straight.params())).toBe(true);
    // the final checkpoint holds the same weights
    const final = (await loadCheckpoint(file))!;
    expect(final.info().step).toBe(N);
    expect(bitsEqual(final.params(), straight.params())).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['child.mts', 'run.ckpt']);
    expect(statSync(file).size).toBeGreaterThan(0);
    for (const t of [resumed, straight, final]) t.close();
  });
});

// ---------------------------------------------------------------------------------------------
// 8. errors

describe('LM trainer errors', () => {
  it('bad shapes are INVALID_ARGUMENT', async () => {
    const make = (s: Partial<NativeLlamaShape>) => codeOf(() => new native.NativeLmTrainer({ ...TINY, ...s }));
    expect(await make({ heads: 3 })).toBe('INVALID_ARGUMENT'); // does not divide dim 16
    expect(await make({ dim: 12, heads: 4, kvHeads: 2 })).toBe('INVALID_ARGUMENT'); // head_dim 3: odd, no RoPE pairs
    expect(await make({ kvHeads: 3 })).toBe('INVALID_ARGUMENT'); // does not divide heads 4
    expect(await make({ kvHeads: 0 })).toBe('INVALID_ARGUMENT');
    expect(await make({ vocab: 1 })).toBe('INVALID_ARGUMENT');
    expect(await make({ layers: 0 })).toBe('INVALID_ARGUMENT');
    expect(await make({ items: 0, auxHeads: 1 })).toBe('INVALID_ARGUMENT'); // aux heads need an item head
    expect(await make({ auxHeads: 2 })).toBe('INVALID_ARGUMENT'); // >= layers
    expect(await make({ normEps: 0 })).toBe('INVALID_ARGUMENT');
    expect(await make({ maxPositions: 1 })).toBe('INVALID_ARGUMENT');
    expect(await make({})).toBe('no error');
  });

  it('bad corpora and options: UNKNOWN_ID, INVALID_ARGUMENT; the trainer keeps its corpus and options', async () => {
    const t = new native.NativeLmTrainer({ ...TINY, seed: 1 });
    const good = tinyCorpus(3, [9, 12, 6], TINY, 2);
    const o: NativeLmTrainOptions = { context: 16, threads: 1 };
    t.setCorpus(good, o, false);
    const withToken = (v: number) => {
      const c = { ...good, tokens: good.tokens.slice() };
      c.tokens[4] = v;
      return c;
    };
    const withItem = (v: number) => {
      const c = { ...good, nextItems: good.nextItems!.slice() };
      c.nextItems[0] = v;
      return c;
    };
    const set = (c: NativeLmCorpus, opts: NativeLmTrainOptions = o) => codeOf(() => t.setCorpus(c, opts, false));
    expect(await set(withToken(17))).toBe('UNKNOWN_ID');
    expect(await set(withToken(-1))).toBe('UNKNOWN_ID');
    expect(await set(withItem(5))).toBe('UNKNOWN_ID');
    expect(await set(withItem(-2))).toBe('UNKNOWN_ID');
    expect(await codeOf(() => t.evaluate(withToken(17)))).toBe('UNKNOWN_ID');
    expect(await codeOf(() => t.logits(Int32Array.of(1, 17)))).toBe('UNKNOWN_ID');
    expect(await set({ ...good, offsets: Float64Array.of(0, 9, 8, 27) })).toBe('INVALID_ARGUMENT');
    expect(await set({ ...good, eventEnds: Float64Array.of(5, 3), nextItems: Int32Array.of(1, 2) })).toBe('INVALID_ARGUMENT');
    expect(await set(good, { ...o, context: 33 })).toBe('INVALID_ARGUMENT'); // > maxPositions 32
    expect(await set(good, { ...o, freezeLayers: 2 })).toBe('INVALID_ARGUMENT'); // = layers
    expect(await set(good, { ...o, localLayers: 3 })).toBe('INVALID_ARGUMENT');
    expect(await set(good, { ...o, lr: 0 })).toBe('INVALID_ARGUMENT');
    expect(await set(good, { ...o, totalSteps: 0 })).toBe('INVALID_ARGUMENT');
    expect(await set({ ...good, teacher: undefined, teacherPoints: undefined }, { ...o, alignWeight: 1 })).toBe('INVALID_ARGUMENT');
    expect(await set({ ...good, teacher: good.teacher!.subarray(0, 3 * 2 * 8) }, { ...o, alignWeight: 1 })).toBe('INVALID_ARGUMENT'); // teacher dim 8 != 16
    expect(await codeOf(() => t.logits(new Int32Array(0)))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => t.logits(new Int32Array(33)))).toBe('INVALID_ARGUMENT'); // > maxPositions
    expect(await codeOf(() => t.setParams(new Float32Array(5)))).toBe('DIM_MISMATCH');
    const nan = t.params();
    nan[7] = NaN;
    expect(await codeOf(() => t.setParams(nan))).toBe('NON_FINITE');
    // after all these refusals the trainer still trains on `good` with `o`
    const r = await t.train(2);
    expect(r.steps).toBe(2);
    expect(r.tokens).toBeGreaterThan(0);
    expect(t.info().options.context).toBe(16);
    t.close();
  });

  it('an empty corpus is INVALID_ARGUMENT, and the refused corpus does not replace the one in use', async () => {
    const t = new native.NativeLmTrainer({ ...TINY, seed: 1 });
    const good = tinyCorpus(3, [9, 12, 6], TINY);
    t.setCorpus(good, { context: 16, threads: 1 }, false);
    const empty = (offsets: Float64Array) => codeOf(() => t.setCorpus({ tokens: new Int32Array(0), offsets }, { context: 8, threads: 1 }, false));
    expect(await empty(Float64Array.of(0))).toBe('INVALID_ARGUMENT');
    expect(await empty(Float64Array.of(0, 0))).toBe('INVALID_ARGUMENT');
    expect(t.info().options.context).toBe(16);
    const r = await t.train(1);
    expect(r.tokens).toBeGreaterThan(0); // still the good corpus
    t.close();
  });

  it('a second operation while train() runs is BUSY; close() cancels it and later calls are CLOSED', async () => {
    const t = new native.NativeLmTrainer(RUN_SHAPE);
    t.setCorpus(runCorpus(), { ...RUN_OPTIONS, totalSteps: 100000 }, false);
    expect(await codeOf(() => t.lossAndGradients(0))).toBe('no error');
    const running = t.train(100000);
    expect(await codeOf(() => t.train(1))).toBe('BUSY');
    expect(await codeOf(() => t.params())).toBe('BUSY');
    expect(await codeOf(() => t.setCorpus(runCorpus(), RUN_OPTIONS, false))).toBe('BUSY');
    expect(await codeOf(() => t.evaluate(runCorpus()))).toBe('BUSY');
    expect(await codeOf(() => t.saveCheckpoint(path.join(tmp, 'busy.ckpt')))).toBe('BUSY');
    expect(await codeOf(() => t.logits(Int32Array.of(1)))).toBe('BUSY');
    t.close();
    const r = await running;
    expect(r.cancelled).toBe(true);
    expect(r.steps).toBeLessThan(100000);
    for (const f of [() => t.info(), () => t.train(1), () => t.params(), () => t.layout(), () => t.logits(Int32Array.of(1)), () => t.setCorpus(runCorpus(), RUN_OPTIONS, false), () => t.saveCheckpoint(path.join(tmp, 'closed.ckpt'))]) {
      expect(await codeOf(f)).toBe('CLOSED');
    }
    t.close(); // twice is fine
  });

  it('no corpus yet: train and lossAndGradients are INVALID_ARGUMENT', async () => {
    const t = new native.NativeLmTrainer(TINY);
    expect(await codeOf(() => t.train(1))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => t.lossAndGradients(0))).toBe('INVALID_ARGUMENT');
    t.close();
  });

  it('a diverging learning rate is NON_FINITE, naming the step', async () => {
    const t = new native.NativeLmTrainer({ ...TINY, seed: 2 });
    t.setCorpus(tinyCorpus(3, [9, 12, 6], TINY), { context: 16, lr: 1e10, warmupSteps: 0, threads: 1 }, false);
    const e = await t.train(20).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(LmrecError);
    expect((e as LmrecError).code).toBe('NON_FINITE');
    expect((e as LmrecError).message).toMatch(/step \d+/);
    t.close();
  });
});
