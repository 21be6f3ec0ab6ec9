/** Writes small random Hugging Face model directories for tests. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeSafetensors, type SafetensorsDtype, type TensorToWrite } from '../../src/lm/safetensors.js';
import { Random } from '../../src/util/random.js';

export interface TinyDecoderOptions {
  modelType?: 'llama' | 'qwen2' | 'mistral';
  hidden?: number;
  intermediate?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  vocab?: number;
  tied?: boolean;
  dtype?: SafetensorsDtype;
  seed?: number;
}

export function writeTinyDecoder(dir: string, o: TinyDecoderOptions = {}): Record<string, unknown> {
  const hidden = o.hidden ?? 32;
  const heads = o.heads ?? 4;
  const kvHeads = o.kvHeads ?? 2;
  const headDim = hidden / heads;
  const intermediate = o.intermediate ?? 48;
  const layers = o.layers ?? 3;
  const vocab = o.vocab ?? 61;
  const modelType = o.modelType ?? 'llama';
  const tied = o.tied ?? false;
  const rng = new Random(o.seed ?? 1);
  const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
  const t = (name: string, shape: number[], scale = 0.2): TensorToWrite => ({
    name,
    shape,
    data: scale === 1 ? Float32Array.from({ length: shape[0]! }, () => 1 + 0.1 * rng.normal()) : rand(shape.reduce((a, b) => a * b, 1), scale),
    dtype: o.dtype ?? 'F32',
  });
  const tensors: TensorToWrite[] = [t('model.embed_tokens.weight', [vocab, hidden], 1 / Math.sqrt(hidden) * 3)];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      t(`${p}input_layernorm.weight`, [hidden], 1),
      t(`${p}self_attn.q_proj.weight`, [heads * headDim, hidden]),
      t(`${p}self_attn.k_proj.weight`, [kvHeads * headDim, hidden]),
      t(`${p}self_attn.v_proj.weight`, [kvHeads * headDim, hidden]),
      t(`${p}self_attn.o_proj.weight`, [hidden, heads * headDim]),
      t(`${p}post_attention_layernorm.weight`, [hidden], 1),
      t(`${p}mlp.gate_proj.weight`, [intermediate, hidden]),
      t(`${p}mlp.up_proj.weight`, [intermediate, hidden]),
      t(`${p}mlp.down_proj.weight`, [hidden, intermediate]),
    );
    if (modelType === 'qwen2') {
      tensors.push(
        t(`${p}self_attn.q_proj.bias`, [heads * headDim]),
        t(`${p}self_attn.k_proj.bias`, [kvHeads * headDim]),
        t(`${p}self_attn.v_proj.bias`, [kvHeads * headDim]),
      );
    }
  }
  tensors.push(t('model.norm.weight', [hidden], 1));
  if (!tied) tensors.push(t('lm_head.weight', [vocab, hidden]));
  const config = {
    model_type: modelType,
    architectures: [modelType === 'qwen2' ? 'Qwen2ForCausalLM' : modelType === 'mistral' ? 'MistralForCausalLM' : 'LlamaForCausalLM'],
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    vocab_size: vocab,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: tied,
    hidden_act: 'silu',
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return config;
}

/** Writes a small WordPiece tokenizer.json whose ids fit a vocabulary of `vocab`. */
export function writeTinyTokenizer(dir: string, words: string[]): void {
  const vocab: Record<string, number> = { '[UNK]': 0 };
  words.forEach((w, i) => (vocab[w] = i + 1));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
}

export interface TinyEncoderOptions {
  hidden?: number;
  heads?: number;
  intermediate?: number;
  layers?: number;
  vocab?: number;
  maxPositions?: number;
  /** Name tensors as a BertFor* checkpoint does ('bert.' prefix, LayerNorm gamma/beta). */
  legacyNames?: boolean;
  seed?: number;
}

export function writeTinyEncoder(dir: string, o: TinyEncoderOptions = {}): void {
  const H = o.hidden ?? 32;
  const heads = o.heads ?? 4;
  const I = o.intermediate ?? 64;
  const layers = o.layers ?? 3;
  const vocab = o.vocab ?? 61;
  const maxPositions = o.maxPositions ?? 40;
  const rng = new Random(o.seed ?? 1);
  const pre = o.legacyNames ? 'bert.' : '';
  const [w, b] = o.legacyNames ? ['gamma', 'beta'] : ['weight', 'bias'];
  const t = (name: string, shape: number[], scale = 0.2, offset = 0): TensorToWrite => ({
    name: `${pre}${name}`,
    shape,
    data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => offset + rng.normal() * scale),
  });
  const norm = (name: string) => [t(`${name}.${w}`, [H], 0.1, 1), t(`${name}.${b}`, [H], 0.1)];
  const dense = (name: string, out: number, inp: number) => [t(`${name}.weight`, [out, inp]), t(`${name}.bias`, [out], 0.1)];
  const tensors: TensorToWrite[] = [
    t('embeddings.word_embeddings.weight', [vocab, H], 0.5),
    t('embeddings.position_embeddings.weight', [maxPositions, H], 0.5),
    t('embeddings.token_type_embeddings.weight', [2, H], 0.5),
    ...norm('embeddings.LayerNorm'),
  ];
  for (let l = 0; l < layers; l++) {
    const p = `encoder.layer.${l}.`;
    tensors.push(
      ...dense(`${p}attention.self.query`, H, H),
      ...dense(`${p}attention.self.key`, H, H),
      ...dense(`${p}attention.self.value`, H, H),
      ...dense(`${p}attention.output.dense`, H, H),
      ...norm(`${p}attention.output.LayerNorm`),
      ...dense(`${p}intermediate.dense`, I, H),
      ...dense(`${p}output.dense`, H, I),
      ...norm(`${p}output.LayerNorm`),
    );
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      model_type: 'bert', architectures: ['BertModel'], hidden_size: H, num_attention_heads: heads, intermediate_size: I,
      num_hidden_layers: layers, vocab_size: vocab, max_position_embeddings: maxPositions, type_vocab_size: 2,
      layer_norm_eps: 1e-12, hidden_act: 'gelu',
    }),
  );
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
}
