/** The native SRM class (native/addon/srm_wrap): training, scoring and updates off the JS thread. */

/** The model's shape and training progress. */
export interface SrmInfo {
  /** Items the model knows (0..items-1). */
  items: number;
  /** Embedding width. */
  dim: number;
  /** Self-attention blocks. */
  blocks: number;
  /** Attention heads. */
  heads: number;
  /** Most recent events of a history the model reads. */
  maxLen: number;
  /** Width of the item features (0: no compression module). */
  codeIn: number;
  /** Width of the item codes (0: no compression module). */
  codeDim: number;
  /** Units of the compression's hidden layer (0: linear compression). */
  codeHidden: number;
  /** Whether codes are rounded to int8 (in training and storage). */
  codeInt8: boolean;
  /** Optimiser steps taken so far. */
  steps: number;
  /** Trainable parameters (floats), embeddings included. */
  parameters: number;
}

export interface NativeTrainOptions {
  lr?: number | undefined;
  beta1?: number | undefined;
  beta2?: number | undefined;
  eps?: number | undefined;
  weightDecay?: number | undefined;
  dropout?: number | undefined;
  batchSize?: number | undefined;
  loss?: 'full' | 'sampled' | undefined;
  negatives?: number | undefined;
  samplePower?: number | undefined;
  logitsBytes?: number | undefined;
  seed?: number | undefined;
  threads?: number | undefined;
  codeNoise?: number | undefined;
  idDropout?: number | undefined;
}

export interface NativeTrainReport {
  loss: number;
  steps: number;
  windows: number;
  targets: number;
  /** Stopped by cancel() before its last step. */
  cancelled: boolean;
}

/** Sequences travel as CSR: a flat Int32Array of items and Float64Array offsets (count + 1). */
export interface NativeSrm {
  info(): SrmInfo;
  layout(): { name: string; rows: number; cols: number; offset: number }[];
  setItemEmbeddings(vectors: Float32Array): void;
  countPopularity(items: Int32Array, offsets: Float64Array, reset: boolean): void;
  popularity(): Float32Array;
  trainEpoch(items: Int32Array, offsets: Float64Array, options: NativeTrainOptions, epoch: number): Promise<NativeTrainReport>;
  trainRecent(
    items: Int32Array,
    offsets: Float64Array,
    fresh: number,
    options: NativeTrainOptions,
    passes: number,
  ): Promise<NativeTrainReport>;
  scoreAll(items: Int32Array, offsets: Float64Array, options: { threads?: number | undefined }): Promise<Float32Array>;
  score(history: Int32Array, candidates: Int32Array): Float32Array;
  topK(history: Int32Array, k: number, excludeHistory: boolean): { items: Int32Array; scores: Float32Array };
  lossAndGradients(
    items: Int32Array,
    offsets: Float64Array,
    options: NativeTrainOptions,
    step: number,
  ): { loss: number; gradients: Float32Array };
  setFeatures(features: Float32Array): void;
  dropFeatures(): void;
  setIdMask(mask: Uint8Array): void;
  idMask(): Uint8Array;
  warmItems(items: Int32Array): void;
  addItems(features: Float32Array): Promise<void>;
  codes(): Float32Array;
  /** The codes written into `out` (items x codeDim floats) off the JS thread; leave `out` alone until it settles. */
  codesInto(out: Float32Array): Promise<void>;
  itemVectors(): Float32Array;
  /** The item vectors written into `out` (items x dim floats) off the JS thread; leave `out` alone until it settles. */
  itemVectorsInto(out: Float32Array): Promise<void>;
  userVectors(items: Int32Array, offsets: Float64Array): Float32Array;
  params(): Float32Array;
  setParams(params: Float32Array): void;
  checkpoint(): void;
  restore(): void;
  save(path: string): Promise<void>;
  cancel(): void;
  close(): void;
}

export interface NativeSrmConstructor {
  new (options: {
    items: number;
    dim?: number | undefined;
    blocks?: number | undefined;
    heads?: number | undefined;
    maxLen?: number | undefined;
    codeIn?: number | undefined;
    codeDim?: number | undefined;
    codeHidden?: number | undefined;
    codeInt8?: boolean | undefined;
    seed?: number | undefined;
  }): NativeSrm;
  load(path: string): Promise<NativeSrm>;
}
