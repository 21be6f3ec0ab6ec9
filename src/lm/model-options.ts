/**
 * What a LanguageModel takes: the options of load, hiddenStates, logits, encode and
 * encodeLayers, and their zod schemas (unknown keys and wrong types are INVALID_ARGUMENT).
 */
import { z } from 'zod';
import type { Precision } from './onnx/ops.js';

export type { ModelInput } from './run-inputs.js';

/** Options of {@link LanguageModel.load}. Unknown keys and wrong types are INVALID_ARGUMENT. */
export interface LanguageModelOptions {
  /** Layers per block graph (1 = every layer its own graph). Default 4. */
  blockSize?: number;
  /** Threads onnxruntime may use inside one operator, an integer >= 1. Default: all cores. */
  threads?: number;
  /** Matrix products in 'fp32' (default) or 'int8' (int8 weights per output channel, activations quantized per call). */
  precision?: Precision;
  /**
   * Where built graphs are kept (default `~/.cache/lmrec/graphs`, or under `$XDG_CACHE_HOME`);
   * `false` builds them in memory on every load. A path that cannot be a directory is IO_ERROR.
   */
  cacheDir?: string | false;
  /**
   * Memory one run of the graphs may take, in bytes (default 1 GiB): `encode` splits its
   * batches to stay under it, and a single input that needs more is REQUEST_TOO_LARGE before
   * anything is allocated. A run's need is estimated from its sequences B, their padded length
   * T and the model's shape: attention scores (3 x B x heads x T x T floats), the attention
   * bias (B x T x T) and one layer's activations, so it grows with the square of the length.
   */
  maxBatchBytes?: number;
  /**
   * Keep onnxruntime's memory arena in each session (default false). An arena reuses its
   * buffers from run to run, but keeps each session's largest run's memory until the model is
   * closed: with n block sessions, up to n times maxBatchBytes after one long input.
   */
  memoryArena?: boolean;
}

/** A layer index (0 = embeddings, l = output of layer l before a decoder's final norm) or 'final'. */
export type LayerRef = number | 'final';

/**
 * How an input longer than the model's context (`config.maxPositions` tokens) is
 * treated: INPUT_TOO_LONG naming the input (default), or with `truncate: true`, only its first
 * `maxPositions` tokens are run. The start is kept because that is where the model's context
 * begins: a BOS or [CLS] token and the positions the model was trained on from 0, and it is
 * what Hugging Face tokenizers keep by default (truncation_side 'right').
 */
export interface TruncateOptions {
  /** Run only the first `maxPositions` tokens of a longer input instead of failing. Default false. */
  truncate?: boolean;
}

/** Options of {@link LanguageModel.hiddenStates}. */
export interface HiddenStatesOptions extends TruncateOptions {
  /** The layers to return, at least one, in this order (default `['final']`). Only the layers up to the deepest run. */
  layers?: LayerRef[];
}

/** Options of {@link LanguageModel.logits}. */
export type LogitsOptions = TruncateOptions;

/**
 * How `encode` turns a sequence's states into one vector: 'mean' over its tokens, its 'last'
 * token (decoders: the one that has seen the whole input), its first token 'cls' (encoders
 * only: BERT-style models such as bge pool on [CLS]), or the last occurrence of a 'marker'
 * token.
 */
export type Pooling = 'mean' | 'last' | 'cls' | 'marker';

/** Options of {@link LanguageModel.encode}. */
export interface EncodeOptions extends TruncateOptions {
  /** Which layer's states to pool (default 'final'). Only the layers up to it run. */
  layer?: LayerRef;
  /** How the states become one vector (default 'mean'). */
  pooling?: Pooling;
  /** The token id 'marker' pooling takes (required with it, refused without it). */
  marker?: number;
  /** L2-normalize each vector. Default false. */
  normalize?: boolean;
  /**
   * Most sequences run together, padded to the longest (default 16). Batches are made smaller
   * where `maxBatchBytes` requires it.
   */
  batchSize?: number;
}

/** Options of {@link LanguageModel.encodeLayers}: those of `encode`, with `layers` for `layer`. */
export interface EncodeLayersOptions extends Omit<EncodeOptions, 'layer'> {
  /** The layers to pool, at least one. */
  layers: LayerRef[];
}

const layerRef = z.union([z.number().int().nonnegative(), z.literal('final')]);
const truncate = { truncate: z.boolean().optional() };
export const loadSchema = z.strictObject({
  blockSize: z.number().int().min(1).optional(),
  threads: z.number().int().min(1).optional(),
  precision: z.enum(['fp32', 'int8']).optional(),
  cacheDir: z.union([z.string().min(1), z.literal(false)]).optional(),
  maxBatchBytes: z.number().int().positive().optional(),
  memoryArena: z.boolean().optional(),
}) satisfies z.ZodType<LanguageModelOptions>;
export const hiddenStatesSchema = z.strictObject({ layers: z.array(layerRef).min(1).optional(), ...truncate }) satisfies z.ZodType<HiddenStatesOptions>;
export const logitsSchema = z.strictObject(truncate) satisfies z.ZodType<LogitsOptions>;
export const encodeSchema = z.strictObject({
  layer: layerRef.optional(),
  pooling: z.enum(['mean', 'last', 'cls', 'marker']).optional(),
  marker: z.number().int().nonnegative().optional(),
  normalize: z.boolean().optional(),
  batchSize: z.number().int().min(1).optional(),
  ...truncate,
}) satisfies z.ZodType<EncodeOptions>;
export const encodeLayersSchema = encodeSchema.omit({ layer: true }).extend({ layers: z.array(layerRef).min(1) }) satisfies z.ZodType<EncodeLayersOptions>;
