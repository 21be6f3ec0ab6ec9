/**
 * The item head's starting rows, from the model's own reading of each item's text: the final
 * (normalised) state at the text's last token, scaled to a common norm. Items whose texts read
 * alike start with alike rows, so the head generalises across items from the first step, and
 * an item rarely or never seen in training still gets a row that means something.
 */
import type { NativeLmTrainer } from '../addon/lm-trainer.js';
import type { BehaviourEncoder } from './behaviour-corpus.js';

/** Norm of each initial row relative to 1/‖h‖: logits start within a few units, softmax unsaturated. */
const ROW_SCALE = 4;

export async function initItemHeadFromText(trainer: NativeLmTrainer, encoder: BehaviourEncoder, threads?: number): Promise<void> {
  const info = trainer.info();
  const { bos } = encoder.options;
  const max = Math.max(2, encoder.options.maxTokens);
  const seqs = encoder.texts.map((text) => [bos, ...encoder.tokenizer.encode(text)].slice(0, max));
  const offsets = new Float64Array(seqs.length + 1);
  seqs.forEach((s, i) => (offsets[i + 1] = offsets[i]! + s.length));
  const tokens = Int32Array.from(seqs.flat());
  const hidden = await trainer.lastHidden({ tokens, offsets }, info.layers, { threads, context: max });
  const params = trainer.params();
  const layout = new Map(trainer.layout().map((t) => [t.name, t]));
  const gain = params.subarray(layout.get('model.norm.weight')!.offset, layout.get('model.norm.weight')!.offset + info.dim);
  const head = layout.get('item_head.weight')!;
  const d = info.dim;
  for (let i = 0; i < seqs.length; i++) {
    const x = hidden.subarray(i * d, (i + 1) * d);
    let ss = 0;
    for (const v of x) ss += v * v;
    const rstd = 1 / Math.sqrt(ss / d + info.normEps);
    const row = params.subarray(head.offset + i * d, head.offset + (i + 1) * d);
    let norm = 0;
    for (let j = 0; j < d; j++) {
      row[j] = x[j]! * rstd * gain[j]!;
      norm += row[j]! * row[j]!;
    }
    // A normalised state has norm about sqrt(d): rows of norm ROW_SCALE / sqrt(d) keep logits O(1).
    const scale = ROW_SCALE / Math.sqrt(d) / Math.max(Math.sqrt(norm), 1e-12);
    for (let j = 0; j < d; j++) row[j]! *= scale;
  }
  trainer.setParams(params);
}
