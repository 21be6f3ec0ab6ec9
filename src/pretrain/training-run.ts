/**
 * The training loop around the native trainer: steps run off the JS thread in calls of about
 * half a second each, so between calls the loop reports progress, writes checkpoints on a
 * clock, honours an AbortSignal and a time budget. A stopped run leaves a checkpoint that
 * `resume` continues from, reaching the weights an uninterrupted run would have.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { native } from '../addon/loader.js';
import type { NativeLmCorpus, NativeLmStepReport, NativeLmTrainer, NativeLmTrainOptions } from '../addon/lm-trainer.js';

export interface TrainingProgress {
  /** Optimiser steps done (a resumed run counts the checkpoint's too). */
  step: number;
  /** Length of the schedule; with a time budget, fitted to it once the speed is known. */
  totalSteps: number;
  /** Mean losses of the steps since the last report. */
  lmLoss: number;
  /** The next-item loss (the item head's cross-entropy at the end of each event). */
  itemLoss: number;
  /** Distillation: the intermediate blocks' item losses (0 in pretraining). */
  auxLoss: number;
  /** Distillation: the alignment with the teacher's hidden states (0 in pretraining). */
  alignLoss: number;
  /** Learning rate of the last step (warm-up, then cosine decay). */
  lr: number;
  /** Training tokens per second since the run started. */
  tokensPerSecond: number;
  /** Seconds since the run started. */
  elapsedSeconds: number;
  /** Estimated seconds to the end of the schedule, at the latest speed. */
  etaSeconds: number;
}

/** Why training stopped: the schedule ran out, the time budget did, or the signal aborted it. */
export type TrainingStopReason = 'steps' | 'time-budget' | 'aborted';

export interface TrainingRunOptions {
  /** Checkpoint file, written atomically during and at the end of training. */
  checkpoint?: string | undefined;
  /** Seconds between checkpoints (default 60). */
  checkpointEverySeconds?: number | undefined;
  /** Stop at the next step; the checkpoint is written first. */
  signal?: AbortSignal | undefined;
  /** Time budget in seconds: the schedule is fitted to it once the speed is known. */
  maxSeconds?: number | undefined;
  onProgress?: ((p: TrainingProgress) => void) | undefined;
}

export interface TrainingRunReport {
  stopReason: TrainingStopReason;
  steps: number;
  totalSteps: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** The last report's mean losses. */
  lmLoss: number;
  itemLoss: number;
}

const CALL_SECONDS = 0.5;

/**
 * Trains `trainer` on `corpus` until the schedule (options.totalSteps) ends, the budget runs
 * out or the signal aborts. With `resuming`, the trainer came from a checkpoint of this corpus.
 */
export async function runTraining(
  trainer: NativeLmTrainer,
  corpus: NativeLmCorpus,
  options: NativeLmTrainOptions,
  run: TrainingRunOptions = {},
  resuming = false,
): Promise<TrainingRunReport> {
  trainer.setCorpus(corpus, options, resuming);
  let totalSteps = trainer.info().options.totalSteps;
  if (run.checkpoint) mkdirSync(path.dirname(path.resolve(run.checkpoint)), { recursive: true });
  const started = performance.now();
  let lastCheckpoint = started;
  let chunk = 1;
  let tokens = 0;
  let last: NativeLmStepReport | undefined;
  let stopReason: TrainingStopReason = 'steps';
  let fitted = run.maxSeconds === undefined;
  const onAbort = () => trainer.cancel();
  run.signal?.addEventListener('abort', onAbort);
  try {
    while (trainer.info().step < totalSteps) {
      if (run.signal?.aborted) {
        stopReason = 'aborted';
        break;
      }
      const elapsed = (performance.now() - started) / 1000;
      if (run.maxSeconds !== undefined && elapsed >= run.maxSeconds) {
        stopReason = 'time-budget';
        break;
      }
      const t0 = performance.now();
      const r = await trainer.train(chunk);
      const seconds = (performance.now() - t0) / 1000;
      if (r.steps) last = r;
      tokens += r.tokens;
      if (r.cancelled) {
        stopReason = 'aborted';
        break;
      }
      // Calls of about CALL_SECONDS: short enough to stay responsive, long enough to cost nothing.
      const perStep = seconds / Math.max(1, r.steps);
      chunk = Math.max(1, Math.min(chunk * 4, Math.round(CALL_SECONDS / Math.max(perStep, 1e-6))));
      const step = trainer.info().step;
      if (!fitted && step >= 2) {
        // The cosine schedule ends where the budget will: steps done + what the rest affords.
        const left = run.maxSeconds! - (performance.now() - started) / 1000;
        totalSteps = Math.max(step + 1, Math.min(totalSteps, step + Math.floor(left / perStep)));
        trainer.setCorpus(corpus, { ...options, totalSteps }, true);
        fitted = true;
      }
      const now = performance.now();
      const total = (now - started) / 1000;
      run.onProgress?.({
        step,
        totalSteps,
        lmLoss: r.lmLoss,
        itemLoss: r.itemLoss,
        auxLoss: r.auxLoss,
        alignLoss: r.alignLoss,
        lr: r.lr,
        tokensPerSecond: tokens / total,
        elapsedSeconds: total,
        etaSeconds: (totalSteps - step) * perStep,
      });
      if (run.checkpoint && (now - lastCheckpoint) / 1000 >= (run.checkpointEverySeconds ?? 60)) {
        await trainer.saveCheckpoint(run.checkpoint);
        lastCheckpoint = performance.now();
      }
    }
  } finally {
    run.signal?.removeEventListener('abort', onAbort);
  }
  if (run.checkpoint) await trainer.saveCheckpoint(run.checkpoint);
  const seconds = (performance.now() - started) / 1000;
  return {
    stopReason,
    steps: trainer.info().step,
    totalSteps,
    tokens,
    seconds,
    tokensPerSecond: tokens / Math.max(seconds, 1e-9),
    lmLoss: last?.lmLoss ?? NaN,
    itemLoss: last?.itemLoss ?? NaN,
  };
}

/** The trainer saved at `checkpoint`, or undefined when there is none. */
export async function loadCheckpoint(checkpoint: string): Promise<NativeLmTrainer | undefined> {
  if (!existsSync(checkpoint)) return undefined;
  try {
    return await native.NativeLmTrainer.loadCheckpoint(checkpoint);
  } catch (e) {
    if (e instanceof LmrecError) throw e;
    throw new LmrecError(`cannot read checkpoint '${checkpoint}': ${(e as Error).message}`, 'IO_ERROR');
  }
}
