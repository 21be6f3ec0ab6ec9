/**
 * The item head of a model lmrec trained (`pretrain`, `distill`): one row per catalog item,
 * scored against the final-normed state at the end of a user's history, as the trainer's
 * next-item loss reads it. Loaded from `item_head.safetensors`, `lmrec.json` (the items, in row
 * order) and the model's final norm weight, so a history's last-layer state from
 * `LanguageModel` or `LateInteraction` scores the whole catalog exactly as training did.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { native } from '../addon/loader.js';
import { readConfig } from './config.js';
import { ITEM_HEAD_FILE, readModelInfo } from './model-info.js';
import { Safetensors } from './safetensors.js';

export class ItemHead {
  /** Catalog item ids, in row order: scores()[i] is items[i]'s. */
  readonly items: readonly string[];
  /** Width of the states it reads: the model's hidden size. */
  readonly dim: number;
  readonly #weight: Float32Array; // items x dim
  readonly #norm: Float32Array; // the final RMSNorm's gain
  readonly #eps: number;

  private constructor(items: string[], weight: Float32Array, norm: Float32Array, eps: number) {
    this.items = items;
    this.dim = norm.length;
    this.#weight = weight;
    this.#norm = norm;
    this.#eps = eps;
  }

  /**
   * The item head of model directory `dir`; UNSUPPORTED when the model has none.
   * @param dir A model directory written by pretrain or distill.
   */
  static async load(dir: string): Promise<ItemHead> {
    const file = path.join(dir, ITEM_HEAD_FILE);
    const info = readModelInfo(dir);
    if (!existsSync(file) || !info?.items) throw new LmrecError(`'${dir}' has no item head (lmrec pretrain trains one for a catalog)`, 'UNSUPPORTED');
    const config = readConfig(dir);
    if (config.family !== 'decoder') throw new LmrecError(`'${dir}' is an encoder; item heads read a decoder's final state`, 'UNSUPPORTED');
    const H = config.hidden;
    const head = Safetensors.openFile(file);
    if (!head.has('item_head.weight')) throw new LmrecError(`'${file}' holds no item_head.weight`, 'CORRUPT_FILE');
    const shape = head.info('item_head.weight').shape;
    if (shape.length !== 2 || shape[1] !== H || shape[0] !== info.items.length) {
      throw new LmrecError(`'${file}': item_head.weight is [${shape.join(', ')}], lmrec.json and config.json need [${info.items.length}, ${H}]`, 'CORRUPT_FILE');
    }
    const weights = Safetensors.open(dir);
    if (!weights.has('model.norm.weight')) throw new LmrecError(`'${dir}' has no model.norm.weight (the final norm the head reads after)`, 'CORRUPT_FILE');
    return new ItemHead(info.items, head.get('item_head.weight'), weights.get('model.norm.weight', [H]), config.eps);
  }

  /**
   * Scores of every item after each of `n` states [n x dim] taken after the last layer,
   * before the final norm (LateInteraction.encodeUser's, LanguageModel's layer L): [n x items].
   * With `rows`, only those rows' scores, in their order: [n x rows.length] (a re-ranking
   * stage needs 50 of a catalog's rows, not all of them).
   * @param states n x dim floats, row after row.
   * @param n How many states (default 1).
   * @param rows Row numbers (items' places in `items`) to score instead of every row.
   */
  scores(states: Float32Array, n = 1, rows?: readonly number[]): Float32Array {
    const H = this.dim;
    if (!(states instanceof Float32Array) || !Number.isInteger(n) || n < 1 || states.length !== n * H) {
      throw new LmrecError(`states must be a Float32Array of ${n} x ${H} values`, 'DIM_MISMATCH');
    }
    const normed = new Float32Array(n * H);
    for (let r = 0; r < n; r++) {
      let ss = 0;
      for (let j = 0; j < H; j++) ss += states[r * H + j]! ** 2;
      const rstd = 1 / Math.sqrt(ss / H + this.#eps);
      for (let j = 0; j < H; j++) normed[r * H + j] = states[r * H + j]! * rstd * this.#norm[j]!;
    }
    if (rows) {
      const out = new Float32Array(n * rows.length);
      rows.forEach((row, j) => {
        if (!Number.isInteger(row) || row < 0 || row >= this.items.length) throw new LmrecError(`row ${row} is not one of the head's ${this.items.length}`, 'INVALID_ARGUMENT');
        for (let r = 0; r < n; r++) {
          let dot = 0;
          for (let k = 0; k < H; k++) dot += normed[r * H + k]! * this.#weight[row * H + k]!;
          out[r * rows.length + j] = dot;
        }
      });
      return out;
    }
    const out = new Float32Array(n * this.items.length);
    native.sgemm(undefined, n, this.items.length, H, 1, normed, false, this.#weight, true, 0, out, 1);
    return out;
  }
}
