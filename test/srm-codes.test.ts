/**
 * The SRM's compression module (MARC): item embedding = ID embedding (items with training
 * events) + projected code, code = tanh(compress(features)). Gradients of every tensor
 * against finite differences (linear and MLP compression, cold items), the effective item
 * embeddings against a plain recomputation, int8 codes, the file round trip and adding items.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../src/addon/loader.js';
import type { NativeSrm, NativeTrainOptions } from '../src/addon/srm.js';
import { nativeOf, SequentialRecommender } from '../src/srm/sequential-recommender.js';
import { Random } from '../src/util/random.js';

const ITEMS = 11;
const WIDTH = 5;
const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-codes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function features(rng: Random, n: number): Float32Array {
  return Float32Array.from({ length: n * WIDTH }, () => rng.normal());
}

function codeModel(hidden: number, int8: boolean, seed = 3): NativeSrm {
  return new native.NativeSrm({ items: ITEMS, dim: 8, blocks: 1, heads: 2, maxLen: 6, codeIn: WIDTH, codeDim: 4, codeHidden: hidden, codeInt8: int8, seed });
}

function data(rng: Random): { items: Int32Array; offsets: Float64Array } {
  // items 9 and 10 never occur: cold
  const lens = [4, 7, 3, 9];
  const flat: number[] = [];
  const offsets = [0];
  for (const n of lens) {
    for (let i = 0; i < n; i++) flat.push(rng.int(9));
    offsets.push(flat.length);
  }
  return { items: Int32Array.from(flat), offsets: Float64Array.from(offsets) };
}

const mask = Uint8Array.from({ length: ITEMS }, (_, i) => (i < 9 ? 1 : 0));

/** tanh(f·W1 + b1) (or through one ReLU layer), rounded to int8 when asked, in doubles. */
function referenceCodes(m: NativeSrm, f: Float32Array, n: number, int8: boolean): number[][] {
  const p = m.params();
  const t = (name: string) => m.layout().find((x) => x.name === name);
  const mat = (name: string) => {
    const x = t(name)!;
    return (i: number, j: number) => p[x.offset + i * x.cols + j]!;
  };
  const info = m.info();
  const out: number[][] = [];
  for (let r = 0; r < n; r++) {
    let x = Array.from(f.subarray(r * WIDTH, (r + 1) * WIDTH), Number);
    const layers = info.codeHidden ? ['1', '2'] : ['1'];
    layers.forEach((l, li) => {
      const w = mat(`codes.w${l}`);
      const b = mat(`codes.b${l}`);
      const cols = t(`codes.w${l}`)!.cols;
      const y = Array.from({ length: cols }, (_, j) => b(0, j) + x.reduce((a, v, i) => a + v * w(i, j), 0));
      x = li < layers.length - 1 ? y.map((v) => Math.max(0, v)) : y.map(Math.tanh);
    });
    out.push(int8 ? x.map((v) => Math.round(v * 127) / 127) : x);
  }
  return out;
}

describe('SRM compression module', () => {
  // sampled softmax: a step compresses only its batch's items and negatives (the touched rows)
  const cases: [string, number, 'full' | 'sampled'][] = [
    ['linear compression', 0, 'full'],
    ['MLP compression', 6, 'full'],
    ['linear compression, sampled softmax', 0, 'sampled'],
    ['MLP compression, sampled softmax', 6, 'sampled'],
  ];
  for (const [name, hidden, lossKind] of cases) {
    it(`${name}: every tensor's gradient matches finite differences; cold ID rows get none`, () => {
      const rng = new Random(5);
      const m = codeModel(hidden, false);
      m.setIdMask(mask);
      m.setFeatures(features(rng, ITEMS));
      const d = data(rng);
      m.countPopularity(d.items, d.offsets, true);
      const o: NativeTrainOptions = { loss: lossKind, negatives: 4, dropout: 0.2, seed: 2, codeNoise: 0.05 };
      const base = m.params();
      const { loss, gradients } = m.lossAndGradients(d.items, d.offsets, o, 3);
      expect(Number.isFinite(loss)).toBe(true);
      const failures: string[] = [];
      for (const t of m.layout()) {
        const size = t.rows * t.cols;
        const dirv = Float64Array.from({ length: size }, () => rng.normal());
        const norm = Math.hypot(...dirv);
        let analytic = 0;
        for (let i = 0; i < size; i++) analytic += (gradients[t.offset + i]! * dirv[i]!) / norm;
        const eps = 1e-3;
        const shifted = (sign: number) => {
          const p = base.slice();
          for (let i = 0; i < size; i++) p[t.offset + i]! += (sign * eps * dirv[i]!) / norm;
          m.setParams(p);
          return m.lossAndGradients(d.items, d.offsets, o, 3).loss;
        };
        const numeric = (shifted(1) - shifted(-1)) / (2 * eps);
        if (Math.abs(numeric - analytic) > 2e-2 * Math.abs(analytic) + 2e-4) failures.push(`${t.name}: analytic ${analytic}, numeric ${numeric}`);
      }
      expect(failures).toEqual([]);
      const names = m.layout().map((t) => t.name);
      expect(names).toContain('codes.proj');
      expect(names.includes('codes.w2')).toBe(hidden > 0);
      const emb = m.layout().find((t) => t.name === 'item_emb')!;
      for (const cold of [9, 10]) {
        for (let j = 0; j < emb.cols; j++) expect(gradients[emb.offset + cold * emb.cols + j]).toBe(0);
        for (let j = 0; j < emb.cols; j++) expect(base[emb.offset + cold * emb.cols + j]).toBe(0);
      }
    });
  }

  it('item vectors are ID (warm items) + int8 code · Proj, recomputed plainly', () => {
    const rng = new Random(9);
    const m = codeModel(0, true);
    m.setIdMask(mask);
    const f = features(rng, ITEMS);
    m.setFeatures(f);
    const codes = m.codes();
    const ref = referenceCodes(m, f, ITEMS, true);
    for (let i = 0; i < ITEMS; i++) for (let j = 0; j < 4; j++) expect(Math.abs(codes[i * 4 + j]! - ref[i]![j]!)).toBeLessThan(1e-6);
    for (const c of codes) expect(Math.abs(c * 127 - Math.round(c * 127))).toBeLessThan(1e-4);
    const p = m.params();
    const emb = m.layout().find((t) => t.name === 'item_emb')!;
    const proj = m.layout().find((t) => t.name === 'codes.proj')!;
    const v = m.itemVectors();
    for (let i = 0; i < ITEMS; i++) {
      for (let j = 0; j < 8; j++) {
        let want = mask[i] ? p[emb.offset + i * 8 + j]! : 0;
        for (let c = 0; c < 4; c++) want += ref[i]![c]! * p[proj.offset + c * 8 + j]!;
        expect(Math.abs(v[i * 8 + j]! - want)).toBeLessThan(1e-5);
      }
    }
  });

  it('itemVectorsInto and codesInto write itemVectors() and codes() into the caller\'s array off the JS thread; a wrong size or type is refused', async () => {
    const rng = new Random(5);
    const f = features(rng, ITEMS);
    const d = data(rng);
    const train = Array.from({ length: d.offsets.length - 1 }, (_, i) => d.items.subarray(d.offsets[i]!, d.offsets[i + 1]!));
    const model = await SequentialRecommender.fit(train, ITEMS, { dim: 8, blocks: 1, heads: 2, maxLen: 6, epochs: 1, seed: 1, itemFeatures: { vectors: f, width: WIDTH, codeDim: 4 } });
    const out = new Float32Array(ITEMS * 8).fill(NaN);
    await model.itemVectorsInto(out);
    expect(Array.from(out)).toEqual(Array.from(model.itemVectors()));
    // again into the same array after an update: the new vectors
    await model.update([[1, 2, 3]], { fresh: 1 });
    await model.itemVectorsInto(out);
    expect(Array.from(out)).toEqual(Array.from(model.itemVectors()));
    await expect(model.itemVectorsInto(new Float32Array(ITEMS * 8 - 1))).rejects.toMatchObject({ code: 'DIM_MISMATCH' });
    await expect(model.itemVectorsInto(new Float32Array(ITEMS * 8 + 8))).rejects.toMatchObject({ code: 'DIM_MISMATCH' });
    await expect(model.itemVectorsInto(new Float64Array(ITEMS * 8) as unknown as Float32Array)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(() => nativeOf(model).itemVectorsInto([] as unknown as Float32Array)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    // codesInto: codes() the same way, off the JS thread
    const codes = new Float32Array(ITEMS * 4).fill(NaN);
    await model.codesInto(codes);
    expect(Array.from(codes)).toEqual(Array.from(model.codes()!));
    await expect(model.codesInto(new Float32Array(ITEMS * 4 + 1))).rejects.toMatchObject({ code: 'DIM_MISMATCH' });
    await expect(model.codesInto([] as unknown as Float32Array)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    model.close();
    await expect(model.itemVectorsInto(out)).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(model.codesInto(codes)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('fit trains the module jointly, saves codes and ID flags, and adds items by their features', async () => {
    const rng = new Random(4);
    const f = features(rng, ITEMS);
    const d = data(rng);
    const train = Array.from({ length: d.offsets.length - 1 }, (_, i) => d.items.subarray(d.offsets[i]!, d.offsets[i + 1]!));
    const model = await SequentialRecommender.fit(train, ITEMS, {
      dim: 8, blocks: 1, heads: 2, maxLen: 6, epochs: 3, seed: 1, itemFeatures: { vectors: f, width: WIDTH, codeDim: 4 },
    });
    const warm = Uint8Array.from({ length: ITEMS }, (_, i) => (d.items.includes(i) ? 1 : 0));
    expect(Array.from(model.idMask())).toEqual(Array.from(warm));
    const before = model.itemVectors();
    const file = path.join(dir, 'codes.srm');
    await model.save(file);
    const loaded = await SequentialRecommender.load(file);
    expect(loaded.info).toMatchObject({ codeIn: WIDTH, codeDim: 4, codeInt8: true, items: ITEMS });
    expect(Array.from(loaded.codes()!)).toEqual(Array.from(model.codes()!));
    expect(Array.from(loaded.idMask())).toEqual(Array.from(warm));
    expect(Array.from(loaded.itemVectors())).toEqual(Array.from(before));
    const u = loaded.userVector([1, 2, 3])!;
    const s = loaded.score([1, 2, 3], [0, 10]).scores;
    const dot = (i: number) => u.reduce((a, x, j) => a + x * before[i * 8 + j]!, 0);
    expect(s[0]).toBeCloseTo(dot(0), 4);
    expect(s[1]).toBeCloseTo(dot(10), 4);

    // a new item: its code from the trained module, no ID part; the old items unchanged
    const fresh = features(rng, 2);
    expect(await loaded.addItems(fresh)).toEqual([ITEMS, ITEMS + 1]);
    expect(loaded.items).toBe(ITEMS + 2);
    const codes = loaded.codes()!;
    const ref = referenceCodes(nativeLike(loaded), fresh, 2, true);
    for (let j = 0; j < 4; j++) expect(codes[ITEMS * 4 + j]).toBeCloseTo(ref[0]![j]!, 5);
    expect(Array.from(loaded.itemVectors().subarray(0, ITEMS * 8))).toEqual(Array.from(before));
    expect(loaded.idMask()[ITEMS]).toBe(0);
    expect(loaded.score([1, 2, 3], [ITEMS]).scores[0]).toBeTypeOf('number');
    // an update after the add trains the new rows too; the module stays as it was
    loaded.warmItems([ITEMS]);
    await loaded.update([[1, 2, ITEMS]], { fresh: 1 });
    const after = loaded.codes()!;
    expect(Array.from(after)).toEqual(Array.from(codes));
    model.close();
    loaded.close();
  });

  it('refuses features of the wrong size and non-finite features', () => {
    const m = codeModel(0, true);
    expect(() => m.setFeatures(new Float32Array(3))).toThrow(expect.objectContaining({ code: 'DIM_MISMATCH' }));
    const bad = new Float32Array(ITEMS * WIDTH);
    bad[7] = NaN;
    expect(() => m.setFeatures(bad)).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
    expect(() => m.addItems(new Float32Array(WIDTH + 1))).toThrow(expect.objectContaining({ code: 'DIM_MISMATCH' }));
    const plain = new native.NativeSrm({ items: 4, dim: 8 });
    expect(() => plain.setFeatures(new Float32Array(4))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

function nativeLike(m: SequentialRecommender): NativeSrm {
  return nativeOf(m);
}
