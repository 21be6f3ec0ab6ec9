// Trains lmrec's bundled default language model (models/default), reproducibly: the same
// WordNet, code and options give the same bytes. English text from WordNet 3.0's glosses
// (Debian's wordnet-base, under the WordNet licence: models/default/LICENSE-WORDNET.txt), a
// byte-level BPE tokenizer learned from it, and a small Llama-style decoder trained natively.
//
//   npm run make-default-model [-- --epochs N --threads N --resume]
//
// Needs `apt-get install wordnet-base` and the built package (npm run build; npm run build:native).
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { wordnetCorpus } from './wordnet-corpus.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const { trainTokenizer, tokenizerFiles } = await dist('lm/tokenizer-trainer.js');
const { tokenizerFromJson } = await dist('lm/tokenizer.js');
const { native } = await dist('addon/loader.js');
const { runTraining, loadCheckpoint } = await dist('pretrain/training-run.js');
const { exportModel } = await dist('pretrain/hf-model.js');
const { unigramPerplexity } = await dist('pretrain/behaviour-corpus.js');
const { LanguageModel } = await dist('lm/language-model.js');
const { writeFileAtomic } = await dist('util/atomic-file.js');

const { values: args } = parseArgs({
  options: {
    wordnet: { type: 'string', default: '/usr/share/wordnet' },
    out: { type: 'string', default: path.join(root, 'models', 'default') },
    epochs: { type: 'string', default: '1' },
    threads: { type: 'string' },
    resume: { type: 'boolean', default: false },
  },
});

// What the model is: kept small (a few MB in bf16) so it ships inside the npm package.
const SEED = 20261126;
const SHAPE = { dim: 256, layers: 4, heads: 8, kvHeads: 4, ffn: 704, maxPositions: 512, items: 0, seed: SEED };
const VOCAB = 4096;
const CONTEXT = 128;
const VALID_FRACTION = 0.02;
const TRAIN = { lr: 3e-3, warmupSteps: 100, batchTokens: 8192, context: CONTEXT, weightDecay: 0.1, seed: SEED };

if (!existsSync(path.join(args.wordnet, 'data.noun'))) {
  console.error(`no WordNet at ${args.wordnet}: install Debian's wordnet-base (apt-get install wordnet-base)`);
  process.exit(1);
}
const started = performance.now();
const corpusText = wordnetCorpus(args.wordnet, { shuffle: SEED });
const lines = corpusText.text.split('\n').filter((l) => l.length > 0);
const validCount = Math.round(lines.length * VALID_FRACTION);
const valid = lines.slice(0, validCount);
const train = lines.slice(validCount);
console.log(`corpus: ${lines.length} synsets (${corpusText.bytes} bytes); ${train.length} to train on, ${valid.length} held out`);

const trained = trainTokenizer(train, { vocabSize: VOCAB });
const files = tokenizerFiles(trained, { modelMaxLength: SHAPE.maxPositions });
const tokenizer = tokenizerFromJson(trained.json, JSON.parse(files['tokenizer_config.json']), 'the trained tokenizer');
const BOS = 0; // '<|endoftext|>' opens and closes every sequence
console.log(`tokenizer: ${trained.vocabSize} tokens, ${trained.merges} merges`);

function corpusOf(texts) {
  const seqs = texts.map((t) => [BOS, ...tokenizer.encode(t, false).slice(0, CONTEXT - 2), BOS]);
  const offsets = new Float64Array(seqs.length + 1);
  seqs.forEach((s, i) => (offsets[i + 1] = offsets[i] + s.length));
  const tokens = new Int32Array(offsets[seqs.length]);
  seqs.forEach((s, i) => tokens.set(s, offsets[i]));
  return { tokens, offsets };
}
const trainCorpus = corpusOf(train);
const validCorpus = corpusOf(valid);
const steps = Math.ceil((trainCorpus.tokens.length / TRAIN.batchTokens) * Number(args.epochs));
console.log(`${trainCorpus.tokens.length} training tokens: ${steps} steps of ${TRAIN.batchTokens}`);

const checkpoint = `${args.out}.checkpoint`;
let trainer = args.resume ? await loadCheckpoint(checkpoint) : undefined;
const resuming = trainer !== undefined;
trainer ??= new native.NativeLmTrainer({ vocab: trained.vocabSize, ...SHAPE });
const options = { ...TRAIN, totalSteps: steps, ...(args.threads ? { threads: Number(args.threads) } : {}) };
const bar = new cliProgress.SingleBar(
  { format: 'training [{bar}] {value}/{total} steps | loss {loss} | {tps} tokens/s | ETA {eta_formatted}', hideCursor: true },
  cliProgress.Presets.shades_classic,
);
bar.start(steps, trainer.info().step, { loss: '-', tps: '-' });
const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());
const run = await runTraining(trainer, trainCorpus, options, {
  checkpoint,
  signal: interrupt.signal,
  onProgress: (p) => bar.update(p.step, { loss: p.lmLoss.toFixed(3), tps: Math.round(p.tokensPerSecond) }),
}, resuming);
bar.stop();
if (run.stopReason === 'aborted') {
  console.log(`stopped at step ${run.steps}; continue with --resume`);
  process.exit(130);
}
const ev = await trainer.evaluate(validCorpus, {});
const perplexity = Math.exp(ev.lmLoss);
const unigram = unigramPerplexity(trainCorpus.tokens, validCorpus, trained.vocabSize);
exportModel(trainer, args.out, files, { bos: BOS, eos: BOS, steps: run.steps, trainedBy: 'npm run make-default-model' }, 'BF16');
const parameters = trainer.info().parameters;
trainer.close();
rmSync(checkpoint, { force: true });

// How related a few titles come out (mean-pooled states of the middle layer, cosine).
const lm = await LanguageModel.load(args.out);
const pairs = [['lip gloss', 'lipstick'], ['lip gloss', 'tractor'], ['running shoes', 'sneakers'], ['running shoes', 'violin'], ['coffee maker', 'espresso machine'], ['coffee maker', 'novel']];
const cos = [];
for (const [a, b] of pairs) {
  const [x, y] = await lm.encode([a, b], { layer: 2, pooling: 'mean', normalize: true });
  cos.push([a, b, x.reduce((s, v, i) => s + v * y[i], 0)]);
}
await lm.close();
const minutes = (performance.now() - started) / 60000;
const report = {
  shape: { vocab: trained.vocabSize, ...SHAPE },
  parameters,
  corpus: { synsets: lines.length, bytes: corpusText.bytes, trainTokens: trainCorpus.tokens.length, validTokens: ev.tokens },
  training: { ...options, steps: run.steps, seconds: run.seconds, tokensPerSecond: run.tokensPerSecond },
  validation: { perplexity, unigramPerplexity: unigram },
  similarity: cos.map(([a, b, c]) => ({ a, b, cosine: Number(c.toFixed(4)) })),
  minutes,
};
writeFileAtomic(path.join(args.out, 'training.json'), `${JSON.stringify(report, null, 1)}\n`);
copyFileSync(path.join(root, 'scripts', 'default-model', 'LICENSE-WORDNET.txt'), path.join(args.out, 'LICENSE-WORDNET.txt'));
writeFileAtomic(path.join(args.out, 'MODEL_CARD.md'), modelCard(report));
console.log(JSON.stringify(report, null, 1));

function modelCard(r) {
  const s = r.shape;
  return `# lmrec default language model

A small Llama-style decoder that lmrec ships so that a user without a model of their own still
starts from one that knows English: \`model: 'default'\` continues its pretraining on the
user's own item texts and behaviour.

- **Architecture**: Llama (RMSNorm, RoPE, grouped-query attention, SwiGLU, tied embeddings):
  ${s.layers} layers, width ${s.dim}, ${s.heads} heads (${s.kvHeads} key/value heads), SwiGLU ${s.ffn},
  vocabulary ${s.vocab} (byte-level BPE learned from the corpus), ${s.maxPositions} positions;
  ${(r.parameters / 1e6).toFixed(2)} M parameters, stored as bfloat16.
- **Data**: WordNet 3.0's synsets, one line each (lemmas, then the gloss with its examples):
  ${r.corpus.synsets} lines, ${(r.corpus.bytes / 1e6).toFixed(1)} MB, from Debian's \`wordnet-base\`.
  ${(VALID_FRACTION * 100).toFixed(0)}% of the lines (seeded shuffle) are held out.
- **Training**: lmrec's native trainer on the CPU, next-token loss, AdamW (lr ${r.training.lr},
  weight decay ${r.training.weightDecay}), ${r.training.warmupSteps} warm-up steps then cosine decay, batches of
  ${r.training.batchTokens} tokens, ${r.training.steps} steps (${Math.round(r.training.tokensPerSecond)} tokens/s,
  ${r.minutes.toFixed(1)} minutes for the whole script), seed ${r.training.seed}.
- **Held-out perplexity**: ${r.validation.perplexity.toFixed(1)} (a unigram model of the training tokens:
  ${r.validation.unigramPerplexity.toFixed(1)}).
- **Related titles** (cosine of mean-pooled layer-2 states):
${r.similarity.map((p) => `  - "${p.a}" / "${p.b}": ${p.cosine}`).join('\n')}
- **Reproduce**: \`apt-get install wordnet-base && npm run make-default-model\` (same bytes for
  the same WordNet and lmrec version). \`training.json\` holds every figure above.

## Licence

The training text is WordNet 3.0, © 2006 Princeton University, used under the WordNet 3.0
licence, which permits use, copying, modification and distribution for any purpose provided
its notice appears on all copies: it is in \`LICENSE-WORDNET.txt\` beside this card. The
weights are distributed with lmrec under its MIT licence, with that notice.

## Limits

It is a language model of dictionary English, not of any catalog: it knows that related words
are related, little else. Pretrain it on your items and behaviour (\`lmrec pretrain --model
default\`) before using its states or its item head for recommendations.
`;
}
