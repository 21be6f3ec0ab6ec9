/** Graph pieces both model families use. */
import { GraphBuilder } from './graph-builder.js';

/** Added to the scores of pairs that may not attend (finite, so a fully masked row stays finite). */
export const MASKED = -1e30;

export function transposed(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

/** Weight precision of the matrix multiplications; norms, attention and RoPE stay fp32. */
export type Precision = 'fp32' | 'int8';

/**
 * W [out, in] as int8 W^T [in, out] with one symmetric scale per output channel (what
 * DynamicQuantizeMatMul takes).
 */
export function quantizeColumns(w: Float32Array, outDim: number, inDim: number): { codes: Int8Array; scales: Float32Array } {
  const codes = new Int8Array(inDim * outDim);
  const scales = new Float32Array(outDim);
  for (let o = 0; o < outDim; o++) {
    let max = 0;
    for (let i = 0; i < inDim; i++) max = Math.max(max, Math.abs(w[o * inDim + i]!));
    const scale = max > 0 ? max / 127 : 1;
    scales[o] = scale;
    for (let i = 0; i < inDim; i++) codes[i * outDim + o] = Math.max(-127, Math.min(127, Math.round(w[o * inDim + i]! / scale)));
  }
  return { codes, scales };
}

/** x @ W^T (+ b) for a PyTorch Linear weight W of [out, in]. */
export function linear(g: GraphBuilder, x: string, w: Float32Array, outDim: number, inDim: number, bias?: Float32Array): string {
  let y: string;
  if (g.precision === 'int8') {
    // Activations are quantized to uint8 per call (per tensor), weights are int8 per output
    // channel: MLAS's u8 x s8 GEMM (VNNI where the CPU has it).
    const q = quantizeColumns(w, outDim, inDim);
    y = g.op(
      'DynamicQuantizeMatMul',
      [x, g.int8s('wq', q.codes, [inDim, outDim]), g.floats('wscale', q.scales, [outDim])],
      {},
      undefined,
      'com.microsoft',
    );
  } else {
    y = g.op('MatMul', [x, g.floats('w', transposed(w, outDim, inDim), [inDim, outDim])]);
  }
  return bias ? g.op('Add', [y, g.floats('b', bias, [outDim])]) : y;
}

/** [B,T,heads*hd] -> [B,heads,T,hd] */
export function splitHeads(g: GraphBuilder, x: string, heads: number, hd: number): string {
  return g.op('Transpose', [g.op('Reshape', [x, g.ints('shape', [0, 0, heads, hd])])], { perm: [0, 2, 1, 3] });
}

