/**
 * A plain, slow SASRec forward pass in doubles, written from the model's definition (see
 * native/core/srm/model.h), to hold the native SRM against.
 */
export interface SrmShape {
  items: number;
  dim: number;
  blocks: number;
  heads: number;
  maxLen: number;
}

type Layout = { name: string; rows: number; cols: number; offset: number }[];

class Weights {
  constructor(
    readonly params: Float32Array,
    readonly layout: Layout,
  ) {}
  get(name: string): { at: (r: number, c: number) => number; row: (r: number) => number[] } {
    const t = this.layout.find((x) => x.name === name);
    if (!t) throw new Error(`no tensor ${name}`);
    const at = (r: number, c: number) => this.params[t.offset + r * t.cols + c]!;
    return { at, row: (r) => Array.from({ length: t.cols }, (_, c) => at(r, c)) };
  }
}

const EPS = 1e-8;

function layerNorm(x: number[], g: number[], b: number[]): number[] {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const varc = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  const r = 1 / Math.sqrt(varc + EPS);
  return x.map((v, j) => (v - mean) * r * g[j]! + b[j]!);
}

/** Final hidden state after the history (the most recent maxLen items), in doubles. */
export function referenceHidden(shape: SrmShape, params: Float32Array, layout: Layout, history: number[]): number[] {
  return referenceRows(shape, params, layout, history.slice(-shape.maxLen)).at(-1)!;
}

/** Final hidden state of every row of one window (at most maxLen items, newest last). */
export function referenceRows(shape: SrmShape, params: Float32Array, layout: Layout, window: number[]): number[][] {
  const w = new Weights(params, layout);
  const d = shape.dim;
  const seq = window;
  const n = seq.length;
  const E = w.get('item_emb');
  const P = w.get('pos_emb');
  let x = seq.map((item, i) => E.row(item).map((e, j) => e * Math.sqrt(d) + P.at(shape.maxLen - n + i, j)));
  for (let b = 0; b < shape.blocks; b++) {
    const p = `block${b}.`;
    const q = x.map((row) => layerNorm(row, w.get(`${p}ln1.gain`).row(0), w.get(`${p}ln1.bias`).row(0)));
    const lin = (name: string, rows: number[][]) => {
      const W = w.get(`${p}attn.w${name}`);
      const bias = w.get(`${p}attn.b${name}`).row(0);
      return rows.map((r) => bias.map((bb, o) => r.reduce((a, v, i) => a + v * W.at(o, i), bb)));
    };
    const Q = lin('q', q), K = lin('k', x), V = lin('v', x);
    const dh = d / shape.heads;
    const attn = seq.map(() => new Array<number>(d).fill(0));
    for (let h = 0; h < shape.heads; h++)
      for (let i = 0; i < n; i++) {
        const s: number[] = [];
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let c = h * dh; c < (h + 1) * dh; c++) dot += Q[i]![c]! * K[j]![c]!;
          s.push(dot / Math.sqrt(dh));
        }
        const mx = Math.max(...s);
        const e = s.map((v) => Math.exp(v - mx));
        const z = e.reduce((a, v) => a + v, 0);
        for (let j = 0; j <= i; j++) for (let c = h * dh; c < (h + 1) * dh; c++) attn[i]![c]! += (e[j]! / z) * V[j]![c]!;
      }
    const hRows = lin('o', attn).map((r, i) => r.map((v, j) => v + q[i]![j]!));
    const nRows = hRows.map((r) => layerNorm(r, w.get(`${p}ln2.gain`).row(0), w.get(`${p}ln2.bias`).row(0)));
    x = nRows.map((r) => {
      const W1 = w.get(`${p}ffn.w1`), b1 = w.get(`${p}ffn.b1`).row(0);
      const W2 = w.get(`${p}ffn.w2`), b2 = w.get(`${p}ffn.b2`).row(0);
      const hid = b1.map((bb, o) => Math.max(0, r.reduce((a, v, i) => a + v * W1.at(o, i), bb)));
      return b2.map((bb, o) => hid.reduce((a, v, i) => a + v * W2.at(o, i), bb) + r[o]!);
    });
  }
  return x.map((row) => layerNorm(row, w.get('final_ln.gain').row(0), w.get('final_ln.bias').row(0)));
}

/** Mean full-softmax cross-entropy of a window predicting each next item (no dropout). */
export function referenceLoss(shape: SrmShape, params: Float32Array, layout: Layout, sequence: number[]): number {
  const rows = referenceRows(shape, params, layout, sequence.slice(0, -1));
  const E = new Weights(params, layout).get('item_emb');
  let total = 0;
  rows.forEach((h, t) => {
    const logits = Array.from({ length: shape.items }, (_, i) => h.reduce((a, v, j) => a + v * E.at(i, j), 0));
    const mx = Math.max(...logits);
    const lse = mx + Math.log(logits.reduce((a, l) => a + Math.exp(l - mx), 0));
    total += lse - logits[sequence[t + 1]!]!;
  });
  return total / rows.length;
}

/** Scores of every item after the history. */
export function referenceScores(shape: SrmShape, params: Float32Array, layout: Layout, history: number[]): Float64Array {
  const h = referenceHidden(shape, params, layout, history);
  const E = new Weights(params, layout).get('item_emb');
  return Float64Array.from({ length: shape.items }, (_, i) => h.reduce((a, v, j) => a + v * E.at(i, j), 0));
}
