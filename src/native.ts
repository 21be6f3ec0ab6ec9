/**
 * Loads the native addon: the local build (build/Release, found with `bindings`) when there is
 * one, else the prebuilt binary in prebuilds/<platform>-<arch>/. LMREC_NATIVE=prebuild or
 * LMREC_NATIVE=build forces one of them.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import bindings from 'bindings';
import { LmrecError } from './errors.js';
import type { SegmentCacheStats } from './lm/segment-cache.js';
import type { SrmInfo } from './srm/sequential-recommender.js';

export interface NativeSearchResult {
  ids: Float64Array;
  scores: Float32Array;
  /** Results per query: min(k, size). */
  k: number;
}

export interface NativeIndexInfo {
  dim: number;
  metric: 'ip' | 'cosine' | 'l2';
  storage: 'int8' | 'f16' | 'f32';
  keepOriginals: boolean;
  threads: number;
  kernel: string;
  partitioned: boolean;
}

export interface NativeIndex {
  add(ids: Float64Array, vectors: Float32Array): Promise<void>;
  remove(ids: Float64Array): Promise<void>;
  close(): void;
  has(id: number): boolean;
  size(): number;
  memoryBytes(): number;
  info(): NativeIndexInfo;
  partitions(): { count: number; calibration: { probe: number; recall: number }[] };
  search(queries: Float32Array, k: number, rescore: number, filter?: NativeIdFilter, probe?: number, recall?: number): NativeSearchResult;
  searchAsync(
    queries: Float32Array,
    k: number,
    rescore: number,
    filter?: NativeIdFilter,
    probe?: number,
    recall?: number,
  ): Promise<NativeSearchResult>;
  emptyCopy(): NativeIndex;
  save(path: string): Promise<void>;
}

export interface NativeIndexConstructor {
  new (options: {
    dim: number;
    metric: string;
    storage: string;
    keepOriginals: boolean;
    threads: number;
    kernel?: string | undefined;
    partitions?: 'auto' | number | undefined;
    seed?: number | undefined;
  }): NativeIndex;
  load(
    path: string,
    options: { mmap: boolean; verify: boolean; threads: number; kernel?: string | undefined },
  ): Promise<NativeIndex>;
}


/** Training options as the addon reads them (see srm_config.h); absent fields take defaults. */
/** Ids a search may return: all but `ids`, or with `only`, just them. */
export interface NativeIdFilter {
  ids: Float64Array;
  only: boolean;
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


/** Shape of lmrec's small Llama-style decoder as the addon reads it (see lm/llama_shape.h). */
export interface NativeLlamaShape {
  vocab: number;
  dim?: number | undefined;
  layers?: number | undefined;
  heads?: number | undefined;
  kvHeads?: number | undefined;
  ffn?: number | undefined;
  maxPositions?: number | undefined;
  items?: number | undefined;
  auxHeads?: number | undefined;
  /** The output layer is the token embedding (default), else its own lm_head.weight. */
  tied?: boolean | undefined;
  ropeTheta?: number | undefined;
  normEps?: number | undefined;
  seed?: number | undefined;
}

/** Training options of the decoder (lm/lm_trainer.h); absent fields take defaults. */
export interface NativeLmTrainOptions {
  lr?: number | undefined;
  beta1?: number | undefined;
  beta2?: number | undefined;
  eps?: number | undefined;
  weightDecay?: number | undefined;
  minLrRatio?: number | undefined;
  warmupSteps?: number | undefined;
  totalSteps?: number | undefined;
  clipNorm?: number | undefined;
  batchTokens?: number | undefined;
  context?: number | undefined;
  lmWeight?: number | undefined;
  itemWeight?: number | undefined;
  auxWeight?: number | undefined;
  alignWeight?: number | undefined;
  freezeLayers?: number | undefined;
  localLayers?: number | undefined;
  logitsBytes?: number | undefined;
  seed?: number | undefined;
  threads?: number | undefined;
}

/** Token sequences (CSR) with the events written in them; see lm::Corpus. */
export interface NativeLmCorpus {
  tokens: Int32Array;
  /** count + 1 token offsets. */
  offsets: Float64Array;
  /** Absolute index of each event's last token, increasing. */
  eventEnds?: Float64Array | undefined;
  /** The item the hidden state at each event end predicts, or -1. */
  nextItems?: Int32Array | undefined;
  /** Evaluation only: per sequence, the first token (absolute index) whose prediction is scored. */
  scoreFrom?: Float64Array | undefined;
  /** Teacher hidden states at each sequence's last token: [count x teacherPoints x dim]. */
  teacher?: Float32Array | undefined;
  teacherPoints?: number | undefined;
}

export interface NativeLmStepReport {
  steps: number;
  tokens: number;
  itemTargets: number;
  lmLoss: number;
  itemLoss: number;
  auxLoss: number;
  alignLoss: number;
  gradNorm: number;
  lr: number;
  cancelled: boolean;
}

export interface NativeLmTrainerInfo extends Required<Omit<NativeLlamaShape, 'seed'>> {
  step: number;
  parameters: number;
  options: Required<Omit<NativeLmTrainOptions, 'threads'>>;
}

export interface NativeLmInferenceOptions {
  threads?: number | undefined;
  /** Tokens a window holds (0 or absent: the training options' context). */
  context?: number | undefined;
  /** Bottom layers attending within each event's segment, as late interaction serves them (absent: the training options'). */
  localLayers?: number | undefined;
}

export interface NativeLmTrainer {
  info(): NativeLmTrainerInfo;
  layout(): { name: string; rows: number; cols: number; offset: number }[];
  params(): Float32Array;
  /** keepOptimizer: keep AdamW's moments and step (else they restart). */
  setParams(params: Float32Array, keepOptimizer?: boolean): void;
  setCorpus(corpus: NativeLmCorpus, options: NativeLmTrainOptions, resuming: boolean): void;
  train(steps: number): Promise<NativeLmStepReport>;
  cancel(): void;
  /** Inference options: threads, and `context`, the window sequences are cut to (default the training options'). */
  evaluate(corpus: NativeLmCorpus, options?: NativeLmInferenceOptions): Promise<{
    lmLoss: number;
    itemLoss: number;
    tokens: number;
    itemTargets: number;
  }>;
  itemScores(corpus: NativeLmCorpus, options?: NativeLmInferenceOptions): Promise<Float32Array>;
  lastHidden(corpus: NativeLmCorpus, layer: number, options?: NativeLmInferenceOptions): Promise<Float32Array>;
  logits(tokens: Int32Array): Float32Array;
  lossAndGradients(step: number): { loss: number; gradients: Float32Array };
  saveCheckpoint(path: string): Promise<void>;
  close(): void;
}

export interface NativeLmTrainerConstructor {
  new (shape: NativeLlamaShape): NativeLmTrainer;
  loadCheckpoint(path: string): Promise<NativeLmTrainer>;
}

export interface NativeSegmentCache {
  get(model: string, layer: number, tokens: Int32Array, dim: number): Float32Array | null;
  put(model: string, layer: number, tokens: Int32Array, states: Float32Array): boolean;
  keepOnly(model: string): void;
  clear(): void;
  stats(): SegmentCacheStats;
  save(path: string): Promise<void>;
  /** The concurrency check of native/core/cache/stress.h (tests). */
  stress(threads: number, opsPerThread: number, seed: number): Promise<{ ops: number; hits: number; wrongValues: number; overBudget: number; maxBytes: number }>;
  close(): void;
}

export interface NativeSegmentCacheConstructor {
  new (options: { budgetBytes: number; storage?: 'f16' | 'int8' | 'f32' | undefined }): NativeSegmentCache;
  load(path: string, budgetBytes: number): Promise<NativeSegmentCache>;
}

export interface NativeAddon {
  NativeSrm: NativeSrmConstructor;
  NativeLmTrainer: NativeLmTrainerConstructor;
  NativeSegmentCache: NativeSegmentCacheConstructor;
  sourceHash: string;
  /** Every error code the native core can throw. */
  errorCodes(): string[];
  setErrorClass(cls: typeof LmrecError): void;
  NativeIndex: NativeIndexConstructor;
  kernels(): string[];
  /** C = alpha op(A) op(B) + beta C in place, on the named micro-kernel or the best one (encode pooling, tests). */
  sgemm(
    kernel: string | undefined,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    transA: boolean,
    b: Float32Array,
    transB: boolean,
    beta: number,
    c: Float32Array,
    threads: number,
  ): void;
  /** Dot products of q with every dim-float row of x, on the named kernel (tests). */
  dotRows(kernel: string | undefined, x: Float32Array, dim: number, q: Float32Array): Float32Array;
  /** exp(x - shift) elementwise and its sum, on the named kernel (tests). */
  expShifted(kernel: string | undefined, x: Float32Array, shift: number): { values: Float32Array; sum: number };
  hardwareThreads(): number;
  probeInt8Peak(seconds: number, kernel?: string): Promise<number>;
  probeReadBandwidth(bytes: number, threads: number, repeats: number): Promise<number>;
  /** Gives free heap memory back to the operating system (glibc malloc_trim), off the JS thread; false where none was released or the C library cannot. */
  releaseMemory(): Promise<boolean>;
  /** Caps glibc's heap arenas (mallopt M_ARENA_MAX) for arenas made from now on; false where the C library has no such setting. */
  limitHeapArenas(count: number): boolean;
  /** The C heap's bytes in use and held from the OS (glibc mallinfo2; -1 where the C library cannot tell). */
  heapStats(): { inUse: number; held: number };
}

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const prebuildPath = path.join(
  packageRoot,
  'prebuilds',
  `${process.platform}-${process.arch}`,
  'lmrec.node',
);

const require = createRequire(import.meta.url);

/** Loads an addon file directly (tests use it to check the committed prebuild). */
export function loadAddonFile(file: string): NativeAddon {
  const addon = require(file) as NativeAddon;
  addon.setErrorClass(LmrecError);
  return addon;
}

function loadAddon(): { addon: NativeAddon; from: string } {
  const force = process.env.LMREC_NATIVE;
  const errors: string[] = [];
  if (force !== 'prebuild') {
    try {
      const addon = bindings({ bindings: 'lmrec.node', module_root: packageRoot }) as NativeAddon;
      addon.setErrorClass(LmrecError);
      return { addon, from: 'build' };
    } catch (e) {
      errors.push(`local build: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (force !== 'build' && existsSync(prebuildPath)) {
    try {
      return { addon: loadAddonFile(prebuildPath), from: prebuildPath };
    } catch (e) {
      errors.push(`prebuild: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new LmrecError(
    `lmrec's native addon could not be loaded (${errors.join('; ') || 'no prebuild for ' +
      `${process.platform}-${process.arch}`}). Run \`npm run build:native\` (needs cmake and a C++17 compiler).`,
    'NATIVE_UNAVAILABLE',
  );
}

const loaded = loadAddon();
export const native: NativeAddon = loaded.addon;
/** Where the addon came from: 'build' or the prebuild's path. */
export const nativeSource: string = loaded.from;
