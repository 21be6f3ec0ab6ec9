/**
 * The SRM's model math: the native forward pass against a plain double-precision SASRec
 * (test/helpers/srm-reference.ts), and every parameter tensor's gradient against finite
 * differences of the loss, for the full and the sampled softmax, with dropout on (its masks
 * are fixed by the step number, so the loss is a deterministic function of the weights).
 */
import { describe, expect, it } from 'vitest';
import { native } from '../src/addon/loader.js';
import type { NativeSrm, NativeTrainOptions } from '../src/addon/srm.js';
import { Random } from '../src/util/random.js';
import { referenceLoss, referenceScores, type SrmShape } from './helpers/srm-reference.js';

const SHAPE: SrmShape = { items: 13, dim: 8, blocks: 2, heads: 2, maxLen: 6 };

function sequences(rng: Random, lengths: number[], items: number): { items: Int32Array; offsets: Float64Array } {
  const flat: number[] = [];
  const offsets = [0];
  for (const n of lengths) {
    for (let i = 0; i < n; i++) flat.push(rng.int(items));
    offsets.push(flat.length);
  }
  return { items: Int32Array.from(flat), offsets: Float64Array.from(offsets) };
}

function model(seed: number): NativeSrm {
  const m = new native.NativeSrm({ ...SHAPE, seed });
  // Non-trivial gains and biases, so their gradients are exercised away from 1 and 0.
  const p = m.params();
  const rng = new Random(seed + 100);
  for (const t of m.layout()) {
    if (/gain|bias|\.b[qkvo12]$|ffn\.b/.test(t.name)) {
      for (let i = 0; i < t.rows * t.cols; i++) p[t.offset + i] = (t.name.includes('gain') ? 1 : 0) + 0.3 * rng.normal();
    }
  }
  m.setParams(p);
  return m;
}

describe('SRM forward pass', () => {
  it('matches the reference SASRec on histories shorter and longer than maxLen', () => {
    const m = model(3);
    const params = m.params();
    const layout = m.layout();
    const rng = new Random(9);
    for (const n of [1, 2, 5, 6, 9]) {
      const history = Array.from({ length: n }, () => rng.int(SHAPE.items));
      const want = referenceScores(SHAPE, params, layout, history);
      const got = m.score(Int32Array.from(history), Int32Array.from({ length: SHAPE.items }, (_, i) => i));
      for (let i = 0; i < SHAPE.items; i++) expect(Math.abs(got[i]! - want[i]!), `n=${n} item ${i}`).toBeLessThan(1e-4);
    }
  });
});

describe('SRM training loss', () => {
  it('matches the reference cross-entropy over every row of a window (all rows, not just the last)', () => {
    const m = model(4);
    const rng = new Random(13);
    for (const n of [2, 4, 7]) {
      const seq = Array.from({ length: n }, () => rng.int(SHAPE.items));
      const { loss } = m.lossAndGradients(Int32Array.from(seq), Float64Array.from([0, n]), { loss: 'full', dropout: 0 }, 1);
      expect(Math.abs(loss - referenceLoss(SHAPE, m.params(), m.layout(), seq)), `n=${n}`).toBeLessThan(1e-5);
    }
  });
});

describe('SRM gradients match finite differences', () => {
  const cases: [string, NativeTrainOptions][] = [
    ['full softmax, dropout 0.3', { loss: 'full', dropout: 0.3, seed: 4 }],
    ['full softmax in 3-row logits blocks', { loss: 'full', dropout: 0, logitsBytes: 3 * 13 * 4, seed: 4 }],
    ['sampled softmax with logQ, dropout 0.2', { loss: 'sampled', negatives: 7, dropout: 0.2, seed: 4 }],
  ];
  for (const [name, options] of cases) {
    it(`${name}: every tensor, along random directions`, () => {
      const m = model(7);
      const rng = new Random(21);
      // lengths beyond maxLen + 1 make several windows per sequence
      const data = sequences(rng, [3, 7, 9, 2, 15], SHAPE.items);
      m.countPopularity(data.items, data.offsets, true);
      const step = 5;
      const base = m.params();
      const { loss, gradients } = m.lossAndGradients(data.items, data.offsets, options, step);
      expect(Number.isFinite(loss)).toBe(true);
      const lossAt = (p: Float32Array) => {
        m.setParams(p);
        return m.lossAndGradients(data.items, data.offsets, options, step).loss;
      };
      const failures: string[] = [];
      for (const t of m.layout()) {
        const size = t.rows * t.cols;
        const dir = Float64Array.from({ length: size }, () => rng.normal());
        const norm = Math.sqrt(dir.reduce((a, v) => a + v * v, 0));
        let analytic = 0;
        for (let i = 0; i < size; i++) analytic += (gradients[t.offset + i]! * dir[i]!) / norm;
        const eps = 1e-3; // small enough that no ReLU kink is crossed along the directions
        const shifted = (sign: number) => {
          const p = base.slice();
          for (let i = 0; i < size; i++) p[t.offset + i]! += (sign * eps * dir[i]!) / norm;
          return lossAt(p);
        };
        const numeric = (shifted(1) - shifted(-1)) / (2 * eps);
        const err = Math.abs(numeric - analytic);
        if (err > 2e-2 * Math.abs(analytic) + 2e-4) failures.push(`${t.name}: analytic ${analytic}, numeric ${numeric}`);
      }
      m.setParams(base);
      expect(failures).toEqual([]);
    });
  }

  it('a gradient check that would catch a wrong gradient: scaling one tensor\'s gradient fails it', () => {
    // Guards the check itself: the directional derivative of pos_emb must differ from 1.5x its gradient.
    const m = model(8);
    const data = sequences(new Random(2), [5, 6], SHAPE.items);
    const o: NativeTrainOptions = { loss: 'full', dropout: 0, seed: 1 };
    const base = m.params();
    const { gradients } = m.lossAndGradients(data.items, data.offsets, o, 1);
    const t = m.layout().find((x) => x.name === 'pos_emb')!;
    let g2 = 0;
    for (let i = 0; i < t.rows * t.cols; i++) g2 += gradients[t.offset + i]! ** 2;
    const eps = 1e-3 / Math.sqrt(g2);
    const shifted = (sign: number) => {
      const p = base.slice();
      for (let i = 0; i < t.rows * t.cols; i++) p[t.offset + i]! += sign * eps * gradients[t.offset + i]!;
      m.setParams(p);
      return m.lossAndGradients(data.items, data.offsets, o, 1).loss;
    };
    const numeric = (shifted(1) - shifted(-1)) / (2 * eps); // = |g|^2 when the gradient is right
    expect(Math.abs(numeric - g2)).toBeLessThan(2e-2 * g2);
    expect(Math.abs(numeric - 1.5 * g2)).toBeGreaterThan(2e-2 * g2);
  });
});
