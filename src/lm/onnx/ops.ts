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
  if (g.precision === 'int8') {
    // Activations are quantized to uint8 per call (per tensor), weights are int8 per output
    // channel: MLAS's u8 x s8 GEMM (VNNI where the CPU has it).
    // The bias rides along as the op's optional last input (no zero point: ''), sparing a
    // separate Add over the output.
    const q = quantizeColumns(w, outDim, inDim);
    const inputs = [x, g.int8s('wq', q.codes, [inDim, outDim]), g.floats('wscale', q.scales, [outDim])];
    if (bias) inputs.push('', g.floats('b', bias, [outDim]));
    return g.op('DynamicQuantizeMatMul', inputs, {}, undefined, 'com.microsoft');
  }
  const y = g.op('MatMul', [x, g.floats('w', transposed(w, outDim, inDim), [inDim, outDim])]);
  return bias ? g.op('Add', [y, g.floats('b', bias, [outDim])]) : y;
}

/**
 * gelu(x @ W^T + b) with the exact (erf) GELU, as onnxruntime's fused contrib kernels:
 * BiasGelu after an fp32 MatMul, Gelu after an int8 product that already added the bias.
 * (Written as Erf and Muls, the GELU took 3 ms of a 25 ms BERT-small run; onnxruntime's own
 * GELU fusion did not match that pattern.)
 */
export function linearGelu(g: GraphBuilder, x: string, w: Float32Array, outDim: number, inDim: number, bias: Float32Array): string {
  if (g.precision === 'int8') return g.op('Gelu', [linear(g, x, w, outDim, inDim, bias)], {}, undefined, 'com.microsoft');
  return g.op('BiasGelu', [linear(g, x, w, outDim, inDim), g.floats('b', bias, [outDim])], {}, undefined, 'com.microsoft');
}

/** [B,T,heads*hd] -> [B,heads,T,hd] */
export function splitHeads(g: GraphBuilder, x: string, heads: number, hd: number): string {
  return g.op('Transpose', [g.op('Reshape', [x, g.ints('shape', [0, 0, heads, hd])])], { perm: [0, 2, 1, 3] });
}


/** A block's place in the model, and whether it outputs every layer or only its last. */
export interface BlockSpan {
  first: number;
  count: number;
  everyLayer: boolean;
}

/**
 * A block's input: the previous block's states, or in the first block the embeddings it
 * computes itself (`hidden_0`, an output of the every-layer variant).
 */
export function blockInput(g: GraphBuilder, hidden: number, span: BlockSpan, embed: () => string): string {
  const shape = ['batch', 'tokens', hidden];
  if (span.first > 0) return g.input('hidden', 'float', shape);
  const x = embed();
  if (span.everyLayer) g.output(x, 'hidden_0', 'float', shape);
  return x;
}

/** Outputs layer l's states as `hidden_<l>` when the block outputs it: its last layer always. */
export function layerOutput(g: GraphBuilder, hidden: number, span: BlockSpan, l: number, value: string): void {
  if (span.everyLayer || l === span.first + span.count) g.output(value, `hidden_${l}`, 'float', ['batch', 'tokens', hidden]);
}
