/**
 * The SRM bench's baseline: the SASRec forward a competent Node developer would write by hand
 * — flat Float32Arrays, tensors looked up once, row-major loops — computing what lmrec
 * computes at inference: every row through all blocks but the last, and only the last row's
 * query through the last block (its keys and values still come from every row).
 */
import type { SrmShape } from '../test/helpers/srm-reference.js';

type Layout = { name: string; rows: number; cols: number; offset: number }[];

export class PlainSasrec {
  readonly #shape: SrmShape;
  readonly #t: Map<string, Float32Array>;

  constructor(shape: SrmShape, params: Float32Array, layout: Layout) {
    this.#shape = shape;
    this.#t = new Map(layout.map((t) => [t.name, params.subarray(t.offset, t.offset + t.rows * t.cols)]));
  }

  #get(name: string): Float32Array {
    const t = this.#t.get(name);
    if (!t) throw new Error(`no tensor ${name}`);
    return t;
  }

  /** Final hidden state after the history (its most recent maxLen items). */
  hidden(history: ArrayLike<number>): Float32Array {
    const { dim: d, maxLen, blocks, heads } = this.#shape;
    const start = Math.max(0, history.length - maxLen);
    const n = history.length - start;
    const E = this.#get('item_emb'), P = this.#get('pos_emb');
    let x: Float32Array = new Float32Array(n * d);
    const scale = Math.sqrt(d);
    for (let i = 0; i < n; i++) {
      const item = history[start + i]!;
      for (let j = 0; j < d; j++) x[i * d + j] = E[item * d + j]! * scale + P[(maxLen - n + i) * d + j]!;
    }
    const dh = d / heads;
    for (let b = 0; b < blocks; b++) {
      const p = `block${b}.`;
      const last = b === blocks - 1;
      const q0 = last ? n - 1 : 0; // the last block needs only the last row's output
      const rows = n - q0;
      const q = layerNorm(x.subarray(q0 * d), rows, d, this.#get(`${p}ln1.gain`), this.#get(`${p}ln1.bias`));
      const Q = linear(q, rows, d, d, this.#get(`${p}attn.wq`), this.#get(`${p}attn.bq`));
      const K = linear(x, n, d, d, this.#get(`${p}attn.wk`), this.#get(`${p}attn.bk`));
      const V = linear(x, n, d, d, this.#get(`${p}attn.wv`), this.#get(`${p}attn.bv`));
      const attn = new Float32Array(rows * d);
      const s = new Float32Array(n);
      for (let h = 0; h < heads; h++) {
        for (let r = 0; r < rows; r++) {
          const i = q0 + r;
          let mx = -Infinity;
          for (let j = 0; j <= i; j++) {
            let dot = 0;
            for (let c = h * dh; c < (h + 1) * dh; c++) dot += Q[r * d + c]! * K[j * d + c]!;
            s[j] = dot / Math.sqrt(dh);
            if (s[j]! > mx) mx = s[j]!;
          }
          let z = 0;
          for (let j = 0; j <= i; j++) z += s[j] = Math.exp(s[j]! - mx);
          for (let j = 0; j <= i; j++) {
            const w = s[j]! / z;
            for (let c = h * dh; c < (h + 1) * dh; c++) attn[r * d + c]! += w * V[j * d + c]!;
          }
        }
      }
      const hid = linear(attn, rows, d, d, this.#get(`${p}attn.wo`), this.#get(`${p}attn.bo`));
      for (let i = 0; i < rows * d; i++) hid[i]! += q[i]!;
      const nrm = layerNorm(hid, rows, d, this.#get(`${p}ln2.gain`), this.#get(`${p}ln2.bias`));
      const f1 = linear(nrm, rows, d, d, this.#get(`${p}ffn.w1`), this.#get(`${p}ffn.b1`));
      for (let i = 0; i < f1.length; i++) if (f1[i]! < 0) f1[i] = 0;
      const out = linear(f1, rows, d, d, this.#get(`${p}ffn.w2`), this.#get(`${p}ffn.b2`));
      for (let i = 0; i < rows * d; i++) out[i]! += nrm[i]!;
      x = out;
    }
    return layerNorm(x.subarray(x.length - d), 1, d, this.#get('final_ln.gain'), this.#get('final_ln.bias'));
  }
}

/** rows x cols input times W^T [out x cols] plus bias. */
function linear(x: Float32Array, rows: number, cols: number, out: number, W: Float32Array, bias: Float32Array): Float32Array {
  const y = new Float32Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let s = bias[o]!;
      for (let i = 0; i < cols; i++) s += x[r * cols + i]! * W[o * cols + i]!;
      y[r * out + o] = s;
    }
  }
  return y;
}

function layerNorm(x: Float32Array, rows: number, d: number, g: Float32Array, b: Float32Array): Float32Array {
  const y = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[r * d + j]!;
    mean /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[r * d + j]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / d + 1e-8);
    for (let j = 0; j < d; j++) y[r * d + j] = (x[r * d + j]! - mean) * inv * g[j]! + b[j]!;
  }
  return y;
}
