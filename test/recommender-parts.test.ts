/**
 * The Recommender's parts on their own: multi-layer encoding against single-layer encode, the
 * representation module (item states, scaling, candidate layers), the catalog's field
 * filters, the beyond-accuracy metrics on a hand-made case, and the SVG chart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beyondAccuracy } from '../src/eval/beyond-accuracy.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { Catalog } from '../src/recommender/catalog.js';
import { popularOrder } from '../src/recommender/ranking.js';
import { applyScaling, candidateLayers, encodeItemStates, fitScaling } from '../src/recommender/item-states.js';
import { lineChart } from '../src/util/svg-chart.js';
import { writeTinyDecoder, writeTinyTokenizer } from './helpers/tiny-models.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-parts-'));
const words = ['the', 'cat', 'sat', 'on', 'mat', 'dog', 'ran', 'a', 'red', 'ball', '##s', '.'];
let lm: LanguageModel;

beforeAll(async () => {
  writeTinyDecoder(path.join(root, 'm'), { seed: 4, layers: 3 });
  writeTinyTokenizer(path.join(root, 'm'), words);
  lm = await LanguageModel.load(path.join(root, 'm'), { threads: 1 });
});
afterAll(async () => {
  await lm.close();
  rmSync(root, { recursive: true, force: true });
});

describe('representation module', () => {
  const texts = ['the cat sat', 'a red ball', '', 'the dog ran on the mat .', 'cat'];

  it('encodeLayers gives, per layer, what encode gives for that layer alone', async () => {
    const layers = [0, 2, 3];
    const all = await lm.encodeLayers(texts.filter((t) => t), { layers, pooling: 'mean' });
    for (const [li, layer] of layers.entries()) {
      const one = await lm.encode(texts.filter((t) => t), { layer, pooling: 'mean' });
      one.forEach((v, i) => expect(Array.from(all[li]![i]!)).toEqual(Array.from(v)));
    }
    await expect(lm.encodeLayers(['cat'], { layers: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(lm.encodeLayers(['cat'], { layers: [9] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('item states: one row per text, zero rows for empty texts, the same with layers split over passes', async () => {
    const H = lm.config.hidden;
    const together = await encodeItemStates(lm, texts, [1, 3]);
    const apart = await encodeItemStates(lm, texts, [1, 3], { maxBytes: texts.length * H * 4, batchSize: 2 });
    expect(together).toHaveLength(2);
    expect(Array.from(apart[1]!)).toEqual(Array.from(together[1]!));
    expect(together[0]!.subarray(2 * H, 3 * H).every((x) => x === 0)).toBe(true);
    const single = await lm.encode(['the cat sat'], { layer: 3 });
    expect(Array.from(together[1]!.subarray(0, H))).toEqual(Array.from(single[0]!));
    await expect(encodeItemStates(lm, texts, [1], { maxBytes: 10 })).rejects.toMatchObject({ code: 'REQUEST_TOO_LARGE' });
  });

  it('scaling centres and scales each dimension; constant dimensions become zero', () => {
    const m = Float32Array.from([1, 5, 7, 3, 5, 7, 5, 5, 7]); // 3 rows x 3
    const s = fitScaling(m, 3);
    const z = applyScaling(m, s);
    for (let j = 0; j < 3; j++) {
      const col = [z[j]!, z[3 + j]!, z[6 + j]!];
      expect(Math.abs(col.reduce((a, b) => a + b, 0))).toBeLessThan(1e-5);
    }
    expect(Math.hypot(z[0]!, z[3]!, z[6]!) ** 2 / 3).toBeCloseTo(1, 5);
    expect([z[1], z[2], z[5], z[8]]).toEqual([0, 0, 0, 0]);
  });

  it('candidate layers: all of a small model, 8 spread to the last of a deep one', () => {
    expect(candidateLayers(4)).toEqual([0, 1, 2, 3, 4]);
    const deep = candidateLayers(24);
    expect(deep).toHaveLength(8);
    expect(deep.at(-1)).toBe(24);
  });
});

describe('catalog filters', () => {
  it('matches field values, lists and several fields; duplicates refused', () => {
    const c = new Catalog([
      { id: 'a', fields: { category: 'lip', brand: 'x' } },
      { id: 'b', fields: { category: 'eye', brand: 'x' } },
      { id: 'c', fields: { category: 'lip', brand: 'y' } },
    ]);
    expect(c.matching({ category: 'lip' })).toEqual([0, 2]);
    expect(c.matching({ category: ['lip', 'eye'] })).toEqual([0, 1, 2]);
    expect(c.matching({ category: 'lip', brand: 'y' })).toEqual([2]);
    expect(c.matching({ category: 'none' })).toEqual([]);
    c.add([{ id: 'd', fields: { category: 'lip' } }]);
    expect(c.matching({ category: 'lip' })).toEqual([0, 2, 3]); // the built index follows additions
    expect(() => c.add([{ id: 'a', fields: {} }])).toThrow(expect.objectContaining({ code: 'DUPLICATE_ID' }));
    expect(() => c.matching({ category: 3 as unknown as string })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(c.size).toBe(4);
  });

  it('a field no item has is INVALID_ARGUMENT naming the fields there are (a typo would answer nothing)', () => {
    const c = new Catalog([
      { id: 'a', fields: { category: 'lip' } },
      { id: 'b', fields: { brand: 'x' } },
    ]);
    expect(() => c.matching({ categroy: 'lip' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/'categroy'.*category, brand/) }));
    expect(c.matching({ category: 'eye' })).toEqual([]); // a known field, an unknown value: no items
    expect(c.matching({ brand: 'x' })).toEqual([1]);
    c.setFields(1, { colour: 'red' }); // the only item with a brand loses it (its emptied list stays indexed)
    expect(() => c.matching({ brand: 'x' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    c.add([{ id: 'c', fields: { brand: 'y' } }]);
    expect(c.matching({ brand: 'y' })).toEqual([2]);
  });
});

describe('popularity order', () => {
  const sorted = (c: Float32Array) => Array.from(c.keys()).sort((a, b) => c[b]! - c[a]! || a - b);
  it('is the comparison sort (highest count first, ties by number) for whole counts, ties and zeros', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (const [n, top] of [[1, 0], [5, 0], [1000, 3], [1000, 50_000], [20_000, 400]] as const) {
      const counts = Float32Array.from({ length: n }, () => (top === 0 ? 0 : Math.floor((next() / 2 ** 31) ** 3 * top)));
      expect(Array.from(popularOrder(counts))).toEqual(sorted(counts));
    }
  });
  it('sorts what is not a count of events (fractions, a huge count) the same way', () => {
    for (const counts of [Float32Array.of(0.5, 2, 0.5, 1e9, 3), Float32Array.of(2 ** 24, 1, 2 ** 24, 0)]) {
      expect(Array.from(popularOrder(counts))).toEqual(sorted(counts));
    }
  });
});

describe('beyond accuracy', () => {
  it('coverage and the top-1% share of top-k lists, history items left out', async () => {
    const items = 200;
    const popularity = Float32Array.from({ length: items }, (_, i) => items - i); // item 0 most popular
    // every user's scores favour items 0, 1, 2... but user 1 has item 0 in the history
    const scorer = (splits: { history: Int32Array }[]) => {
      const rows = new Float32Array(splits.length * items);
      splits.forEach((_, j) => {
        for (let i = 0; i < items; i++) rows[j * items + i] = items - i;
      });
      return rows;
    };
    const splits = [
      { user: 0, history: Int32Array.of(50), target: 3 },
      { user: 1, history: Int32Array.of(0), target: 3 },
    ];
    const r = await beyondAccuracy(splits, items, scorer, popularity, 2);
    // lists {0, 1} and {1, 2}: 3 distinct items; the top 1% is {0, 1}: 3 of 4 slots
    expect(r.coverage).toBeCloseTo(3 / items, 10);
    expect(r.popularShare).toBeCloseTo(0.75, 10);
  });
});

describe('SVG chart', () => {
  it('draws every series with its legend, escaping text', () => {
    const svg = lineChart({ title: 'a < b', xLabel: 'layer', yLabel: 'NDCG', series: [{ name: 'NDCG@10', points: [{ x: 0, y: 0.3 }, { x: 1, y: NaN }, { x: 2, y: 0.35 }] }] });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('a &lt; b');
    expect(svg.match(/<circle/g)).toHaveLength(2);
    expect(svg).toContain('NDCG@10');
    expect(svg.trim().endsWith('</svg>')).toBe(true);
  });
});
