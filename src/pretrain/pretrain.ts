/**
 * `pretrain()`: lmrec's own language model for a catalog. Each user's history is written as
 * text (item texts, oldest first; the last two events held out as in the evaluation), and a
 * small Llama-style decoder learns it natively on the CPU: next-token loss plus an item head
 * that predicts the next item at the end of each event. It starts from the bundled default
 * model ('default'), from any Llama-style model directory, or from scratch with a tokenizer
 * trained on the item texts. The result is a Hugging Face directory every part of lmrec loads.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { parseOptions } from '../util/options.js';
import type { Metrics } from '../eval/leave-one-out.js';
import { tokenizerFromJson, type TextTokenizer } from '../lm/tokenizer.js';
import { tokenizerFiles, trainTokenizer, type TokenizerFiles } from '../lm/tokenizer-trainer.js';
import { native, packageRoot, type NativeLmTrainer, type NativeLmTrainOptions } from '../native.js';
import { heldOutCorpus, trainingCorpus, unigramPerplexity } from './behaviour-corpus.js';
import { behaviourEncoder, itemHeadMetrics, itemIds, readBehaviour } from './behaviour-data.js';
import { exportModel, fillParams, importModel } from './hf-model.js';
import { initItemHeadFromText } from './item-head-init.js';
import { loadCheckpoint, runTraining, type TrainingProgress, type TrainingStopReason } from './training-run.js';

/** The model `model: 'default'` names: trained on WordNet's glosses by `npm run make-default-model`. */
export const DEFAULT_MODEL_DIR = path.join(packageRoot, 'models', 'default');

export interface PretrainOptions {
  /** Catalog (`id` plus text fields) and interactions (`user`, `item`, optional `ts`): .jsonl or .csv. */
  items: string;
  events: string;
  /** The model directory to write. */
  out: string;
  /** 'default' (the bundled model), a Llama-style model directory, or absent: a new model. */
  model?: string | undefined;
  /** A new model's shape (defaults: 256 wide, 4 layers, 8 heads, 4 key/value heads, SwiGLU 704). */
  dim?: number | undefined;
  layers?: number | undefined;
  heads?: number | undefined;
  kvHeads?: number | undefined;
  ffn?: number | undefined;
  /** A new model's vocabulary, learned from the item texts (default 4096). */
  vocabSize?: number | undefined;
  /** How an item reads, e.g. '{title} ({category})' (default: the title, else every field). */
  template?: string | undefined;
  /** Written between events (default '\n'). */
  separator?: string | undefined;
  /** Most tokens of a history's text; older events are dropped (default 256). */
  context?: number | undefined;
  /** Passes over the training text (default 1), or an exact number of steps. */
  epochs?: number | undefined;
  steps?: number | undefined;
  /** Time budget in seconds; the schedule is fitted to it. */
  budgetSeconds?: number | undefined;
  lr?: number | undefined;
  warmupSteps?: number | undefined;
  batchTokens?: number | undefined;
  /** Weight of the next-item loss beside the next-token loss (default 1). */
  itemWeight?: number | undefined;
  /**
   * The item head's starting rows: 'text' (default), each item's own text as the model reads
   * it (the final state at its last token), or 'random'.
   */
  itemHeadInit?: 'text' | 'random' | undefined;
  /** Train only the layers from this one up (the embedding and the layers below stay as they are). */
  freezeLayers?: number | undefined;
  seed?: number | undefined;
  threads?: number | undefined;
  /** Checkpoint file (default `<out>.checkpoint`), written every checkpointEverySeconds (default 60). */
  checkpoint?: string | undefined;
  checkpointEverySeconds?: number | undefined;
  /** Continue from the checkpoint when there is one (same data and options). */
  resume?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: TrainingProgress) => void) | undefined;
}

export interface PretrainReport {
  out: string;
  stopReason: TrainingStopReason;
  steps: number;
  totalSteps: number;
  seconds: number;
  tokensPerSecond: number;
  parameters: number;
  corpus: { sequences: number; tokens: number; droppedEvents: number; truncatedEvents: number; vocab: number };
  /** Perplexity of the held-out (validation) events given their histories, and a unigram model's on the same tokens. */
  validation: { perplexity: number; unigramPerplexity: number; tokens: number };
  /** The item head's leave-one-out metrics (full ranking, history masked). */
  itemHead: { valid: Metrics; test: Metrics };
}

const positiveInt = z.number().int().positive();
const optionsSchema = z.strictObject({
  items: z.string().min(1),
  events: z.string().min(1),
  out: z.string().min(1),
  model: z.string().min(1).optional(),
  dim: positiveInt.optional(),
  layers: positiveInt.optional(),
  heads: positiveInt.optional(),
  kvHeads: positiveInt.optional(),
  ffn: positiveInt.optional(),
  vocabSize: positiveInt.optional(),
  template: z.string().optional(),
  separator: z.string().optional(),
  context: z.number().int().min(3).optional(),
  epochs: z.number().positive().optional(),
  steps: positiveInt.optional(),
  budgetSeconds: z.number().positive().optional(),
  lr: z.number().positive().optional(),
  warmupSteps: z.number().int().nonnegative().optional(),
  batchTokens: positiveInt.optional(),
  itemWeight: z.number().nonnegative().optional(),
  freezeLayers: z.number().int().nonnegative().optional(),
  itemHeadInit: z.enum(['text', 'random']).optional(),
  seed: z.number().int().nonnegative().optional(),
  threads: positiveInt.optional(),
  checkpoint: z.string().min(1).optional(),
  checkpointEverySeconds: z.number().positive().optional(),
  resume: z.boolean().optional(),
  signal: z.instanceof(AbortSignal).optional(),
  onProgress: z.custom<(p: TrainingProgress) => void>((v) => typeof v === 'function', 'a function').optional(),
});

/** The tokenizer, BOS/EOS and starting weights: from a model directory, or new. */
interface Start {
  tokenizer: TextTokenizer;
  files: TokenizerFiles;
  bos: number;
  eos: number;
  trainer: NativeLmTrainer;
  from: string;
}

function startFromModel(dir: string, items: number, o: z.infer<typeof optionsSchema>): Start {
  const m = importModel(dir);
  const tokenizer = tokenizerFromJson(JSON.parse(m.tokenizer['tokenizer.json']) as object, JSON.parse(m.tokenizer['tokenizer_config.json']) as object, dir);
  const { bos, eos } = m;
  const trainer = new native.NativeLmTrainer({ ...m.shape, items, auxHeads: 0, seed: o.seed ?? 1 });
  // An item head trained on another catalog means nothing here: it starts afresh.
  const tensors = new Map([...m.tensors].filter(([name]) => !name.startsWith('item_head.') && !name.startsWith('aux_item_heads.')));
  trainer.setParams(fillParams(trainer, tensors, trainer.params()));
  return { tokenizer, files: m.tokenizer, bos, eos, trainer, from: dir };
}

function startFromScratch(texts: string[], items: number, o: z.infer<typeof optionsSchema>): Start {
  const trained = trainTokenizer(texts, { vocabSize: o.vocabSize ?? 4096 });
  const files = tokenizerFiles(trained, { modelMaxLength: Math.max(512, o.context ?? 256) });
  const tokenizer = tokenizerFromJson(trained.json, JSON.parse(files['tokenizer_config.json']) as object, 'the trained tokenizer');
  const dim = o.dim ?? 256;
  const trainer = new native.NativeLmTrainer({
    vocab: trained.vocabSize,
    dim,
    layers: o.layers ?? 4,
    heads: o.heads ?? 8,
    kvHeads: o.kvHeads ?? 4,
    ffn: o.ffn ?? Math.round((dim * 8) / 3 / 16) * 16 + (dim === 256 ? 16 : 0),
    maxPositions: Math.max(512, o.context ?? 256),
    items,
    seed: o.seed ?? 1,
  });
  return { tokenizer, files, bos: 0, eos: 0, trainer, from: 'scratch' };
}

export async function pretrain(options: PretrainOptions): Promise<PretrainReport> {
  const o = parseOptions(optionsSchema, options, 'pretrain');
  const data = await readBehaviour(o.items, o.events, o.template);
  const checkpoint = o.checkpoint ?? `${o.out}.checkpoint`;
  const modelDir = o.model === 'default' ? DEFAULT_MODEL_DIR : o.model;
  const start = modelDir ? startFromModel(modelDir, data.catalog.size, o) : startFromScratch(data.texts, data.catalog.size, o);
  const context = o.context ?? 256;
  const encoder = behaviourEncoder(data, start.tokenizer, { bos: start.bos, eos: start.eos, context, separator: o.separator });
  const corpus = trainingCorpus(data.split.train, encoder);
  const batchTokens = o.batchTokens ?? 8192;
  const epochSteps = Math.ceil(corpus.tokens.length / batchTokens);
  const budgetOnly = o.budgetSeconds !== undefined && o.epochs === undefined && o.steps === undefined;
  const trainOptions: NativeLmTrainOptions = {
    lr: o.lr ?? 3e-3,
    warmupSteps: o.warmupSteps ?? Math.min(100, Math.ceil(epochSteps / 10)),
    totalSteps: o.steps ?? (budgetOnly ? 1e9 : Math.max(1, Math.ceil(epochSteps * (o.epochs ?? 1)))),
    batchTokens,
    context,
    itemWeight: o.itemWeight ?? 1,
    freezeLayers: o.freezeLayers ?? 0,
    seed: o.seed ?? 1,
    threads: o.threads,
  };
  if ((o.itemHeadInit ?? 'text') === 'text') await initItemHeadFromText(start.trainer, encoder, o.threads);
  const { trainer, resuming } = await resumeOrStart(start.trainer, checkpoint, o.resume, trainOptions, o.threads);
  try {
    const run = await runTraining(trainer, corpus, trainOptions, {
      checkpoint,
      checkpointEverySeconds: o.checkpointEverySeconds,
      signal: o.signal,
      maxSeconds: o.budgetSeconds,
      onProgress: o.onProgress,
    }, resuming);
    const held = heldOutCorpus(data.split.valid, encoder);
    const vocab = trainer.info().vocab;
    const ev = await trainer.evaluate(held, { threads: o.threads });
    const itemHead = await itemHeadMetrics(trainer, data, encoder, o.threads);
    exportModel(trainer, o.out, start.files, {
      items: itemIds(data),
      template: data.template,
      separator: encoder.options.separator ?? '\n',
      context,
      bos: start.bos,
      eos: start.eos,
      steps: run.steps,
      trainedBy: `lmrec pretrain (from ${start.from === 'scratch' ? 'scratch' : path.basename(start.from)})`,
    });
    if (run.stopReason !== 'aborted') rmSync(checkpoint, { force: true });
    return {
      out: o.out,
      stopReason: run.stopReason,
      steps: run.steps,
      totalSteps: run.totalSteps,
      seconds: run.seconds,
      tokensPerSecond: run.tokensPerSecond,
      parameters: trainer.info().parameters,
      corpus: {
        sequences: corpus.offsets.length - 1,
        tokens: corpus.tokens.length,
        droppedEvents: corpus.source.droppedEvents,
        truncatedEvents: corpus.source.truncatedEvents,
        vocab,
      },
      validation: { perplexity: Math.exp(ev.lmLoss), unigramPerplexity: unigramPerplexity(corpus.tokens, held, vocab), tokens: ev.tokens },
      itemHead,
    };
  } finally {
    trainer.close();
  }
}

/**
 * The trainer to run: the checkpoint's when resuming from one (its options then replace
 * `options`, threads aside, since the batches of a step depend on them), else `fresh`.
 */
export async function resumeOrStart(
  fresh: NativeLmTrainer,
  checkpoint: string,
  resume: boolean | undefined,
  options: NativeLmTrainOptions,
  threads: number | undefined,
): Promise<{ trainer: NativeLmTrainer; resuming: boolean }> {
  if (!resume) return { trainer: fresh, resuming: false };
  const saved = await loadCheckpoint(checkpoint);
  if (!saved) return { trainer: fresh, resuming: false };
  fresh.close();
  Object.assign(options, saved.info().options, { threads });
  return { trainer: saved, resuming: true };
}
