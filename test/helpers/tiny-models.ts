/** Writes small random Hugging Face model directories for tests. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeDecoderCheckpoint, writeEncoderCheckpoint, type TensorKind, type TensorSource } from '../../src/lm/checkpoint-writer.js';
import type { DecoderConfig, EncoderConfig } from '../../src/lm/config.js';
import type { SafetensorsDtype } from '../../src/lm/safetensors.js';
import { Random } from '../../src/util/random.js';

export interface TinyDecoderOptions {
  modelType?: 'llama' | 'qwen2' | 'mistral';
  hidden?: number;
  intermediate?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  vocab?: number;
  /** max_position_embeddings (default 64). */
  maxPositions?: number;
  tied?: boolean;
  dtype?: SafetensorsDtype;
  seed?: number;
}

/** Random values scaled so activations stay in a useful range through a few layers. */
function randomSource(seed: number, scales: Omit<Record<TensorKind, number>, 'norm-weight'>): TensorSource {
  const rng = new Random(seed);
  return (_name, shape, kind) =>
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () =>
      kind === 'norm-weight' ? 1 + 0.1 * rng.normal() : rng.normal() * scales[kind],
    );
}

export function writeTinyDecoder(dir: string, o: TinyDecoderOptions = {}): DecoderConfig {
  const hidden = o.hidden ?? 32;
  const heads = o.heads ?? 4;
  const modelType = o.modelType ?? 'llama';
  const config: DecoderConfig = {
    family: 'decoder', modelType, hidden, intermediate: o.intermediate ?? 48, layers: o.layers ?? 3, heads,
    kvHeads: o.kvHeads ?? 2, headDim: hidden / heads, vocab: o.vocab ?? 61, eps: 1e-6, ropeTheta: 10000,
    tiedEmbeddings: o.tied ?? false, qkvBias: modelType === 'qwen2', maxPositions: o.maxPositions ?? 64,
  };
  const source = randomSource(o.seed ?? 1, { embedding: 3 / Math.sqrt(hidden), matrix: 0.2, bias: 0.2, 'norm-bias': 0 });
  writeDecoderCheckpoint(dir, config, source, o.dtype ?? 'F32');
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

export function writeTinyEncoder(dir: string, o: TinyEncoderOptions = {}): EncoderConfig {
  const config: EncoderConfig = {
    family: 'encoder', modelType: 'bert', hidden: o.hidden ?? 32, intermediate: o.intermediate ?? 64, layers: o.layers ?? 3,
    heads: o.heads ?? 4, vocab: o.vocab ?? 61, maxPositions: o.maxPositions ?? 40, typeVocab: 2, eps: 1e-12, act: 'gelu',
  };
  const source = randomSource(o.seed ?? 1, { embedding: 0.5, matrix: 0.2, bias: 0.1, 'norm-bias': 0.1 });
  writeEncoderCheckpoint(dir, config, source, o.legacyNames ?? false);
  return config;
}
