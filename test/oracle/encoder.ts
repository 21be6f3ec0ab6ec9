/**
 * The reference forward pass of a BERT-style encoder in plain TypeScript (post-LayerNorm,
 * erf GELU, bidirectional attention), mirroring transformers' BertModel; token type 0.
 */
import type { EncoderConfig } from '../../src/lm/config.js';
import type { EncoderLayerWeights, EncoderWeights, Norm } from '../../src/lm/encoder-weights.js';
import { linear, type ReferenceOutput } from './decoder.js';

export function layerNorm(x: Float32Array, T: number, H: number, n: Norm, eps: number): Float32Array {
  const out = new Float32Array(T * H);
  for (let t = 0; t < T; t++) {
    let mean = 0;
    for (let i = 0; i < H; i++) mean += x[t * H + i]!;
    mean /= H;
    let variance = 0;
    for (let i = 0; i < H; i++) variance += (x[t * H + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / H + eps);
    for (let i = 0; i < H; i++) out[t * H + i] = (x[t * H + i]! - mean) * inv * n.weight[i]! + n.bias[i]!;
  }
  return out;
}

/** erf to ~1e-12: the Maclaurin series near 0, a continued fraction for erfc beyond. */
function erf(x: number): number {
  const sign = Math.sign(x);
  const a = Math.abs(x);
  if (a < 2.5) {
    // Maclaurin series
    let sum = 0;
    let term = a;
    for (let n = 0; n < 60; n++) {
      sum += term / (2 * n + 1);
      term *= (-a * a) / (n + 1);
      if (Math.abs(term) < 1e-17) break;
    }
    return (sign * 2 * sum) / Math.sqrt(Math.PI);
  }
  // continued fraction for erfc
  let f = 0;
  for (let k = 60; k >= 1; k--) f = k / 2 / (a + f);
  return sign * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f));
}

function gelu(v: number): number {
  return 0.5 * v * (1 + erf(v / Math.SQRT2));
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  return Float32Array.from(a, (v, i) => v + b[i]!);
}

function encoderLayer(x: Float32Array, T: number, c: EncoderConfig, w: EncoderLayerWeights): Float32Array {
  const H = c.hidden;
  const hd = H / c.heads;
  const q = linear(x, T, H, w.q.weight, H, w.q.bias);
  const k = linear(x, T, H, w.k.weight, H, w.k.bias);
  const v = linear(x, T, H, w.v.weight, H, w.v.bias);
  const context = new Float32Array(T * H);
  const scores = new Float64Array(T);
  for (let h = 0; h < c.heads; h++) {
    for (let t = 0; t < T; t++) {
      let max = -Infinity;
      for (let s = 0; s < T; s++) {
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += q[t * H + h * hd + i]! * k[s * H + h * hd + i]!;
        scores[s] = dot / Math.sqrt(hd);
        max = Math.max(max, scores[s]!);
      }
      let sum = 0;
      for (let s = 0; s < T; s++) sum += scores[s] = Math.exp(scores[s]! - max);
      for (let i = 0; i < hd; i++) {
        let acc = 0;
        for (let s = 0; s < T; s++) acc += scores[s]! * v[s * H + h * hd + i]!;
        context[t * H + h * hd + i] = acc / sum;
      }
    }
  }
  const attn = layerNorm(add(linear(context, T, H, w.attnOut.weight, H, w.attnOut.bias), x), T, H, w.attnNorm, c.eps);
  const up = linear(attn, T, H, w.up.weight, c.intermediate, w.up.bias).map(gelu);
  return layerNorm(add(linear(up, T, c.intermediate, w.down.weight, H, w.down.bias), attn), T, H, w.outNorm, c.eps);
}

/** Layer 0 = embeddings (after their LayerNorm), layer l = output of layer l; final = the last layer. */
export function encoderForward(c: EncoderConfig, w: EncoderWeights, ids: number[]): ReferenceOutput {
  const T = ids.length;
  const H = c.hidden;
  const x = new Float32Array(T * H);
  ids.forEach((id, t) => {
    for (let i = 0; i < H; i++) x[t * H + i] = w.word[id * H + i]! + w.position[t * H + i]! + w.tokenType[i]!;
  });
  let h = layerNorm(x, T, H, w.embedNorm, c.eps);
  const layers: Float32Array[] = [h];
  for (const layer of w.layers) {
    h = encoderLayer(h, T, c, layer);
    layers.push(h);
  }
  return { layers, final: h };
}
