/**
 * Writes Hugging Face model directories (config.json + model.safetensors) in the layouts the
 * runtime loads. The caller supplies the values; tests and benchmarks use random ones, and a
 * trained model will use its own.
 */
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { DecoderConfig, EncoderConfig } from './config.js';
import { writeSafetensors, type SafetensorsDtype, type TensorToWrite } from './safetensors.js';

/** What a tensor is for, so a source can pick a sensible scale (norm weights near 1, ...). */
export type TensorKind = 'embedding' | 'matrix' | 'bias' | 'norm-weight' | 'norm-bias';
/**
 * The values of each tensor, asked for by its Hugging Face name, shape and kind.
 * @param name The tensor's name, e.g. 'model.layers.0.self_attn.q_proj.weight' (without an encoder's 'bert.' prefix).
 * @param shape Its dimensions, outermost first: return their product of floats, row-major.
 * @param kind What it is for, to choose a scale.
 */
export type TensorSource = (name: string, shape: number[], kind: TensorKind) => Float32Array;

function writeDirectory(dir: string, config: object, tensors: TensorToWrite[]): void {
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(config, null, 1)); // creates dir
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
}

/**
 * Writes `dir/config.json` and `dir/model.safetensors` for a Llama-style decoder of shape `c`,
 * tensors stored as `dtype`, in the layout transformers writes (and LanguageModel loads).
 * @param dir The model directory (created if missing; its files are replaced).
 * @param c The decoder's shape and Hugging Face config fields.
 * @param source Gives each tensor's values.
 * @param dtype How the tensors are stored: 'F32' (default), 'F16' or 'BF16'.
 */
export function writeDecoderCheckpoint(dir: string, c: DecoderConfig, source: TensorSource, dtype: SafetensorsDtype = 'F32'): void {
  const H = c.hidden;
  const tensors: TensorToWrite[] = [];
  const add = (name: string, shape: number[], kind: TensorKind) => tensors.push({ name, shape, data: source(name, shape, kind), dtype });
  add('model.embed_tokens.weight', [c.vocab, H], 'embedding');
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [H], 'norm-weight');
    add(`${p}self_attn.q_proj.weight`, [c.heads * c.headDim, H], 'matrix');
    add(`${p}self_attn.k_proj.weight`, [c.kvHeads * c.headDim, H], 'matrix');
    add(`${p}self_attn.v_proj.weight`, [c.kvHeads * c.headDim, H], 'matrix');
    if (c.qkvBias) {
      add(`${p}self_attn.q_proj.bias`, [c.heads * c.headDim], 'bias');
      add(`${p}self_attn.k_proj.bias`, [c.kvHeads * c.headDim], 'bias');
      add(`${p}self_attn.v_proj.bias`, [c.kvHeads * c.headDim], 'bias');
    }
    add(`${p}self_attn.o_proj.weight`, [H, c.heads * c.headDim], 'matrix');
    add(`${p}post_attention_layernorm.weight`, [H], 'norm-weight');
    add(`${p}mlp.gate_proj.weight`, [c.intermediate, H], 'matrix');
    add(`${p}mlp.up_proj.weight`, [c.intermediate, H], 'matrix');
    add(`${p}mlp.down_proj.weight`, [H, c.intermediate], 'matrix');
  }
  add('model.norm.weight', [H], 'norm-weight');
  if (!c.tiedEmbeddings) add('lm_head.weight', [c.vocab, H], 'matrix');
  const arch = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', mistral: 'MistralForCausalLM' }[c.modelType];
  writeDirectory(dir, {
    model_type: c.modelType, architectures: [arch], hidden_size: H, intermediate_size: c.intermediate, num_hidden_layers: c.layers,
    num_attention_heads: c.heads, num_key_value_heads: c.kvHeads, head_dim: c.headDim, vocab_size: c.vocab, rms_norm_eps: c.eps,
    rope_theta: c.ropeTheta, tie_word_embeddings: c.tiedEmbeddings, hidden_act: 'silu', max_position_embeddings: c.maxPositions,
    // maxPositions already holds any window's bound
    ...(c.modelType === 'mistral' ? { sliding_window: null } : {}),
    ...(c.modelType !== 'qwen2' && c.qkvBias ? { attention_bias: true } : {}),
  }, tensors);
}

/**
 * Writes `dir/config.json` and `dir/model.safetensors` for a BERT-style encoder of shape `c`
 * (fp32). `legacyNames`: name tensors as BertFor* checkpoints do ('bert.' prefix, LayerNorm
 * gamma/beta).
 * @param dir The model directory (created if missing; its files are replaced).
 * @param c The encoder's shape and Hugging Face config fields.
 * @param source Gives each tensor's values.
 * @param legacyNames Name the tensors as BertFor* checkpoints do (default false).
 */
export function writeEncoderCheckpoint(dir: string, c: EncoderConfig, source: TensorSource, legacyNames = false): void {
  const H = c.hidden;
  const prefix = legacyNames ? 'bert.' : '';
  const tensors: TensorToWrite[] = [];
  const add = (name: string, shape: number[], kind: TensorKind) =>
    tensors.push({ name: `${prefix}${name}`, shape, data: source(name, shape, kind) });
  const norm = (name: string) => {
    add(`${name}.${legacyNames ? 'gamma' : 'weight'}`, [H], 'norm-weight');
    add(`${name}.${legacyNames ? 'beta' : 'bias'}`, [H], 'norm-bias');
  };
  const dense = (name: string, out: number, inp: number) => {
    add(`${name}.weight`, [out, inp], 'matrix');
    add(`${name}.bias`, [out], 'bias');
  };
  add('embeddings.word_embeddings.weight', [c.vocab, H], 'embedding');
  add('embeddings.position_embeddings.weight', [c.maxPositions, H], 'embedding');
  add('embeddings.token_type_embeddings.weight', [c.typeVocab, H], 'embedding');
  norm('embeddings.LayerNorm');
  for (let l = 0; l < c.layers; l++) {
    const p = `encoder.layer.${l}.`;
    dense(`${p}attention.self.query`, H, H);
    dense(`${p}attention.self.key`, H, H);
    dense(`${p}attention.self.value`, H, H);
    dense(`${p}attention.output.dense`, H, H);
    norm(`${p}attention.output.LayerNorm`);
    dense(`${p}intermediate.dense`, c.intermediate, H);
    dense(`${p}output.dense`, H, c.intermediate);
    norm(`${p}output.LayerNorm`);
  }
  writeDirectory(dir, {
    model_type: 'bert', architectures: ['BertModel'], hidden_size: H, num_attention_heads: c.heads, intermediate_size: c.intermediate,
    num_hidden_layers: c.layers, vocab_size: c.vocab, max_position_embeddings: c.maxPositions, type_vocab_size: c.typeVocab,
    layer_norm_eps: c.eps, hidden_act: 'gelu',
  }, tensors);
}
