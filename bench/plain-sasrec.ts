/**
 * The SRM bench's baseline: the SASRec forward a competent Node developer would write by hand
 * — flat Float32Arrays, tensors looked up once, row-major loops — computing what lmrec
 * computes at inference: every row through all blocks but the last, and only the last row's
 * query through the last block (its keys and values still come from every row).
 */
import type { SrmShape } from '../test/helpers/srm-reference.js';
import { linear } from '../test/oracle/decoder.js';
import { layerNorm as norm } from '../test/oracle/encoder.js';

type Layout = { name: string; rows: number; cols: number; offset: number }[];

const EPS = 1e-8; // SASRec's layer-norm epsilon

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
      const q = norm(x.subarray(q0 * d), rows, d, { weight: this.#get(`${p}ln1.gain`), bias: this.#get(`${p}ln1.bias`) }, EPS);
      const Q = linear(q, rows, d, this.#get(`${p}attn.wq`), d, this.#get(`${p}attn.bq`));
      const K = linear(x, n, d, this.#get(`${p}attn.wk`), d, this.#get(`${p}attn.bk`));
      const V = linear(x, n, d, this.#get(`${p}attn.wv`), d, this.#get(`${p}attn.bv`));
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
      const hid = linear(attn, rows, d, this.#get(`${p}attn.wo`), d, this.#get(`${p}attn.bo`));
      for (let i = 0; i < rows * d; i++) hid[i]! += q[i]!;
      const nrm = norm(hid, rows, d, { weight: this.#get(`${p}ln2.gain`), bias: this.#get(`${p}ln2.bias`) }, EPS);
      const f1 = linear(nrm, rows, d, this.#get(`${p}ffn.w1`), d, this.#get(`${p}ffn.b1`));
      for (let i = 0; i < f1.length; i++) if (f1[i]! < 0) f1[i] = 0;
      const out = linear(f1, rows, d, this.#get(`${p}ffn.w2`), d, this.#get(`${p}ffn.b2`));
      for (let i = 0; i < rows * d; i++) out[i]! += nrm[i]!;
      x = out;
    }
    return norm(x.subarray(x.length - d), 1, d, { weight: this.#get('final_ln.gain'), bias: this.#get('final_ln.bias') }, EPS);
  }
}
