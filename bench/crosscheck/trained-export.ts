/**
 * Trains tiny models with lmrec's native trainer (a few steps, so the weights are not their
 * initial values), exports them as Hugging Face directories, and writes the trainer's own
 * logits beside each as expected.json, for bench/crosscheck/trained_export.py to compare
 * against transformers:  npx tsx bench/crosscheck/trained-export.ts OUT
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tokenizerFiles, trainTokenizer } from '../../src/lm/tokenizer-trainer.js';
import { tokenizerFromJson } from '../../src/lm/tokenizer.js';
import { native } from '../../src/addon/loader.js';
import { exportModel } from '../../src/pretrain/hf-model.js';
import { Random } from '../../src/util/random.js';

const out = process.argv[2];
if (!out) throw new Error('usage: trained-export.ts OUT');
const texts = ['lipstick: makeup that is used to color the lips', 'lip gloss: a cosmetic for the lips', 'tractor: a wheeled vehicle with large wheels', 'violin: bowed stringed instrument'];
const trained = trainTokenizer(texts.flatMap((t) => [t, t.toUpperCase()]), { vocabSize: 300, allowSmaller: true });
const files = tokenizerFiles(trained, { modelMaxLength: 64 });
const tokenizer = tokenizerFromJson(trained.json, JSON.parse(files['tokenizer_config.json']) as object, 'trained');
const cases = {
  'gqa-tied': { dim: 32, layers: 3, heads: 4, kvHeads: 2, ffn: 72, tied: true },
  'mha-untied': { dim: 48, layers: 2, heads: 4, kvHeads: 4, ffn: 96, tied: false },
};
const rng = new Random(5);
for (const [name, shape] of Object.entries(cases)) {
  const t = new native.NativeLmTrainer({ vocab: trained.vocabSize, maxPositions: 64, ropeTheta: 10000, seed: 3, ...shape });
  const seqs = texts.map((x) => [0, ...tokenizer.encode(x, false), 0]);
  const offsets = new Float64Array(seqs.length + 1);
  seqs.forEach((s, i) => (offsets[i + 1] = offsets[i]! + s.length));
  t.setCorpus({ tokens: Int32Array.from(seqs.flat()), offsets }, { totalSteps: 20, warmupSteps: 2, lr: 1e-2, batchTokens: 512, context: 64 }, false);
  await t.train(20);
  const dir = path.join(out, name);
  exportModel(t, dir, files, { bos: 0, eos: 0, steps: 20, trainedBy: 'bench/crosscheck/trained-export.ts' });
  const inputs = [seqs[0]!, Array.from({ length: 40 }, () => rng.int(trained.vocabSize))];
  const expected = {
    text: texts[1],
    textTokens: tokenizer.encode(texts[1]!, false),
    cases: inputs.map((tokens) => ({ tokens, logits: Array.from(t.logits(Int32Array.from(tokens))) })),
  };
  writeFileSync(path.join(dir, 'expected.json'), JSON.stringify(expected));
  t.close();
}
console.log(`wrote ${Object.keys(cases).join(', ')} under ${out}`);
