/** How much memory one run of the graphs takes, so requests can be bounded before they run. */
import type { ModelConfig } from './config.js';

/** The shape of one run: `batch` sequences right-padded to `tokens`. */
export interface RunShape {
  batch: number;
  tokens: number;
  /** Layers' states copied out of onnxruntime and held until the call returns. */
  outputs: number;
}

// fp32 tensors alive at once inside one layer. onnxruntime holds two score-sized ones (the
// masked scores and their softmax); the third covers the allocator keeping freed ones of a
// few MB instead of returning them.
const SCORE_COPIES = 3;
const HIDDEN_COPIES = 12;
const MLP_COPIES = 4;

/**
 * Estimated peak bytes one run adds to a loaded model (the weights are not counted). Layers
 * run one after another, so the peak is one layer's working set plus what the whole run
 * holds; all tensors are fp32 (4 bytes), B = batch, T = tokens:
 * - the additive attention bias, B·T·T, built once and read by every layer;
 * - attention scores of one layer, 3 x B·heads·T·T: the term that grows with the square of
 *   the length;
 * - one layer's activations: B·T·max(hidden, heads·headDim) times 12 (norms, q/k/v, rotary
 *   halves, the grouped-query copies of k/v, the context, residuals) and B·T·intermediate
 *   times 4 (gate, its sigmoid, up, their product);
 * - token ids and positions (int64), and the states copied out, B·T·hidden each.
 * Against the peak RSS of runs of tiny to BERT-small shapes (1-64 sequences of 64-2,048
 * tokens, fp32 and int8) the measured growth was 0.4-1.6x this estimate: a bound for
 * requests, not an exact count. Over many runs the C allocator keeps some freed blocks per
 * thread; test/lm-bounds.test.ts holds a split encode under 2.5x the budget (1.4-1.8x seen).
 */
export function runBytes(c: ModelConfig, { batch: B, tokens: T, outputs }: RunShape): number {
  const heads = c.heads;
  const width = Math.max(c.hidden, c.family === 'decoder' ? c.heads * c.headDim : c.hidden);
  const floats =
    B * T * T +
    SCORE_COPIES * B * heads * T * T +
    B * T * (HIDDEN_COPIES * width + MLP_COPIES * c.intermediate) +
    B * T * 4 + // int64 ids and positions, in float-sized units
    outputs * B * T * c.hidden;
  return 4 * floats;
}
