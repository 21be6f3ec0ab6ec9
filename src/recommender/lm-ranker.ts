/**
 * A model lmrec trained on a catalog (`pretrain`; tuned for late interaction with
 * `localLayers`), served as a ranker: a history is written as text the way the model learned it
 * (its template, separator, BOS, context), read with late interaction — each event's bottom
 * layers from the segment cache, the top layers over the concatenation — and the item head
 * scores the catalog at the end of it. `Recommender.rerank` takes it as its LM stage.
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import type { ItemRecord } from '../data/records.js';
import { readConfig } from '../lm/config.js';
import { ItemHead } from '../lm/item-head.js';
import { LanguageModel } from '../lm/language-model.js';
import { LateInteraction } from '../lm/late-interaction.js';
import { readModelInfo } from '../lm/model-info.js';
import type { Precision } from '../lm/onnx/ops.js';
import { SegmentCache } from '../lm/segment-cache.js';
import { loadTokenizer } from '../lm/tokenizer.js';
import { historySegments, type BehaviourEncoder } from '../pretrain/behaviour-corpus.js';
import { behaviourEncoder } from '../pretrain/behaviour-data.js';
import { renderItemTexts } from '../text/item-template.js';
import { parseOptions } from '../util/options.js';

export interface LmRankerOptions {
  /** The layer late interaction splits at. Default: the one the model was tuned for (lmrec.json's localLayers). */
  splitLayer?: number;
  /** Where segment states are kept (default: a 256 MiB fp16 cache of the ranker's own). */
  cache?: SegmentCache;
  /** onnxruntime threads. */
  threads?: number;
  /** Matrix products in 'fp32' (default) or 'int8' (weights per output channel, activations per call): faster, scores slightly moved. */
  precision?: Precision;
}

const optionsSchema = z.strictObject({
  splitLayer: z.number().int().min(1).optional(),
  cache: z.instanceof(SegmentCache).optional(),
  threads: z.number().int().min(1).optional(),
  precision: z.enum(['fp32', 'int8']).optional(),
});

export class LmRanker {
  readonly #lm: LanguageModel;
  readonly #li: LateInteraction;
  readonly #head: ItemHead;
  readonly #encoder: BehaviourEncoder;
  readonly #number: Map<string, number>; // catalog id -> index into the encoder's texts
  readonly #row: Map<string, number>; // catalog id -> item-head row

  private constructor(lm: LanguageModel, li: LateInteraction, head: ItemHead, encoder: BehaviourEncoder, number: Map<string, number>) {
    this.#lm = lm;
    this.#li = li;
    this.#head = head;
    this.#encoder = encoder;
    this.#number = number;
    this.#row = new Map(head.items.map((id, r) => [id, r]));
  }

  /**
   * The model in `dir` over `catalog` (the records whose texts histories are written with; the
   * items its head scores are lmrec.json's). UNSUPPORTED for a model without an item head or
   * one not tuned for late interaction when no splitLayer is given.
   * @param dir A model directory lmrec trained with an item head (pretrain, distill).
   * @param catalog Item records (non-empty): their texts write histories with the model's template.
   * @param options The split layer, the segment cache, onnxruntime threads and the precision of the matrix products.
   */
  static async load(dir: string, catalog: readonly ItemRecord[], options: LmRankerOptions = {}): Promise<LmRanker> {
    const o = parseOptions(optionsSchema, options, 'LmRanker.load');
    const info = readModelInfo(dir);
    const head = await ItemHead.load(dir);
    const split = o.splitLayer ?? info?.localLayers;
    if (split === undefined) {
      throw new LmrecError(`'${dir}' was not tuned for late interaction (lmrec pretrain --local-layers); give splitLayer to serve it anyway`, 'UNSUPPORTED');
    }
    const tokenizer = loadTokenizer(dir);
    if (!tokenizer) throw new LmrecError(`'${dir}' has no tokenizer.json: histories cannot be written as text`, 'NO_TOKENIZER');
    if (!Array.isArray(catalog) || catalog.length === 0) throw new LmrecError('the catalog must be a non-empty array of item records', 'INVALID_ARGUMENT');
    const { texts } = renderItemTexts(catalog, info!.template);
    const number = new Map(catalog.map((it, i) => [it.id, i]));
    const plain = behaviourEncoder({ texts }, tokenizer, { bos: info!.bos, eos: info!.eos, context: info!.context ?? 256, separator: info!.separator });
    // each text is tokenized once, not on every request (~50 µs a title: a 20-event history
    // spent ~1 ms of the stage's JS-thread time on it); at most the catalog's texts and the separator
    const tokens = new Map<string, number[]>();
    const encoder: BehaviourEncoder = {
      ...plain,
      tokenizer: {
        encode: (text) => {
          let ids = tokens.get(text);
          if (!ids) tokens.set(text, (ids = plain.tokenizer.encode(text)));
          return ids;
        },
      },
    };
    const layers = readConfig(dir).layers;
    if (!Number.isInteger(split) || split < 1 || split >= layers) {
      throw new LmrecError(`splitLayer must be an integer from 1 to ${layers - 1}, got ${String(split)}`, 'INVALID_ARGUMENT');
    }
    // blocks must end at the split: the largest block size dividing both parts
    const lm = await LanguageModel.load(dir, { precision: o.precision ?? 'fp32', blockSize: gcd(split, layers - split), ...(o.threads ? { threads: o.threads } : {}) });
    try {
      const li = new LateInteraction(lm, { splitLayer: split, ...(o.cache ? { cache: o.cache } : {}) });
      return new LmRanker(lm, li, head, encoder, number);
    } catch (e) {
      await lm.close();
      throw e;
    }
  }

  /** Item ids the head scores, in the order of `scores()` without candidates. */
  get items(): readonly string[] {
    return this.#head.items;
  }

  /**
   * Whether a history may hold the item (the ranker has its text).
   * @param id The item's id.
   */
  readable(id: string): boolean {
    return this.#number.has(id);
  }

  /**
   * Whether the item head has a row for the item (it was in the catalog the model learned).
   * @param id The item's id.
   */
  scorable(id: string): boolean {
    return this.#row.has(id);
  }

  /** The layer late interaction splits at. */
  get splitLayer(): number {
    return this.#li.splitLayer;
  }

  /** Where the segments' states are kept. */
  get cache(): SegmentCache {
    return this.#li.cache;
  }

  /**
   * Item-head scores after `history` (item ids, oldest first; the most recent that fit the
   * model's context are read): of `candidates` in their order, or of every item in `items`.
   * @param history Item ids the ranker can read (UNKNOWN_ID otherwise), oldest first, at least one.
   * @param candidates Item ids with a head row (UNKNOWN_ID otherwise); absent: every item of `items`.
   */
  async scores(history: readonly string[], candidates?: readonly string[]): Promise<Float32Array> {
    if (!Array.isArray(history) || history.length === 0) throw new LmrecError('history must be a non-empty array of item ids', 'INVALID_ARGUMENT');
    const numbers = Int32Array.from(history, (id) => {
      const n = this.#number.get(id);
      if (n === undefined) throw new LmrecError(`item '${String(id)}' is not in the ranker's catalog`, 'UNKNOWN_ID');
      return n;
    });
    const rows = candidates?.map((id) => {
      const r = this.#row.get(id);
      if (r === undefined) throw new LmrecError(`item '${String(id)}' has no row in the model's item head (it was trained without it)`, 'UNKNOWN_ID');
      return r;
    });
    return this.#head.scores(await this.#li.encodeUser(historySegments(numbers, this.#encoder)), 1, rows);
  }

  async close(): Promise<void> {
    this.#li.close();
    await this.#lm.close();
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
