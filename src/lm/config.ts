/**
 * Hugging Face `config.json` for the families lmrec runs: Llama-style decoders (Llama, Qwen2,
 * Mistral) and BERT-style encoders. Validated with zod; anything outside what the runtime
 * implements is rejected by name rather than run wrongly.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { LmrecError } from '../errors.js';

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
  sliding_window: z.number().nullish(),
  use_sliding_window: z.boolean().optional(),
});

const encoderSchema = z.object({
  model_type: z.literal('bert'),
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  vocab_size: positiveInt,
  max_position_embeddings: positiveInt,
  type_vocab_size: positiveInt.default(2),
  layer_norm_eps: z.number().positive().default(1e-12),
  hidden_act: z.string().default('gelu'),
  position_embedding_type: z.string().default('absolute'),
});

export interface DecoderConfig {
  family: 'decoder';
  modelType: 'llama' | 'qwen2' | 'mistral';
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  eps: number;
  ropeTheta: number;
  tiedEmbeddings: boolean;
  qkvBias: boolean;
}

export interface EncoderConfig {
  family: 'encoder';
  modelType: 'bert';
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  vocab: number;
  maxPositions: number;
  typeVocab: number;
  eps: number;
  act: 'gelu';
}

export type ModelConfig = DecoderConfig | EncoderConfig;

function unsupported(what: string): LmrecError {
  return new LmrecError(what, 'UNSUPPORTED');
}

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
  if (c.use_sliding_window) throw unsupported(`${where}: sliding-window attention is not supported`);
  if (c.mlp_bias) throw unsupported(`${where}: mlp_bias is not supported`);
  const kvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % kvHeads) throw new LmrecError(`${where}: num_attention_heads is not a multiple of num_key_value_heads`, 'INVALID_ARGUMENT');
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim) || headDim % 2) throw new LmrecError(`${where}: head_dim must be an even integer`, 'INVALID_ARGUMENT');
  return {
    family: 'decoder', modelType: c.model_type, hidden: c.hidden_size, intermediate: c.intermediate_size, layers: c.num_hidden_layers,
    heads: c.num_attention_heads, kvHeads, headDim, vocab: c.vocab_size, eps: c.rms_norm_eps,
    ropeTheta: c.rope_parameters?.rope_theta ?? c.rope_theta ?? 10000, tiedEmbeddings: c.tie_word_embeddings,
    // Qwen2 always has q/k/v biases; Llama and Mistral only with attention_bias.
    qkvBias: c.model_type === 'qwen2' || c.attention_bias,
  };
}

export function readConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'IO_ERROR' : 'CORRUPT_FILE';
    throw new LmrecError(`cannot read '${file}': ${(e as Error).message}`, code);
  }
  return parseConfig(raw, file);
}
