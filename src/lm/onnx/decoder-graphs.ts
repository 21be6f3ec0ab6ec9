/**
 * ONNX graphs for a Llama-style decoder, built from its weights and cut into blocks of layers:
 *   block(a, n): hidden (or input_ids [B,T] for the first block, which embeds them),
 *                position_ids [B,T], attention_bias [B,1,T,T] -> hidden_{a+n}; the last block
 *                also -> final (after the last norm). With everyLayer, every hidden_{a..a+n}.
 *   head:        hidden -> final, logits [B,T,V]
 * The attention bias is additive (0 = may attend, MASKED = may not), so one graph serves
 * causal, padded and segment-local (late interaction) attention; positions are inputs too.
 * One block of every layer is the whole model: the benchmark's unsegmented baseline.
 */
import type { DecoderConfig } from '../config.js';
import type { DecoderLayerWeights, DecoderWeights } from '../decoder-weights.js';
import { GraphBuilder } from './graph-builder.js';
import { blockInput, layerOutput, linear, splitHeads, type Precision } from './ops.js';

function rmsNorm(g: GraphBuilder, x: string, weight: Float32Array, eps: number): string {
  const variance = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
  const norm = g.op('Div', [x, g.op('Sqrt', [g.op('Add', [variance, g.scalar('eps', eps)])])]);
  return g.op('Mul', [norm, g.floats('norm', weight, [weight.length])]);
}

function rotary(g: GraphBuilder, x: string, cos: string, sin: string, hd: number): string {
  const axis = g.ints('axis', [3]);
  const x1 = g.op('Slice', [x, g.ints('start', [0]), g.ints('end', [hd / 2]), axis]);
  const x2 = g.op('Slice', [x, g.ints('start', [hd / 2]), g.ints('end', [hd]), axis]);
  const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: 3 });
  return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
}

function layer(g: GraphBuilder, c: DecoderConfig, w: DecoderLayerWeights, x: string, cos: string, sin: string, bias: string): string {
  const H = c.hidden;
  const hd = c.headDim;
  const group = c.heads / c.kvHeads;
  const h = rmsNorm(g, x, w.inputNorm, c.eps);
  const q = rotary(g, splitHeads(g, linear(g, h, w.q, c.heads * hd, H, w.qBias), c.heads, hd), cos, sin, hd);
  let k = rotary(g, splitHeads(g, linear(g, h, w.k, c.kvHeads * hd, H, w.kBias), c.kvHeads, hd), cos, sin, hd);
  let v = splitHeads(g, linear(g, h, w.v, c.kvHeads * hd, H, w.vBias), c.kvHeads, hd);
  if (group > 1) {
    // grouped-query attention: each key/value head serves `group` query heads
    const repeat = (t: string) =>
      g.op('Reshape', [
        g.op('Expand', [g.op('Unsqueeze', [t, g.ints('axes', [2])]), g.ints('shape', [1, 1, group, 1, 1])]),
        g.ints('shape', [0, c.heads, -1, hd]),
      ]);
    k = repeat(k);
    v = repeat(v);
  }
  const scores = g.op('Add', [
    g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.scalar('scale', 1 / Math.sqrt(hd))]),
    bias,
  ]);
  const context = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
  const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: [0, 2, 1, 3] }), g.ints('shape', [0, 0, c.heads * hd])]);
  const x1 = g.op('Add', [x, linear(g, merged, w.o, H, c.heads * hd)]);
  const h2 = rmsNorm(g, x1, w.postNorm, c.eps);
  const gate = linear(g, h2, w.gate, c.intermediate, H);
  const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), linear(g, h2, w.up, c.intermediate, H)]);
  return g.op('Add', [x1, linear(g, act, w.down, H, c.intermediate)]);
}

function embed(g: GraphBuilder, c: DecoderConfig, w: DecoderWeights, ids: string): string {
  return g.op('Gather', [g.floats('embed', w.embed, [c.vocab, c.hidden]), ids], { axis: 0 });
}

/**
 * Appends layers [first, first + count) to g; `each` sees every layer's output. The rotary
 * cos/sin are computed once for all of them (in fp32, as transformers does).
 */
function appendLayers(
  g: GraphBuilder,
  c: DecoderConfig,
  w: DecoderWeights,
  x: string,
  positions: string,
  bias: string,
  first: number,
  count: number,
  each: (layer: number, value: string) => void = () => {},
): string {
  const half = c.headDim / 2;
  const invFreq = Float32Array.from({ length: half }, (_, i) => 1 / c.ropeTheta ** ((2 * i) / c.headDim));
  const freqs = g.op('Mul', [
    g.op('Unsqueeze', [g.op('Cast', [positions], { to: 1 }), g.ints('axes', [-1])]),
    g.floats('inv_freq', invFreq, [half]),
  ]);
  const angles = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.ints('axes', [1])]);
  const cos = g.op('Cos', [angles]);
  const sin = g.op('Sin', [angles]);
  for (let l = first; l < first + count; l++) {
    x = layer(g, c, w.layers[l]!, x, cos, sin, bias);
    each(l + 1, x);
  }
  return x;
}

function blockInputs(g: GraphBuilder): { positions: string; bias: string } {
  return {
    positions: g.input('position_ids', 'int64', ['batch', 'tokens']),
    bias: g.input('attention_bias', 'float', ['batch', 1, 'tokens', 'tokens']),
  };
}

/**
 * Layers [first, first + count). Outputs `hidden_<first + count>`, and `final` when the block
 * ends the model; with everyLayer also every `hidden_<l>` before it (from `hidden_0`, the
 * embeddings, in the first block). Inner outputs cost speed, not just copies: onnxruntime
 * does not fuse across a node whose result is a graph output (the residual Add into the next
 * layer's norm), which made int8 blocks ~10% slower. The first block embeds the tokens itself
 * and the last applies the final norm, so a model in one block is exactly the whole graph.
 */
export function blockGraph(
  c: DecoderConfig,
  w: DecoderWeights,
  first: number,
  count: number,
  precision: Precision = 'fp32',
  everyLayer = false,
): Uint8Array {
  const g = new GraphBuilder(`layers_${first}_${first + count}`, precision);
  const span = { first, count, everyLayer };
  const x = blockInput(g, c.hidden, span, () => embed(g, c, w, g.input('input_ids', 'int64', ['batch', 'tokens'])));
  const { positions, bias } = blockInputs(g);
  const last = appendLayers(g, c, w, x, positions, bias, first, count, (l, value) => layerOutput(g, c.hidden, span, l, value));
  if (first + count === c.layers) g.output(rmsNorm(g, last, w.finalNorm, c.eps), 'final', 'float', ['batch', 'tokens', c.hidden]);
  return g.build();
}

/** The final norm and the LM head, from the last layer's states (logits are costly: own graph). */
export function headGraph(c: DecoderConfig, w: DecoderWeights, precision: Precision = 'fp32'): Uint8Array {
  const g = new GraphBuilder('head', precision);
  const final = rmsNorm(g, g.input('hidden', 'float', ['batch', 'tokens', c.hidden]), w.finalNorm, c.eps);
  g.output(final, 'final', 'float', ['batch', 'tokens', c.hidden]);
  g.output(linear(g, final, w.head, c.vocab, c.hidden), 'logits', 'float', ['batch', 'tokens', c.vocab]);
  return g.build();
}
