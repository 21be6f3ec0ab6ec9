/**
 * `pretrain()`: lmrec's own language model for a catalog. Each user's history is written as
 * text (item texts, oldest first; the last two events held out as in the evaluation), and a
 * small Llama-style decoder learns it natively on the CPU: next-token loss plus an item head
 * that predicts the next item at the end of each event. It starts from the bundled default
 * model ('default'), from any Llama-style model directory, or from scratch with a tokenizer
 * trained on the item texts. The result is a Hugging Face directory every part of lmrec loads.
 */
import path from 'node:path';
import { z } from 'zod';
import type { Metrics } from '../eval/leave-one-out.js';
import { tokenizerFromJson, type TextTokenizer } from '../lm/tokenizer.js';
import { tokenizerFiles, trainTokenizer, type TokenizerFiles } from '../lm/tokenizer-trainer.js';
import { DEFAULT_MODEL_DIR } from '../lm/default-model.js';
import { native } from '../addon/loader.js';
import type { NativeLmTrainer, NativeLmTrainOptions } from '../addon/lm-trainer.js';
import { parseOptions } from '../util/options.js';
import { heldOutCorpus, trainingCorpus, unigramPerplexity } from './behaviour-corpus.js';
import { behaviourEncoder, headFitsCatalog, readBehaviour, type BehaviourData } from './behaviour-data.js';
import { behaviourTrainingShape, schedule, trainBehaviourModel, type TrainingLimits } from './behaviour-training.js';
import { fillParams, importModel, isItemHead, type ImportedModel } from './hf-model.js';
import { initItemHeadFromText } from './item-head-init.js';
import type { TrainingStopReason } from './training-run.js';


/**
 * The next-item loss's weight beside the next-token loss. Measured on the synthetic catalog
 * (500 items, 600 users, 6 epochs from the default model): test NDCG@10 0.33 at weight 1, 0.40
 * at 4, while held-out perplexity stays far below a unigram model's (6.0 and 9.1 against 77).
 */
const DEFAULT_ITEM_WEIGHT = 4;

export interface PretrainOptions extends TrainingLimits {
  /** Catalog (`id` plus text fields) and interactions (`user`, `item`, optional `ts`): .jsonl or .csv. */
  items: string;
  /** The interactions file (see `items`). */
  events: string;
  /** The model directory to write. */
  out: string;
  /** 'default' (the bundled model), a Llama-style model directory, or absent: a new model. */
  model?: string | undefined;
  /** A new model's shape (defaults: 256 wide, 4 layers, 8 heads, 4 key/value heads, SwiGLU 704). */
  dim?: number | undefined;
  /** A new model's decoder layers (default 4). */
  layers?: number | undefined;
  /** A new model's attention heads (default 8). */
  heads?: number | undefined;
  /** A new model's key/value heads, for grouped-query attention (default 4). */
  kvHeads?: number | undefined;
  /** A new model's SwiGLU hidden width (default about 8/3 of dim, rounded to 16: 704 at 256). */
  ffn?: number | undefined;
  /** A new model's vocabulary, learned from the item texts (default 4096). */
  vocabSize?: number | undefined;
  /**
   * How an item reads, e.g. '{title} ({category})' (default: the title, else every field).
   * Template, separator and context default to the starting model's when it was trained on
   * a catalog (its lmrec.json lists items).
   */
  template?: string | undefined;
  /** Written between events (default '\n'). */
  separator?: string | undefined;
  /** Most tokens of a history's text; older events are dropped (default 256). */
  context?: number | undefined;
  /** Peak AdamW learning rate, after warm-up, decaying by a cosine to a tenth (default 3e-3). */
  lr?: number | undefined;
  /** Steps of linear warm-up (default a tenth of an epoch, at most 100). */
  warmupSteps?: number | undefined;
  /** Tokens per optimiser step (default 8192). */
  batchTokens?: number | undefined;
  /** Weight of the next-item loss beside the next-token loss (default 4). */
  itemWeight?: number | undefined;
  /**
   * A new item head's starting rows (a model trained on this catalog keeps its own): 'text' (default), each item's own text as the model reads
   * it (the final state at its last token), or 'random'.
   */
  itemHeadInit?: 'text' | 'random' | undefined;
  /** Train only the layers from this one up (the embedding and the layers below stay as they are). */
  freezeLayers?: number | undefined;
  /**
   * Bottom layers with segment-local attention: each event is read alone below this layer, as
   * `LateInteraction` serves the model with `splitLayer` = localLayers (recorded in lmrec.json).
   * Tuning a full-attention model for late interaction: `{ model: dir, localLayers: s,
   * freezeLayers: s }` keeps the cached layers as they are and teaches the top ones to read them.
   */
  localLayers?: number | undefined;
  /** Seed of a new model's weights and of the batches (default 1): a run is repeatable on any thread count. */
  seed?: number | undefined;
}

export interface PretrainReport {
  /** The model directory written. */
  out: string;
  /** Why training stopped: the schedule ended, the time budget, or the signal. */
  stopReason: TrainingStopReason;
  /** Optimiser steps done (a resumed run counts the checkpoint's too). */
  steps: number;
  /** Length of the schedule (fitted to the budget when there was one). */
  totalSteps: number;
  /** Wall-clock seconds of training (reading the data and evaluating not included). */
  seconds: number;
  /** Training tokens per second of this run. */
  tokensPerSecond: number;
  /** The model's parameters (floats), item head included. */
  parameters: number;
  /** The training text. */
  corpus: {
    /** Training histories, one per user (each without its last two events). */
    sequences: number;
    /** Tokens in all of them. */
    tokens: number;
    /** Oldest events left out because their history did not fit in `context` tokens. */
    droppedEvents: number;
    /** Events whose text alone did not fit in `context` and was cut. */
    truncatedEvents: number;
    /** The tokenizer's vocabulary size. */
    vocab: number;
  };
  /** Perplexity of the held-out (validation) events given their histories, and a unigram model's on the same tokens. */
  validation: {
    /** exp of the mean next-token loss on the held-out tokens (NaN when no user holds any out). */
    perplexity: number;
    /** The same for a unigram model of the training tokens: the bar to be far below. */
    unigramPerplexity: number;
    /** Held-out tokens scored. */
    tokens: number;
  };
  /** The item head's leave-one-out metrics (full ranking, history masked). */
  itemHead: {
    /** On each user's second-to-last event (HR@K and NDCG@K for K = 1, 5, 10, 20, and MRR). */
    valid: Metrics;
    /** On each user's last event (the same metrics). */
    test: Metrics;
  };
}

const positiveInt = z.number().int().positive();
const optionsSchema = z.strictObject({
  ...behaviourTrainingShape,
  model: z.string().min(1).optional(),
  dim: positiveInt.optional(),
  layers: positiveInt.optional(),
  heads: positiveInt.optional(),
  kvHeads: positiveInt.optional(),
  ffn: positiveInt.optional(),
  vocabSize: positiveInt.optional(),
  warmupSteps: z.number().int().nonnegative().optional(),
  freezeLayers: z.number().int().nonnegative().optional(),
  localLayers: z.number().int().nonnegative().optional(),
  itemHeadInit: z.enum(['text', 'random']).optional(),
});

/** The tokenizer, BOS/EOS and starting weights: from a model directory, or new. */
interface Start {
  tokenizer: TextTokenizer;
  files: TokenizerFiles;
  bos: number;
  eos: number;
  trainer: NativeLmTrainer;
  from: string;
  /** The item head came with the model (trained on this catalog): no new head to initialise. */
  keptItemHead: boolean;
}

function startFromModel(dir: string, m: ImportedModel, data: BehaviourData, o: z.infer<typeof optionsSchema>): Start {
  const tokenizer = tokenizerFromJson(JSON.parse(m.tokenizer['tokenizer.json']) as object, JSON.parse(m.tokenizer['tokenizer_config.json']) as object, dir);
  const { bos, eos } = m;
  const trainer = new native.NativeLmTrainer({ ...m.shape, items: data.catalog.size, auxHeads: 0, seed: o.seed ?? 1 });
  // A head trained on this catalog goes on learning; one from another catalog means nothing here.
  const keptItemHead = headFitsCatalog(m.info?.items, data) && m.tensors.has('item_head.weight');
  const tensors = new Map([...m.tensors].filter(([name]) => !isItemHead(name) || (keptItemHead && name === 'item_head.weight')));
  trainer.setParams(fillParams(trainer, tensors, trainer.params()));
  return { tokenizer, files: m.tokenizer, bos, eos, trainer, from: dir, keptItemHead };
}

function startFromScratch(texts: string[], items: number, o: z.infer<typeof optionsSchema>): Start {
  // The default size shrinks to what a small catalog's texts allow; an asked-for size does not.
  const trained = trainTokenizer(texts, { vocabSize: o.vocabSize ?? 4096, allowSmaller: o.vocabSize === undefined });
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
  return { tokenizer, files, bos: 0, eos: 0, trainer, from: 'scratch', keptItemHead: false };
}

/**
 * Trains lmrec's language model on a catalog's behaviour written as text and writes it as a
 * Hugging Face directory (see the file's header); a stopped run leaves a checkpoint that `resume`
 * continues.
 * @param options The data, the output directory, the starting model or new shape, and the training settings (see PretrainOptions).
 */
export async function pretrain(options: PretrainOptions): Promise<PretrainReport> {
  const o = parseOptions(optionsSchema, options, 'pretrain');
  const modelDir = o.model === 'default' ? DEFAULT_MODEL_DIR : o.model;
  const base = modelDir ? importModel(modelDir) : undefined;
  // A model trained on a catalog goes on writing behaviour the way it learned it.
  const learned = base?.info?.items ? base.info : undefined;
  const data = await readBehaviour(o.items, o.events, o.template ?? learned?.template);
  const start = modelDir ? startFromModel(modelDir, base!, data, o) : startFromScratch(data.texts, data.catalog.size, o);
  const context = o.context ?? learned?.context ?? 256;
  const encoder = behaviourEncoder(data, start.tokenizer, { bos: start.bos, eos: start.eos, context, separator: o.separator ?? learned?.separator });
  const corpus = trainingCorpus(data.split.train, encoder);
  const batchTokens = o.batchTokens ?? 8192;
  const { totalSteps, warmupSteps } = schedule(corpus.tokens.length, batchTokens, o);
  const trainOptions: NativeLmTrainOptions = {
    lr: o.lr ?? 3e-3,
    warmupSteps: o.warmupSteps ?? warmupSteps,
    totalSteps,
    batchTokens,
    context,
    itemWeight: o.itemWeight ?? DEFAULT_ITEM_WEIGHT,
    freezeLayers: o.freezeLayers ?? 0,
    localLayers: o.localLayers ?? 0,
    seed: o.seed ?? 1,
    threads: o.threads,
  };
  if (!start.keptItemHead && (o.itemHeadInit ?? 'text') === 'text') await initItemHeadFromText(start.trainer, encoder, o.threads);
  const held = heldOutCorpus(data.split.valid, encoder);
  let validation: PretrainReport['validation'] | undefined;
  const r = await trainBehaviourModel({
    fresh: start.trainer,
    corpus,
    options: trainOptions,
    limits: o,
    data,
    encoder,
    out: o.out,
    tokenizer: start.files,
    trainedBy: `lmrec pretrain (from ${start.from === 'scratch' ? 'scratch' : path.basename(start.from)})`,
    inspect: async (trainer) => {
      const ev = await trainer.evaluate(held, { threads: o.threads, context });
      const vocab = trainer.info().vocab;
      // No user with 3+ events holds anything out: NaN, not a perplexity of 1.
      validation = ev.tokens
        ? { perplexity: Math.exp(ev.lmLoss), unigramPerplexity: unigramPerplexity(corpus.tokens, held, vocab), tokens: ev.tokens }
        : { perplexity: NaN, unigramPerplexity: NaN, tokens: 0 };
    },
  });
  return {
    out: o.out,
    stopReason: r.run.stopReason,
    steps: r.run.steps,
    totalSteps: r.run.totalSteps,
    seconds: r.run.seconds,
    tokensPerSecond: r.run.tokensPerSecond,
    parameters: r.parameters,
    corpus: {
      sequences: corpus.offsets.length - 1,
      tokens: corpus.tokens.length,
      droppedEvents: corpus.source.droppedEvents,
      truncatedEvents: corpus.source.truncatedEvents,
      vocab: r.vocab,
    },
    validation: validation!,
    itemHead: r.itemHead,
  };
}
