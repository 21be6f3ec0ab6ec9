/**
 * Hugging Face `config.json` for the families lmrec runs: Llama-style decoders (Llama, Qwen2,
 * Mistral) and BERT-style encoders. Validated with zod; anything outside what the runtime
 * implements is rejected by name rather than run wrongly. A field the file leaves out takes
 * the default of the transformers config class, as it does when transformers loads the file.
 */
import path from 'node:path';
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { readTextFile } from '../util/read-text.js';

const positiveInt = z.number().int().positive();

const decoderSchema = z.object({
  model_type: z.enum(['llama', 'qwen2', 'mistral']),
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.optional(),
  head_dim: positiveInt.nullish(),
  vocab_size: positiveInt,
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().optional(),
  rope_parameters: z.object({ rope_theta: z.number().positive().optional(), rope_type: z.string().optional() }).passthrough().nullish(),
  rope_scaling: z.object({ rope_type: z.string().optional(), type: z.string().optional() }).passthrough().nullish(),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  hidden_act: z.string().default('silu'),
  max_position_embeddings: positiveInt.optional(),
  // undefined = absent from the file (the class default applies), null = no window
  sliding_window: z.number().nullish(),
  use_sliding_window: z.boolean().default(false),
  max_window_layers: z.number().int().nonnegative().default(28),
  layer_types: z.array(z.string()).nullish(),
});

/**
 * transformers' defaults for a config.json without `max_position_embeddings` (LlamaConfig,
 * Qwen2Config, MistralConfig), and Mistral's default sliding window.
 */
const DEFAULT_MAX_POSITIONS = { llama: 2048, qwen2: 32768, mistral: 131072 } as const;
const MISTRAL_DEFAULT_WINDOW = 4096;

const encoderSchema = z.object({
  model_type: z.literal('bert'),
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  vocab_size: positiveInt,
  max_position_embeddings: positiveInt.default(512),
  type_vocab_size: positiveInt.default(2),
  layer_norm_eps: z.number().positive().default(1e-12),
  hidden_act: z.string().default('gelu'),
  position_embedding_type: z.string().default('absolute'),
});

/** A Llama-style decoder's shape, read from its config.json. */
export interface DecoderConfig {
  /** A causal decoder: each token attends to those before it. */
  family: 'decoder';
  /** config.json's `model_type`. */
  modelType: 'llama' | 'qwen2' | 'mistral';
  /** Width of the hidden states (`hidden_size`). */
  hidden: number;
  /** Width of the MLP (`intermediate_size`). */
  intermediate: number;
  /** Number of decoder layers (`num_hidden_layers`). */
  layers: number;
  /** Query heads (`num_attention_heads`). */
  heads: number;
  /** Key/value heads (`num_key_value_heads`; fewer than `heads` is grouped-query attention). */
  kvHeads: number;
  /** Width of one head (`head_dim`, else hidden / heads). */
  headDim: number;
  /** Vocabulary size (`vocab_size`). */
  vocab: number;
  /** RMSNorm epsilon (`rms_norm_eps`). */
  eps: number;
  /** RoPE base (`rope_theta`). */
  ropeTheta: number;
  /** The LM head shares the token embeddings (`tie_word_embeddings`). */
  tiedEmbeddings: boolean;
  /** q/k/v projections have biases (always for Qwen2, else `attention_bias`). */
  qkvBias: boolean;
  /**
   * The longest input the model runs, in tokens: `max_position_embeddings`, bounded by the
   * sliding window where one applies (attention over at most the window's tokens is exactly
   * full attention, so within this bound no layer needs a window mask).
   */
  maxPositions: number;
}

/** A BERT-style encoder's shape, read from its config.json. */
export interface EncoderConfig {
  /** A bidirectional encoder: each token attends to all of the input. */
  family: 'encoder';
  /** config.json's `model_type`. */
  modelType: 'bert';
  /** Width of the hidden states (`hidden_size`). */
  hidden: number;
  /** Width of the MLP (`intermediate_size`). */
  intermediate: number;
  /** Number of encoder layers (`num_hidden_layers`). */
  layers: number;
  /** Attention heads (`num_attention_heads`). */
  heads: number;
  /** Vocabulary size (`vocab_size`). */
  vocab: number;
  /** The longest input the model runs, in tokens: the rows of its position table (`max_position_embeddings`). */
  maxPositions: number;
  /** Token types (`type_vocab_size`); lmrec uses type 0. */
  typeVocab: number;
  /** LayerNorm epsilon (`layer_norm_eps`). */
  eps: number;
  /** The MLP's activation (`hidden_act`): the exact, erf GELU. */
  act: 'gelu';
}

/** What lmrec read from a model's config.json. */
export type ModelConfig = DecoderConfig | EncoderConfig;

function unsupported(what: string): LmrecError {
  return new LmrecError(what, 'UNSUPPORTED');
}

/**
 * A parsed config.json: INVALID_ARGUMENT for a malformed one, UNSUPPORTED naming what lmrec
 * does not run (`where` names the file in messages).
 */
export function parseConfig(raw: unknown, where = 'config.json'): ModelConfig {
  const type = (raw as { model_type?: unknown } | null)?.model_type;
  if (type === 'bert') {
    const r = encoderSchema.safeParse(raw);
    if (!r.success) throw new LmrecError(`${where}: ${z.prettifyError(r.error)}`, 'INVALID_ARGUMENT');
    const c = r.data;
    if (c.position_embedding_type !== 'absolute') throw unsupported(`${where}: position_embedding_type '${c.position_embedding_type}' is not supported`);
    if (c.hidden_act !== 'gelu') throw unsupported(`${where}: hidden_act '${c.hidden_act}' is not supported (gelu is)`);
    if (c.hidden_size % c.num_attention_heads) throw new LmrecError(`${where}: hidden_size is not a multiple of num_attention_heads`, 'INVALID_ARGUMENT');
    return {
      family: 'encoder', modelType: 'bert', hidden: c.hidden_size, intermediate: c.intermediate_size, layers: c.num_hidden_layers,
      heads: c.num_attention_heads, vocab: c.vocab_size, maxPositions: c.max_position_embeddings, typeVocab: c.type_vocab_size,
      eps: c.layer_norm_eps, act: 'gelu',
    };
  }
  if (type !== 'llama' && type !== 'qwen2' && type !== 'mistral') {
    throw unsupported(`${where}: model_type '${String(type)}' is not supported; lmrec runs llama, qwen2, mistral and bert`);
  }
  const r = decoderSchema.safeParse(raw);
  if (!r.success) throw new LmrecError(`${where}: ${z.prettifyError(r.error)}`, 'INVALID_ARGUMENT');
  const c = r.data;
  const ropeType = c.rope_parameters?.rope_type ?? c.rope_scaling?.rope_type ?? c.rope_scaling?.type ?? 'default';
  if (ropeType !== 'default') throw unsupported(`${where}: rope type '${ropeType}' is not supported yet (only the default RoPE)`);
  if (c.hidden_act !== 'silu') throw unsupported(`${where}: hidden_act '${c.hidden_act}' is not supported (silu is)`);
  if (c.mlp_bias) throw unsupported(`${where}: mlp_bias is not supported`);
  const kvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % kvHeads) throw new LmrecError(`${where}: num_attention_heads is not a multiple of num_key_value_heads`, 'INVALID_ARGUMENT');
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim) || headDim % 2) throw new LmrecError(`${where}: head_dim must be an even integer`, 'INVALID_ARGUMENT');
  const window = slidingWindow(c, where);
  const maxPositions = c.max_position_embeddings ?? DEFAULT_MAX_POSITIONS[c.model_type];
  return {
    family: 'decoder', modelType: c.model_type, hidden: c.hidden_size, intermediate: c.intermediate_size, layers: c.num_hidden_layers,
    heads: c.num_attention_heads, kvHeads, headDim, vocab: c.vocab_size, eps: c.rms_norm_eps,
    ropeTheta: c.rope_parameters?.rope_theta ?? c.rope_theta ?? 10000, tiedEmbeddings: c.tie_word_embeddings,
    // Qwen2 always has q/k/v biases; Llama and Mistral only with attention_bias.
    qkvBias: c.model_type === 'qwen2' || c.attention_bias,
    maxPositions: window === undefined ? maxPositions : Math.min(maxPositions, window),
  };
}

/**
 * The sliding window some layer attends through, as transformers decides it: from
 * `layer_types` when given; else Mistral's `sliding_window` (default 4096); else Qwen2's when
 * `use_sliding_window` is set and some layer is at or past `max_window_layers`. Llama has none.
 */
function slidingWindow(c: z.infer<typeof decoderSchema>, where: string): number | undefined {
  let applies: boolean;
  const types = c.layer_types;
  if (types) {
    const other = types.find((t) => t !== 'full_attention' && t !== 'sliding_attention');
    if (other !== undefined) throw unsupported(`${where}: layer type '${other}' is not supported`);
    applies = types.includes('sliding_attention');
  } else if (c.model_type === 'mistral') {
    if (c.sliding_window === undefined) return MISTRAL_DEFAULT_WINDOW;
    applies = c.sliding_window !== null;
  } else {
    applies = c.model_type === 'qwen2' && c.use_sliding_window && c.sliding_window != null && c.max_window_layers < c.num_hidden_layers;
  }
  if (!applies) return undefined;
  const window = c.sliding_window;
  if (!(Number.isInteger(window) && window! > 0)) {
    throw new LmrecError(`${where}: a sliding window applies, but sliding_window is ${String(window)}`, 'INVALID_ARGUMENT');
  }
  return window!;
}

/** `dir/config.json`, parsed; IO_ERROR when missing, CORRUPT_FILE when not JSON. */
export function readConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  const text = readTextFile(file);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new LmrecError(`cannot read '${file}': ${(e as Error).message}`, 'CORRUPT_FILE');
  }
  return parseConfig(raw, file);
}
