/**
 * The reference forward pass of a Llama-style decoder in plain TypeScript: slow and exact
 * (double accumulation), written to mirror the transformers implementation line by line. The
 * ONNX graphs are tested against it.
 */
import type { DecoderConfig } from '../../src/lm/config.js';
import type { DecoderLayerWeights, DecoderWeights } from '../../src/lm/decoder-weights.js';

export interface ReferenceOutput {
  /** Layer 0 = embeddings, layer l = output of decoder layer l (before the final norm); [T x hidden]. */
  layers: Float32Array[];
  /** After the final norm. */
  final: Float32Array;
}

/** out[t, o] = sum_i x[t, i] * w[o, i] (+ bias[o]) — a PyTorch Linear. */
export function linear(x: Float32Array, T: number, inDim: number, w: Float32Array, outDim: number, bias?: Float32Array): Float32Array {
  const out = new Float32Array(T * outDim);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < outDim; o++) {
      let s = bias ? bias[o]! : 0;
      const xo = t * inDim;
      const wo = o * inDim;
      for (let i = 0; i < inDim; i++) s += x[xo + i]! * w[wo + i]!;
      out[t * outDim + o] = s;
    }
  }
  return out;
}

export function rmsNorm(x: Float32Array, T: number, H: number, weight: Float32Array, eps: number): Float32Array {
  const out = new Float32Array(T * H);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < H; i++) ss += x[t * H + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / H + eps);
    for (let i = 0; i < H; i++) out[t * H + i] = weight[i]! * Math.fround(x[t * H + i]! * inv);
  }
  return out;
}

/** Rotary embedding, rotate-half convention, in place on [T x heads x headDim]. */
export function applyRope(x: Float32Array, T: number, heads: number, headDim: number, positions: number[], theta: number): void {
  const half = headDim / 2;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const invFreq = 1 / theta ** ((2 * i) / headDim);
      const angle = positions[t]! * Math.fround(invFreq);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const base = (t * heads + h) * headDim;
        const a = x[base + i]!;
        const b = x[base + i + half]!;
        x[base + i] = a * cos - b * sin;
        x[base + i + half] = b * cos + a * sin;
      }
    }
  }
}

function silu(v: number): number {
  return v / (1 + Math.exp(-v));
}

/**
 * `allowed(t, s)` says whether token t may attend to token s (default: causal, s <= t).
 * Late interaction passes a segment-local mask.
 */
export type AttentionMask = (t: number, s: number) => boolean;

function decoderLayer(
  x: Float32Array,
  T: number,
  c: DecoderConfig,
  w: DecoderLayerWeights,
  positions: number[],
  allowed: AttentionMask,
): Float32Array {
  const H = c.hidden;
  const hd = c.headDim;
  const group = c.heads / c.kvHeads;
  const h = rmsNorm(x, T, H, w.inputNorm, c.eps);
  const q = linear(h, T, H, w.q, c.heads * hd, w.qBias);
  const k = linear(h, T, H, w.k, c.kvHeads * hd, w.kBias);
  const v = linear(h, T, H, w.v, c.kvHeads * hd, w.vBias);
  applyRope(q, T, c.heads, hd, positions, c.ropeTheta);
  applyRope(k, T, c.kvHeads, hd, positions, c.ropeTheta);
  const attn = new Float32Array(T * c.heads * hd);
  const scale = 1 / Math.sqrt(hd);
  const scores = new Float64Array(T);
  for (let head = 0; head < c.heads; head++) {
    const kvHead = Math.floor(head / group);
    for (let t = 0; t < T; t++) {
      let max = -Infinity;
      for (let s = 0; s < T; s++) {
        if (!allowed(t, s)) {
          scores[s] = -Infinity;
          continue;
        }
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += q[(t * c.heads + head) * hd + i]! * k[(s * c.kvHeads + kvHead) * hd + i]!;
        scores[s] = dot * scale;
        max = Math.max(max, scores[s]!);
      }
      let sum = 0;
      for (let s = 0; s < T; s++) {
        scores[s] = scores[s] === -Infinity ? 0 : Math.exp(scores[s]! - max);
        sum += scores[s]!;
      }
      for (let i = 0; i < hd; i++) {
        let acc = 0;
        for (let s = 0; s < T; s++) if (scores[s]) acc += scores[s]! * v[(s * c.kvHeads + kvHead) * hd + i]!;
        attn[(t * c.heads + head) * hd + i] = acc / sum;
      }
    }
  }
  const o = linear(attn, T, c.heads * hd, w.o, H);
  const x1 = new Float32Array(T * H);
  for (let i = 0; i < x1.length; i++) x1[i] = x[i]! + o[i]!;
  const h2 = rmsNorm(x1, T, H, w.postNorm, c.eps);
  const gate = linear(h2, T, H, w.gate, c.intermediate);
  const up = linear(h2, T, H, w.up, c.intermediate);
  for (let i = 0; i < gate.length; i++) gate[i] = silu(gate[i]!) * up[i]!;
  const down = linear(gate, T, c.intermediate, w.down, H);
  for (let i = 0; i < x1.length; i++) x1[i] = x1[i]! + down[i]!;
  return x1;
}

export function decoderForward(
  c: DecoderConfig,
  w: DecoderWeights,
  ids: number[],
  options: { positions?: number[]; allowed?: AttentionMask } = {},
): ReferenceOutput {
  const T = ids.length;
  const H = c.hidden;
  const positions = options.positions ?? ids.map((_, i) => i);
  const allowed = options.allowed ?? ((t, s) => s <= t);
  let x: Float32Array = new Float32Array(T * H);
  ids.forEach((id, t) => x.set(w.embed.subarray(id * H, (id + 1) * H), t * H));
  const layers: Float32Array[] = [x];
  for (const layer of w.layers) {
    x = decoderLayer(x, T, c, layer, positions, allowed);
    layers.push(x);
  }
  return { layers, final: rmsNorm(x, T, H, w.finalNorm, c.eps) };
}

/** Logits of the last position: final · head^T. */
export function lastLogits(c: DecoderConfig, w: DecoderWeights, out: ReferenceOutput): Float32Array {
  const T = out.final.length / c.hidden;
  return linear(out.final.subarray((T - 1) * c.hidden), 1, c.hidden, w.head, c.vocab);
}
