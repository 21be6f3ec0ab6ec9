/**
 * `distill()`: a small student decoder from a deep teacher, as SLMRec does it. The teacher (a
 * Llama-style model directory with its tokenizer, run through onnxruntime by LanguageModel)
 * gives its hidden states at B block boundaries (layer (N_t/B)·i, i = 1..B) at the last token of
 * each training history; student layer (N_s/B)·i is pulled towards them with
 * λ(1 − cos) + 0.1·‖h_s − h_t‖₂. Each student block boundary below the top has its own item
 * head and loss (SLMRec's multiple supervision), the top one is the model's item head, and the
 * next-token loss keeps the student a language model. The student has the teacher's width and
 * tokenizer and starts from its embedding and final norm, each student layer from the teacher
 * layer at the same relative depth (the last of the teacher layers it stands for).
 */
import path from 'node:path';
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { parseOptions } from '../util/options.js';
import type { Metrics } from '../eval/leave-one-out.js';
import { LanguageModel } from '../lm/language-model.js';
import { tokenizerFromJson } from '../lm/tokenizer.js';
import { native } from '../addon/loader.js';
import type { NativeLmCorpus } from '../addon/lm-trainer.js';
import { historyCorpus, trainingCorpus } from './behaviour-corpus.js';
import { behaviourEncoder, headFitsCatalog, itemHeadMetrics, readBehaviour } from './behaviour-data.js';
import { behaviourTrainingShape, schedule, trainBehaviourModel, type TrainingLimits } from './behaviour-training.js';
import { fillParams, importModel, isItemHead } from './hf-model.js';
import type { TrainingStopReason } from './training-run.js';

export interface DistillOptions extends TrainingLimits {
  /** The teacher's model directory (a Llama-style decoder with a tokenizer; lmrec.json, when it has one, gives the item template). */
  teacher: string;
  /** Catalog (`id` plus text fields): .jsonl or .csv. */
  items: string;
  /** Interactions (`user`, `item`, optional `ts`): .jsonl or .csv. */
  events: string;
  /** The student's model directory to write. */
  out: string;
  /** Student layers (default a quarter of the teacher's, at least B). */
  layers?: number | undefined;
  /** Blocks B the layers are aligned in (default 4). */
  blocks?: number | undefined;
  /** λ of the alignment's cosine term (default 1). */
  lambda?: number | undefined;
  /** Weight of each intermediate block's item loss (default 1). */
  auxWeight?: number | undefined;
  /** Weight of the next-item loss at the top (default 4, as pretrain's). */
  itemWeight?: number | undefined;
  /** How an item reads, e.g. '{title} ({category})' (default: the teacher's lmrec.json template, else the title, else every field). */
  template?: string | undefined;
  /** Written between events (default: the teacher's, else '\n'). */
  separator?: string | undefined;
  /** Most tokens of a history's text, older events dropped (default 256, at most the teacher's position limit). */
  context?: number | undefined;
  /** Peak AdamW learning rate, after warm-up, decaying by a cosine to a tenth (default 2e-3). */
  lr?: number | undefined;
  /** Tokens per optimiser step (default 8192). */
  batchTokens?: number | undefined;
  /** Seed of the student's weights the teacher does not give (new item heads) and of the batches (default 1). */
  seed?: number | undefined;
}

export interface DistillReport {
  /** The student's model directory. */
  out: string;
  /** Why training stopped: the schedule ended, the time budget, or the signal. */
  stopReason: TrainingStopReason;
  /** Optimiser steps done (a resumed run counts the checkpoint's too). */
  steps: number;
  /** Wall-clock seconds of the student's training (the teacher's states and the timings not included). */
  seconds: number;
  /** The teacher. */
  teacher: {
    /** Its decoder layers. */
    layers: number;
    /** Its parameters (floats in its checkpoint). */
    parameters: number;
    /** Its item head's metrics, when it has one trained on this catalog. */
    itemHead?: {
      /** On each user's second-to-last event. */
      valid: Metrics;
      /** On each user's last event. */
      test: Metrics;
    };
  };
  /** The student. */
  student: {
    /** Its decoder layers. */
    layers: number;
    /** Its parameters (floats), item heads included. */
    parameters: number;
    /** Its item head's leave-one-out metrics (HR@K and NDCG@K for K = 1, 5, 10, 20, and MRR). */
    itemHead: {
      /** On each user's second-to-last event. */
      valid: Metrics;
      /** On each user's last event. */
      test: Metrics;
    };
  };
  /** Which teacher layer each student block boundary was aligned with. */
  alignment: { student: number; teacher: number }[];
  /** `encode` (last layer, last-token pooling) of the test histories: seconds, and the teacher's over the student's. */
  encode: {
    /** Seconds the teacher took (fp32). */
    teacherSeconds: number;
    /** Seconds the student took (fp32). */
    studentSeconds: number;
    /** teacherSeconds / studentSeconds. */
    speedup: number;
  };
}

const positiveInt = z.number().int().positive();
const optionsSchema = z.strictObject({
  ...behaviourTrainingShape,
  teacher: z.string().min(1),
  layers: positiveInt.optional(),
  blocks: positiveInt.optional(),
  lambda: z.number().nonnegative().optional(),
  auxWeight: z.number().nonnegative().optional(),
});

/** Layer index (1-based count of layers) at the end of block i of B, for a model of n layers. */
function boundary(n: number, i: number, blocks: number): number {
  return Math.floor((n * i) / blocks);
}

/** The teacher's hidden states at each sequence's last token, at every block boundary: [count x B x dim]. */
async function teacherStates(lm: LanguageModel, corpus: NativeLmCorpus, layers: number[], dim: number): Promise<Float32Array> {
  const count = corpus.offsets.length - 1;
  const inputs = Array.from({ length: count }, (_, s) => corpus.tokens.subarray(corpus.offsets[s]!, corpus.offsets[s + 1]!));
  const out = new Float32Array(count * layers.length * dim);
  for (let j = 0; j < layers.length; j++) {
    const vectors = await lm.encode(inputs, { layer: layers[j]!, pooling: 'last' });
    vectors.forEach((v, s) => out.set(v, (s * layers.length + j) * dim));
  }
  return out;
}

async function timeEncode(lm: LanguageModel, inputs: Int32Array[]): Promise<number> {
  await lm.encode(inputs.slice(0, 8), { pooling: 'last' }); // warm the sessions
  const t0 = performance.now();
  await lm.encode(inputs, { pooling: 'last' });
  return (performance.now() - t0) / 1000;
}

/**
 * Distils a smaller student from a deep teacher, block by block (see the file's header), and
 * writes it as a Hugging Face directory.
 * @param options The teacher, the data, the output directory, the student's shape and the training settings (see DistillOptions).
 */
export async function distill(options: DistillOptions): Promise<DistillReport> {
  const o = parseOptions(optionsSchema, options, 'distill');
  const t = importModel(o.teacher);
  const blocks = o.blocks ?? 4;
  const layers = o.layers ?? Math.max(blocks, Math.round(t.shape.layers / 4));
  if (layers < blocks) throw new LmrecError(`the student needs at least one layer per block: ${layers} layers < ${blocks} blocks`, 'INVALID_ARGUMENT');
  if (t.shape.layers < blocks) throw new LmrecError(`the teacher has ${t.shape.layers} layers, fewer than ${blocks} blocks`, 'INVALID_ARGUMENT');
  if (layers > t.shape.layers) throw new LmrecError(`a student of ${layers} layers is not smaller than its ${t.shape.layers}-layer teacher`, 'INVALID_ARGUMENT');
  const data = await readBehaviour(o.items, o.events, o.template ?? t.info?.template);
  const tokenizer = tokenizerFromJson(JSON.parse(t.tokenizer['tokenizer.json']) as object, JSON.parse(t.tokenizer['tokenizer_config.json']) as object, o.teacher);
  const context = Math.min(o.context ?? 256, t.shape.maxPositions);
  const encoder = behaviourEncoder(data, tokenizer, { bos: t.bos, eos: t.eos, context, separator: o.separator ?? t.info?.separator });
  const corpus = trainingCorpus(data.split.train, encoder);

  const alignment = Array.from({ length: blocks }, (_, i) => ({
    student: boundary(layers, i + 1, blocks),
    teacher: boundary(t.shape.layers, i + 1, blocks),
  }));
  const teacherLm = await LanguageModel.load(o.teacher, { precision: 'fp32', ...(o.threads ? { threads: o.threads } : {}) });
  let teacher: DistillReport['teacher'];
  let encodeTimes: { teacherSeconds: number };
  const histories = data.split.test.map((s) => s.history);
  const scoring = histories.length ? historyCorpus(histories, encoder) : undefined;
  const scoringInputs = scoring
    ? Array.from({ length: histories.length }, (_, s) => scoring.tokens.subarray(scoring.offsets[s]!, scoring.offsets[s + 1]!))
    : [];
  try {
    corpus.teacher = await teacherStates(teacherLm, corpus, alignment.map((a) => a.teacher), t.shape.dim);
    corpus.teacherPoints = blocks;
    encodeTimes = { teacherSeconds: scoringInputs.length ? await timeEncode(teacherLm, scoringInputs) : 0 };
  } finally {
    await teacherLm.close();
  }
  // The teacher's own item head, when it has one for this catalog: the quality to keep.
  const sameCatalog = headFitsCatalog(t.info?.items, data);
  teacher = { layers: t.shape.layers, parameters: [...t.tensors.values()].reduce((n, v) => n + v.length, 0) };
  if (sameCatalog) {
    const tt = new native.NativeLmTrainer(t.shape);
    try {
      tt.setParams(fillParams(tt, t.tensors, tt.params()));
      teacher.itemHead = await itemHeadMetrics(tt, data, encoder, o.threads);
    } finally {
      tt.close();
    }
  }

  const student = new native.NativeLmTrainer({ ...t.shape, layers, items: data.catalog.size, auxHeads: blocks - 1, seed: o.seed ?? 1 });
  // Start from the teacher: its embedding, final norm and head, and for each student layer the
  // teacher layer at the same relative depth.
  const init = new Map<string, Float32Array>();
  for (const [name, v] of t.tensors) {
    const m = /^model\.layers\.(\d+)\.(.*)$/.exec(name);
    if (!m) {
      if (!isItemHead(name) || (sameCatalog && name.startsWith('item_head.'))) init.set(name, v);
      continue;
    }
    for (let j = 0; j < layers; j++) {
      if (boundary(t.shape.layers, j + 1, layers) - 1 === Number(m[1])) init.set(`model.layers.${j}.${m[2]}`, v);
    }
  }
  student.setParams(fillParams(student, init, student.params(), true));
  t.tensors.clear(); // the teacher's weights are not needed past this point
  const batchTokens = o.batchTokens ?? 8192;
  const { totalSteps, warmupSteps } = schedule(corpus.tokens.length, batchTokens, o);
  const r = await trainBehaviourModel({
    fresh: student,
    corpus,
    options: {
      lr: o.lr ?? 2e-3,
      warmupSteps,
      totalSteps,
      batchTokens,
      context,
      itemWeight: o.itemWeight ?? 4,
      alignWeight: o.lambda ?? 1,
      auxWeight: o.auxWeight ?? 1,
      seed: o.seed ?? 1,
      threads: o.threads,
    },
    limits: o,
    data,
    encoder,
    out: o.out,
    tokenizer: t.tokenizer,
    trainedBy: `lmrec distill (teacher ${path.basename(o.teacher)}, ${blocks} blocks)`,
  });
  const studentLm = await LanguageModel.load(o.out, { precision: 'fp32', ...(o.threads ? { threads: o.threads } : {}) });
  let studentSeconds = 0;
  try {
    studentSeconds = scoringInputs.length ? await timeEncode(studentLm, scoringInputs) : 0;
  } finally {
    await studentLm.close();
  }
  return {
    out: o.out,
    stopReason: r.run.stopReason,
    steps: r.run.steps,
    seconds: r.run.seconds,
    teacher,
    student: { layers, parameters: r.parameters, itemHead: r.itemHead },
    alignment,
    encode: { teacherSeconds: encodeTimes.teacherSeconds, studentSeconds, speedup: encodeTimes.teacherSeconds / Math.max(studentSeconds, 1e-9) },
  };
}
