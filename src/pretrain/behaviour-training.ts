/**
 * The part of pretrain() and distill() that is the same: the schedule from epochs, steps or a
 * budget; resuming from a checkpoint; the training run; the item head's metrics; the export;
 * and the checkpoint's removal once the model is written.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import type { Metrics } from '../eval/leave-one-out.js';
import type { TokenizerFiles } from '../lm/tokenizer-trainer.js';
import type { NativeLmCorpus, NativeLmTrainer, NativeLmTrainOptions } from '../addon/lm-trainer.js';
import type { BehaviourEncoder } from './behaviour-corpus.js';
import { itemHeadMetrics, itemIds, type BehaviourData } from './behaviour-data.js';
import { exportModel } from './hf-model.js';
import { loadCheckpoint, runTraining, type TrainingProgress, type TrainingRunReport } from './training-run.js';

/** How long to train and how to stop, as both APIs take them. */
export interface TrainingLimits {
  /** Passes over the training text (default 1), or an exact number of steps. */
  epochs?: number | undefined;
  /** Optimiser steps of the schedule, exactly (takes precedence over epochs). */
  steps?: number | undefined;
  /** Time budget in seconds; the schedule is fitted to it. */
  budgetSeconds?: number | undefined;
  /** Training threads (default: all). */
  threads?: number | undefined;
  /** Checkpoint file (default `<out>.checkpoint`), written every checkpointEverySeconds (default 60) and when stopped. */
  checkpoint?: string | undefined;
  /** Seconds between checkpoints while training (default 60). */
  checkpointEverySeconds?: number | undefined;
  /** Continue from the checkpoint when there is one (same data and options). */
  resume?: boolean | undefined;
  /** Stops training at the next step; the checkpoint is written and the model exported. */
  signal?: AbortSignal | undefined;
  /** Called after each call of the native trainer (about every half second) with the run's progress. */
  onProgress?: ((p: TrainingProgress) => void) | undefined;
}

const positiveInt = z.number().int().positive();

/** The schedule length of a budget-only run until runTraining fits it to the measured speed. */
const BUDGET_SCHEDULE = 1e9;

/** The zod shape of the options pretrain() and distill() share (data, text, limits, optimiser basics). */
export const behaviourTrainingShape = {
  items: z.string().min(1),
  events: z.string().min(1),
  out: z.string().min(1),
  template: z.string().optional(),
  separator: z.string().optional(),
  context: z.number().int().min(3).optional(),
  lr: z.number().positive().optional(),
  batchTokens: positiveInt.optional(),
  itemWeight: z.number().nonnegative().optional(),
  seed: z.number().int().nonnegative().optional(),
  epochs: z.number().positive().optional(),
  steps: positiveInt.optional(),
  budgetSeconds: z.number().positive().optional(),
  threads: positiveInt.optional(),
  checkpoint: z.string().min(1).optional(),
  checkpointEverySeconds: z.number().positive().optional(),
  resume: z.boolean().optional(),
  signal: z.instanceof(AbortSignal).optional(),
  onProgress: z.custom<(p: TrainingProgress) => void>((v) => typeof v === 'function', 'a function').optional(),
};

/**
 * Schedule length and warm-up for a corpus of `tokens`: `steps` exactly, else `epochs` (1)
 * passes; with a budget alone, a schedule the run fits to the budget once it knows its speed.
 */
export function schedule(tokens: number, batchTokens: number, o: TrainingLimits): { totalSteps: number; warmupSteps: number } {
  const epochSteps = Math.ceil(tokens / batchTokens);
  const budgetOnly = o.budgetSeconds !== undefined && o.epochs === undefined && o.steps === undefined;
  return {
    totalSteps: o.steps ?? (budgetOnly ? BUDGET_SCHEDULE : Math.max(1, Math.ceil(epochSteps * (o.epochs ?? 1)))),
    warmupSteps: Math.min(100, Math.ceil(epochSteps / 10)),
  };
}

export interface BehaviourTraining {
  /** The trainer to start from (closed here, and replaced by the checkpoint's when resuming). */
  fresh: NativeLmTrainer;
  corpus: NativeLmCorpus;
  options: NativeLmTrainOptions;
  limits: TrainingLimits;
  data: BehaviourData;
  encoder: BehaviourEncoder;
  out: string;
  tokenizer: TokenizerFiles;
  trainedBy: string;
  /** Runs on the trained model before it is exported and closed (extra evaluation). */
  inspect?: (trainer: NativeLmTrainer) => Promise<void>;
}

export async function trainBehaviourModel(
  t: BehaviourTraining,
): Promise<{ run: TrainingRunReport; itemHead: { valid: Metrics; test: Metrics }; parameters: number; vocab: number }> {
  const checkpoint = t.limits.checkpoint ?? `${path.resolve(t.out)}.checkpoint`;
  const options = { ...t.options };
  let trainer = t.fresh;
  let resuming = false;
  if (t.limits.resume) {
    const saved = await loadCheckpoint(checkpoint);
    if (saved) {
      // The batches of a step depend on the options: the checkpoint's are the ones to continue.
      t.fresh.close();
      trainer = saved;
      resuming = true;
      Object.assign(options, saved.info().options, { threads: t.limits.threads });
      if (options.totalSteps! >= BUDGET_SCHEDULE && t.limits.budgetSeconds === undefined) {
        saved.close();
        throw new LmrecError(`'${checkpoint}' is from a run with a time budget: resume it with one (--budget)`, 'INVALID_ARGUMENT');
      }
    }
  }
  if (t.limits.signal?.aborted && !resuming) {
    // Stopped before the first step (Ctrl-C while the data was prepared): nothing to write.
    trainer.close();
    throw new LmrecError('stopped before training began; nothing was written', 'ABORTED');
  }
  try {
    const run = await runTraining(trainer, t.corpus, options, {
      checkpoint,
      checkpointEverySeconds: t.limits.checkpointEverySeconds,
      signal: t.limits.signal,
      maxSeconds: t.limits.budgetSeconds,
      onProgress: t.limits.onProgress,
    }, resuming);
    await t.inspect?.(trainer);
    const itemHead = await itemHeadMetrics(trainer, t.data, t.encoder, t.limits.threads);
    exportModel(trainer, t.out, t.tokenizer, {
      items: itemIds(t.data),
      template: t.data.template,
      separator: t.encoder.options.separator ?? '\n',
      context: t.encoder.options.maxTokens,
      bos: t.encoder.options.bos,
      eos: t.encoder.options.eos,
      steps: run.steps,
      trainedBy: t.trainedBy,
      ...(options.localLayers ? { localLayers: options.localLayers } : {}),
    });
    if (run.stopReason !== 'aborted') rmSync(checkpoint, { force: true });
    const info = trainer.info();
    return { run, itemHead, parameters: info.parameters, vocab: info.vocab };
  } finally {
    trainer.close();
  }
}
