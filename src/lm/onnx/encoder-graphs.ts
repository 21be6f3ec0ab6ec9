/**
 * ONNX graphs for a BERT-style encoder, cut like the decoder's:
 *   embeddings:  input_ids, position_ids [B,T] -> hidden [B,T,H] (word + position + type 0, LayerNorm)
 *   block(a, n): hidden, attention_bias [B,1,T,T] -> hidden_{a+1..a+n}
 * There is no final norm (post-LN layers end normalized), so 'final' is the last layer.
 */
import type { EncoderConfig } from '../config.js';
import type { EncoderLayerWeights, EncoderWeights, Norm } from '../encoder-weights.js';
import { GraphBuilder } from './graph-builder.js';
import { linear, splitHeads, type Precision } from './ops.js';

function layerNorm(g: GraphBuilder, x: string, n: Norm, eps: number): string {
  const H = n.weight.length;
  return g.op('LayerNormalization', [x, g.floats('ln_w', n.weight, [H]), g.floats('ln_b', n.bias, [H])], { axis: -1, epsilon: { float: eps } });
}

function gelu(g: GraphBuilder, x: string): string {
  // the exact (erf) GELU of BERT: 0.5 x (1 + erf(x / sqrt 2))
  const erf = g.op('Erf', [g.op('Mul', [x, g.scalar('inv_sqrt2', Math.SQRT1_2)])]);
  return g.op('Mul', [g.op('Mul', [x, g.scalar('half', 0.5)]), g.op('Add', [erf, g.scalar('one', 1)])]);
}

function layer(g: GraphBuilder, c: EncoderConfig, w: EncoderLayerWeights, x: string, bias: string): string {
  const H = c.hidden;
  const hd = H / c.heads;
  const q = splitHeads(g, linear(g, x, w.q.weight, H, H, w.q.bias), c.heads, hd);
  const k = splitHeads(g, linear(g, x, w.k.weight, H, H, w.k.bias), c.heads, hd);
  const v = splitHeads(g, linear(g, x, w.v.weight, H, H, w.v.bias), c.heads, hd);
  const scores = g.op('Add', [
    g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.scalar('scale', 1 / Math.sqrt(hd))]),
    bias,
  ]);
  const context = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
  const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: [0, 2, 1, 3] }), g.ints('shape', [0, 0, H])]);
  const attn = layerNorm(g, g.op('Add', [linear(g, merged, w.attnOut.weight, H, H, w.attnOut.bias), x]), w.attnNorm, c.eps);
  const up = gelu(g, linear(g, attn, w.up.weight, c.intermediate, H, w.up.bias));
  return layerNorm(g, g.op('Add', [linear(g, up, w.down.weight, H, c.intermediate, w.down.bias), attn]), w.outNorm, c.eps);
}

function embed(g: GraphBuilder, c: EncoderConfig, w: EncoderWeights, ids: string, positions: string): string {
  const H = c.hidden;
  const sum = g.op('Add', [
    g.op('Add', [
      g.op('Gather', [g.floats('word', w.word, [c.vocab, H]), ids], { axis: 0 }),
      g.op('Gather', [g.floats('position', w.position, [c.maxPositions, H]), positions], { axis: 0 }),
    ]),
    g.floats('token_type0', w.tokenType.subarray(0, H), [H]),
  ]);
  return layerNorm(g, sum, w.embedNorm, c.eps);
}

function tokenInputs(g: GraphBuilder): { ids: string; positions: string } {
  return { ids: g.input('input_ids', 'int64', ['batch', 'tokens']), positions: g.input('position_ids', 'int64', ['batch', 'tokens']) };
}

export function encoderEmbeddingGraph(c: EncoderConfig, w: EncoderWeights): Uint8Array {
  const g = new GraphBuilder('embeddings', 'fp32');
  const { ids, positions } = tokenInputs(g);
  g.output(embed(g, c, w, ids, positions), 'hidden', 'float', ['batch', 'tokens', c.hidden]);
  return g.build();
}

/** Layers [first, first + count): the last layer's output, or every layer's (see blockGraph). */
export function encoderBlockGraph(
  c: EncoderConfig,
  w: EncoderWeights,
  first: number,
  count: number,
  precision: Precision = 'fp32',
  everyLayer = false,
): Uint8Array {
  const g = new GraphBuilder(`layers_${first}_${first + count}`, precision);
  let x = g.input('hidden', 'float', ['batch', 'tokens', c.hidden]);
  const bias = g.input('attention_bias', 'float', ['batch', 1, 'tokens', 'tokens']);
  for (let l = first; l < first + count; l++) {
    x = layer(g, c, w.layers[l]!, x, bias);
    if (everyLayer || l + 1 === first + count) g.output(x, `hidden_${l + 1}`, 'float', ['batch', 'tokens', c.hidden]);
  }
  return g.build();
}

/** The whole encoder as one graph: input_ids -> 'final'. The benchmark's baseline. */
export function encoderWholeGraph(c: EncoderConfig, w: EncoderWeights, precision: Precision = 'fp32'): Uint8Array {
  const g = new GraphBuilder('encoder', precision);
  const { ids, positions } = tokenInputs(g);
  const bias = g.input('attention_bias', 'float', ['batch', 1, 'tokens', 'tokens']);
  let x = embed(g, c, w, ids, positions);
  for (let l = 0; l < c.layers; l++) x = layer(g, c, w.layers[l]!, x, bias);
  g.output(x, 'final', 'float', ['batch', 'tokens', c.hidden]);
  return g.build();
}
