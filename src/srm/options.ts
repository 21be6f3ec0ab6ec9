/**
 * The SequentialRecommender's vocabulary: its defaults, the options fit, train and update take,
 * and what they report.
 */
import type { Metrics, Split } from '../eval/leave-one-out.js';
import type { SearchResult } from '../vector-index/vector-index.js';

/**
 * The SRM's shape and dropout unless a caller says otherwise: one place for every default (the
 * native core's own defaults are the same, test/srm.test.ts holds them together). maxLen 50, as
 * SASRec uses on sparse catalogs: longer histories add little and cost time in every request.
 */
export const SRM_DEFAULTS = { dim: 64, blocks: 2, heads: 1, maxLen: 50, dropout: 0.2 } as const;

export interface SrmShapeOptions {
  /** Embedding width (and feed-forward width). Default 64. */
  dim?: number;
  /** Self-attention blocks. Default 2. */
  blocks?: number;
  /** Attention heads (must divide dim). Default 1. */
  heads?: number;
  /** Most recent events the model reads. Default 50 (SRM_DEFAULTS). */
  maxLen?: number;
}

export interface SrmTrainOptions {
  /** AdamW learning rate. Default 1e-3. */
  lr?: number;
  /** AdamW's first-moment decay. Default 0.9. */
  beta1?: number;
  /** AdamW's second-moment decay. Default 0.98. */
  beta2?: number;
  /** AdamW's decoupled weight decay, >= 0. Default 0. */
  weightDecay?: number;
  /** Dropout rate on the embeddings and feed-forward layers in training, in [0, 1). Default 0.2. */
  dropout?: number;
  /** Training windows per step. Default 128. */
  batchSize?: number;
  /** 'auto' (default): full softmax up to 20,000 items, sampled softmax beyond. */
  loss?: 'full' | 'sampled' | 'auto';
  /** Sampled softmax: negatives drawn per step, shared by the batch. Default 256. */
  negatives?: number;
  /** Sampled softmax: negatives are drawn with probability ~ max(1, training count)^samplePower (0: uniform). Default 0.75. */
  samplePower?: number;
  /** Full softmax: bound on the logits held at once. Default 8 MiB. */
  logitsBytes?: number;
  /** Seed of the initial weights (fit), the window order, dropout, negatives and code noise. Default 1. */
  seed?: number;
  /** Threads for training and batched scoring; default all cores. */
  threads?: number;
  /** σ of the Gaussian noise added to item codes in training (compression module). Default 0.05. */
  codeNoise?: number;
  /**
   * With a compression module: the share of warm items whose ID embedding each step leaves
   * out, so that codes alone learn to score items, as they must for cold ones. Default 0.25.
   */
  idDropout?: number;
}

/**
 * Item features for the compression module (MARC): each item's language-model state,
 * `items x width` floats, row after row. With them, an item's embedding is its ID embedding
 * (items with training events only) plus a projection of its code; the code is
 * `tanh(compress(features))`, `codeDim` wide, stored as int8.
 */
export interface SrmItemFeatures {
  /** The features, items x width floats, row after row (item i's row at i * width). */
  vectors: Float32Array;
  /** Floats per item: the LM's hidden size. */
  width: number;
  /** Width of the stored code. Default 64. */
  codeDim?: number;
  /** 0 (default): linear compression; n: one hidden ReLU layer of n units. */
  hidden?: number;
  /** Round codes to int8 in training (straight-through) and storage. Default true. */
  int8?: boolean;
}

export interface SrmFitOptions extends SrmShapeOptions, SrmTrainOptions {
  /** Most epochs. Default 200 with validation, else 20. */
  epochs?: number;
  /** Validation splits for early stopping on NDCG@10; the best validated weights are kept. */
  valid?: Split[];
  /** Validations without a better NDCG@10 before stopping. Default 5. */
  patience?: number;
  /** Validate every this many epochs (and after the last one). Default 1. */
  validateEvery?: number;
  /** Time budget in seconds: training stops at the next step after it (the first epoch always ends) and keeps the best weights. */
  maxSeconds?: number;
  /** Stops training at the next step when aborted; the best weights are kept. */
  signal?: AbortSignal;
  /** Initial item embeddings [items x dim], e.g. compressed LM vectors. */
  itemEmbeddings?: Float32Array;
  /**
   * Trains a compression module jointly (see {@link SrmItemFeatures}). Items without a
   * training event get no ID embedding: they are scored by their code alone (cold items).
   */
  itemFeatures?: SrmItemFeatures;
  /** Called after each epoch (validated or not) with its report. */
  onEpoch?: (report: EpochReport) => void;
}

/** Why fit stopped: every epoch ran, early stopping, the time budget, or the abort signal. */
export type StopReason = 'epochs' | 'early-stopping' | 'time-budget' | 'aborted';

export interface EpochReport {
  /** The epoch's number, from 0. */
  epoch: number;
  /** Mean training loss over the epoch's steps (softmax cross-entropy, full or sampled). */
  loss: number;
  /** Wall-clock seconds of the epoch's training (validation not included). */
  seconds: number;
  /** Training windows (sequences of up to maxLen + 1 events) per second. */
  sequencesPerSecond: number;
  /** Training targets (events the loss covered) per second. */
  eventsPerSecond: number;
  /** Validation metrics, on the epochs that were validated. */
  valid?: Metrics;
  /** The weights after this epoch are the best so far (always true without validation). */
  best: boolean;
  /** The epoch was cut short by the time budget or the abort signal. */
  partial: boolean;
}


export interface SrmScoreResult {
  /** A score per candidate, in the candidates' order (higher is better); training counts under the popularity fallback. */
  scores: Float32Array;
  /** History items outside the catalog, skipped. */
  ignored: number;
  /** Candidates outside the catalog; they score -Infinity. */
  unknownCandidates: number;
  /** 'popularity' when the history was empty after skipping unknown items. */
  fallback: 'popularity' | null;
}

/** The best next items (ids are item numbers), best first: min(k, eligible items) of them. */
export interface SrmTopKResult extends SearchResult {
  /** History items outside the catalog, skipped. */
  ignored: number;
  /** 'popularity' when the history was empty after skipping unknown items. */
  fallback: 'popularity' | null;
}

export interface SrmUpdateOptions extends SrmTrainOptions {
  /** Trailing events of each sequence that are new (the loss covers them). Default 1. */
  fresh?: number;
  /** Passes over the fresh data. Default 1. */
  passes?: number;
}

export interface SrmUpdateReport {
  /** Mean training loss over the steps. */
  loss: number;
  /** Optimiser steps taken. */
  steps: number;
  /** Training windows (one per sequence with 2 or more events, per pass). */
  windows: number;
  /** Events the loss covered. */
  targets: number;
  /** History items outside the catalog, skipped. */
  ignored: number;
}
