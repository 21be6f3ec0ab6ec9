/**
 * A trained decoder as a Hugging Face directory, and back. Export writes what transformers and
 * LanguageModel load (`config.json`, `model.safetensors`, `tokenizer.json`,
 * `tokenizer_config.json`), plus lmrec's own parts beside them: the item heads in
 * `item_head.safetensors` and `lmrec.json` (the catalog's item ids in head order, how behaviour
 * was written as text). The directory is built under a temporary name and swapped in: a crash
 * leaves the old model or the new one at `dir` (or, killed between the swap's two renames, the
 * old one at `dir.old-<pid>`, which the next export restores), never a mix.
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { writeDecoderCheckpoint } from '../lm/checkpoint-writer.js';
import { INFO_FILE, ITEM_HEAD_FILE, readModelInfo, type LmrecModelInfo } from '../lm/model-info.js';
import { readConfig, type DecoderConfig } from '../lm/config.js';
import { Safetensors, writeSafetensors, type SafetensorsDtype } from '../lm/safetensors.js';
import type { TokenizerFiles } from '../lm/tokenizer-trainer.js';
import type { NativeLlamaShape, NativeLmTrainer } from '../addon/lm-trainer.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { prepareTarget, swapDirectory } from '../util/directory-swap.js';
import { readTextFile } from '../util/read-text.js';

export type { LmrecModelInfo };

function decoderConfig(shape: Required<Omit<NativeLlamaShape, 'seed'>>): DecoderConfig {
  return {
    family: 'decoder',
    modelType: 'llama',
    hidden: shape.dim,
    intermediate: shape.ffn,
    layers: shape.layers,
    heads: shape.heads,
    kvHeads: shape.kvHeads,
    headDim: shape.dim / shape.heads,
    vocab: shape.vocab,
    eps: shape.normEps,
    ropeTheta: shape.ropeTheta,
    tiedEmbeddings: shape.tied,
    qkvBias: false,
    maxPositions: shape.maxPositions,
  };
}

/**
 * Writes the trainer's weights (as `dtype`; the item heads stay F32), the tokenizer and
 * lmrec.json as the model directory `dir`.
 */
export function exportModel(
  trainer: NativeLmTrainer,
  dir: string,
  tokenizer: TokenizerFiles,
  info: LmrecModelInfo,
  dtype: SafetensorsDtype = 'F32',
): void {
  dir = path.resolve(dir); // 'out/' must not put the temp directory inside the target
  prepareTarget(dir, 'config.json', 'a model');
  const shape = trainer.info();
  const params = trainer.params();
  const tensors = new Map(trainer.layout().map((t) => [t.name, params.subarray(t.offset, t.offset + t.rows * t.cols)]));
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    writeDecoderCheckpoint(tmp, decoderConfig(shape), (name, dims) => {
      const t = tensors.get(name);
      const size = dims.reduce((a, b) => a * b, 1);
      if (!t || t.length !== size) throw new LmrecError(`the trainer has no tensor '${name}' of ${size} values`, 'INTERNAL');
      return t;
    }, dtype);
    if (shape.items) {
      const heads = trainer.layout().filter((t) => t.name === 'item_head.weight' || t.name.startsWith('aux_item_heads.'));
      writeSafetensors(path.join(tmp, ITEM_HEAD_FILE), heads.map((t) => ({ name: t.name, shape: [t.rows, t.cols], data: tensors.get(t.name)! })));
    }
    for (const [file, text] of Object.entries(tokenizer)) writeFileAtomic(path.join(tmp, file), text);
    writeFileAtomic(path.join(tmp, INFO_FILE), JSON.stringify({ ...info, auxHeads: shape.auxHeads }, null, 1));
    swapDirectory(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof LmrecError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new LmrecError(`cannot write the model to '${dir}': ${err.message}`, 'IO_ERROR');
  }
}

/** A Llama-style model directory, read for training: its shape, tensors, tokenizer and lmrec.json. */
export interface ImportedModel {
  shape: Required<Omit<NativeLlamaShape, 'seed'>>;
  tensors: Map<string, Float32Array>;
  tokenizer: TokenizerFiles;
  info: LmrecModelInfo | undefined;
  /** The token ids that open and close a sequence (lmrec.json's, else config.json's). */
  bos: number;
  eos: number;
}

function tokenId(config: Record<string, unknown>, key: string): number | undefined {
  const v = config[key];
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/**
 * Reads a model directory to continue training it. The trainer runs Llama's architecture:
 * Llama and Mistral directories (no biases) load; Qwen2's q/k/v biases are UNSUPPORTED.
 */
export function importModel(dir: string): ImportedModel {
  const c = readConfig(dir);
  if (c.family !== 'decoder') throw new LmrecError(`'${dir}' is an encoder; lmrec trains decoders only`, 'UNSUPPORTED');
  if (c.qkvBias) throw new LmrecError(`'${dir}' has attention biases (${c.modelType}); lmrec's trainer runs Llama's architecture, without them`, 'UNSUPPORTED');
  if (c.headDim * c.heads !== c.hidden) throw new LmrecError(`'${dir}' has head_dim x heads != hidden_size, which the trainer does not support`, 'UNSUPPORTED');
  const tokenizerFile = path.join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerFile)) throw new LmrecError(`'${dir}' has no tokenizer.json; training needs the model's tokenizer`, 'NO_TOKENIZER');
  const configFile = path.join(dir, 'tokenizer_config.json');
  const tokenizer: TokenizerFiles = {
    'tokenizer.json': readTextFile(tokenizerFile),
    'tokenizer_config.json': existsSync(configFile) ? readTextFile(configFile) : '{}',
  };
  const info = readModelInfo(dir);
  const raw = JSON.parse(readTextFile(path.join(dir, 'config.json'))) as Record<string, unknown>;
  const bos = info?.bos ?? tokenId(raw, 'bos_token_id');
  const eos = info?.eos ?? tokenId(raw, 'eos_token_id') ?? bos;
  if (bos === undefined || eos === undefined) {
    throw new LmrecError(`'${dir}' names no bos_token_id in config.json (nor lmrec.json): lmrec needs it to write behaviour as text`, 'UNSUPPORTED');
  }
  const weights = Safetensors.open(dir);
  const tensors = new Map<string, Float32Array>();
  for (const name of weights.names()) tensors.set(name, weights.get(name));
  const headFile = path.join(dir, ITEM_HEAD_FILE);
  let items = 0;
  if (existsSync(headFile)) {
    const heads = Safetensors.openFile(headFile);
    for (const name of heads.names()) tensors.set(name, heads.get(name));
    items = heads.info('item_head.weight').shape[0]!;
    if (info?.items && info.items.length !== items) {
      throw new LmrecError(`'${path.join(dir, INFO_FILE)}' lists ${info.items.length} items, the item head has ${items} rows`, 'CORRUPT_FILE');
    }
  }
  return {
    shape: {
      vocab: c.vocab,
      dim: c.hidden,
      layers: c.layers,
      heads: c.heads,
      kvHeads: c.kvHeads,
      ffn: c.intermediate,
      maxPositions: c.maxPositions,
      items,
      auxHeads: info?.auxHeads ?? 0,
      tied: c.tiedEmbeddings,
      ropeTheta: c.ropeTheta,
      normEps: c.eps,
    },
    tensors,
    tokenizer,
    info,
    bos,
    eos,
  };
}

/** Item heads are lmrec's own: a directory may lack them (a new head starts), never the language model's tensors. */
export const isItemHead = (name: string) => name.startsWith('item_head.') || name.startsWith('aux_item_heads.');

/**
 * The trainer's parameters filled from `tensors` by name, shapes checked. With `partial`,
 * tensors the map lacks keep `fallback`'s values (a student initialised from part of a
 * teacher); without it, only item heads may be missing, and a missing language-model tensor
 * is CORRUPT_FILE rather than a silently random weight.
 */
export function fillParams(
  trainer: NativeLmTrainer,
  tensors: Map<string, Float32Array>,
  fallback: Float32Array,
  partial = false,
): Float32Array {
  const params = Float32Array.from(fallback);
  for (const t of trainer.layout()) {
    const v = tensors.get(t.name);
    if (!v) {
      if (partial || isItemHead(t.name)) continue;
      throw new LmrecError(`the model has no tensor '${t.name}', which its config.json implies`, 'CORRUPT_FILE');
    }
    if (v.length !== t.rows * t.cols) {
      throw new LmrecError(`tensor '${t.name}' holds ${v.length} values, the model's shape needs ${t.rows * t.cols}`, 'DIM_MISMATCH');
    }
    params.set(v, t.offset);
  }
  return params;
}
