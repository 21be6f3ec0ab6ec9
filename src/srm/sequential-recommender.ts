/**
 * The small sequential recommender (SRM): SASRec trained natively (native/core/srm) with
 * full-softmax cross-entropy, or sampled softmax with logQ correction for large catalogs.
 * Items are dense integers 0..items-1 (an IdMap gives them); a history is a user's items,
 * oldest first.
 *
 * Documented fallbacks, never crashes:
 *  - history items outside the catalog are skipped and counted (`ignored`);
 *  - an empty history (after skipping) is scored by training popularity (`fallback`);
 *  - candidates outside the catalog score -Infinity and are counted (`unknownCandidates`).
 */
import { LmrecError } from '../errors.js';
import { evaluate, type Scorer } from '../eval/leave-one-out.js';
import { native } from '../addon/loader.js';
import type { NativeSrm, NativeTrainOptions, SrmInfo } from '../addon/srm.js';
import type { SrmTrainOptions, SrmFitOptions, StopReason, EpochReport, SrmScoreResult, SrmTopKResult, SrmUpdateOptions, SrmUpdateReport } from './options.js';

export type { SrmInfo };
export * from './options.js';

/** Catalogs up to this size train with full softmax under loss: 'auto'. */
const FULL_SOFTMAX_MAX_ITEMS = 20_000;

// The native model behind each instance, for tools and tests (nativeOf); not on the class so
// that the public type does not expose it.
const natives = new WeakMap<SequentialRecommender, NativeSrm>();

export class SequentialRecommender {
  #native: NativeSrm | undefined;
  #items: number;
  /** Per epoch of the last fit. */
  readonly history: EpochReport[] = [];
  /** Why the last fit stopped (undefined for a loaded model). */
  stopReason: StopReason | undefined;
  // Popularity counts and the items ranked by them, for the empty-history fallback; fetched
  // from the native model once and dropped when update() changes the counts.
  #pop: { counts: Float32Array; order: Int32Array } | undefined;

  private constructor(n: NativeSrm) {
    this.#native = n;
    natives.set(this, n);
    this.#items = n.info().items;
  }

  /** Items 0..items-1 this model knows (grows with addItems). */
  get items(): number {
    return this.#items;
  }

  /**
   * Trains a new model on training sequences (one per user, oldest first).
   * @param train Training sequences, one per user: item numbers 0..items-1, oldest first; at least one of 2 or more events.
   * @param items Catalog size, a positive integer.
   * @param options Shape, training, validation, budget and item features (see SrmFitOptions).
   */
  static async fit(train: ArrayLike<number>[], items: number, options: SrmFitOptions = {}): Promise<SequentialRecommender> {
    if (!Number.isInteger(items) || items < 1) throw new LmrecError(`items must be a positive integer, got ${items}`, 'INVALID_ARGUMENT');
    if (!Array.isArray(train)) throw new LmrecError('the training sequences must be an array of item arrays', 'INVALID_ARGUMENT');
    if (typeof options !== 'object' || options === null) throw new LmrecError('fit options must be an object', 'INVALID_ARGUMENT');
    const data = toCsr(train, items, 'training sequences');
    if (data.ignored > 0) {
      throw new LmrecError(`the training sequences hold ${data.ignored} items outside the catalog of ${items}`, 'UNKNOWN_ID');
    }
    if (!train.some((seq) => seq.length >= 2)) {
      throw new LmrecError('nothing to train on: no training sequence has 2 or more events', 'INVALID_ARGUMENT');
    }
    const valid = options.valid;
    if (valid !== undefined && (!Array.isArray(valid) || valid.length === 0)) {
      throw new LmrecError('valid must be a non-empty array of splits (leave it out to train without validation)', 'INVALID_ARGUMENT');
    }
    const epochs = options.epochs === 0 ? 0 : (positiveInt(options.epochs, 'epochs') ?? (valid ? 200 : 20));
    const patience = positiveInt(options.patience, 'patience') ?? 5;
    const validateEvery = positiveInt(options.validateEvery, 'validateEvery') ?? 1;
    const maxSeconds = options.maxSeconds;
    if (maxSeconds !== undefined && !(typeof maxSeconds === 'number' && maxSeconds > 0)) {
      throw new LmrecError(`maxSeconds must be a positive number, got ${String(maxSeconds)}`, 'INVALID_ARGUMENT');
    }
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new LmrecError('signal must be an AbortSignal', 'INVALID_ARGUMENT');
    const train_ = trainOptions(options, items);
    const f = options.itemFeatures;
    if (f !== undefined && !(f.vectors instanceof Float32Array && Number.isInteger(f.width) && f.width >= 1 && f.vectors.length === items * f.width)) {
      throw new LmrecError(`itemFeatures must hold items x width floats (${items} x ${String(f.width)}) in a Float32Array`, 'DIM_MISMATCH');
    }
    const n = new native.NativeSrm({
      items,
      dim: options.dim,
      blocks: options.blocks,
      heads: options.heads,
      maxLen: options.maxLen,
      seed: options.seed,
      ...(f && { codeIn: f.width, codeDim: f.codeDim ?? 64, codeHidden: f.hidden ?? 0, codeInt8: f.int8 ?? true }),
    });
    const model = new SequentialRecommender(n);
    if (options.itemEmbeddings) n.setItemEmbeddings(options.itemEmbeddings);
    n.countPopularity(data.items, data.offsets, true);
    if (f) {
      // items with training events have an ID embedding; the others only their code
      const warm = new Uint8Array(items);
      for (const it of data.items) warm[it] = 1;
      n.setIdMask(warm);
      n.setFeatures(f.vectors);
    }

    let stop: StopReason | undefined;
    const cancel = (reason: StopReason): void => {
      stop ??= reason;
      n.cancel();
    };
    const onAbort = (): void => cancel('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) cancel('aborted');
    // the budget cuts an epoch only once one has ended: a model with no epoch behind it is no model
    let epochsDone = 0;
    let budgetSpent = false;
    const timer =
      maxSeconds === undefined
        ? undefined
        : setTimeout(() => {
            budgetSpent = true;
            if (epochsDone > 0) cancel('time-budget');
          }, maxSeconds * 1000);
    let best = -Infinity;
    let sinceBest = 0;
    let checkpointed = false;
    try {
      for (let epoch = 0; epoch < epochs && !stop; epoch++) {
        const t0 = performance.now();
        const r = await n.trainEpoch(data.items, data.offsets, train_, epoch);
        const seconds = (performance.now() - t0) / 1000;
        const report: EpochReport = {
          epoch,
          loss: r.loss,
          seconds,
          sequencesPerSecond: r.windows / seconds,
          eventsPerSecond: r.targets / seconds,
          best: !valid,
          partial: r.cancelled,
        };
        // A cut epoch is not validated: the best validated weights are restored below.
        if (valid && !r.cancelled && ((epoch + 1) % validateEvery === 0 || epoch === epochs - 1)) {
          report.valid = await evaluate(valid, items, model.scorer(), [10]);
          const ndcg = report.valid['NDCG@10']!;
          if (ndcg > best) {
            best = ndcg;
            sinceBest = 0;
            report.best = true;
            n.checkpoint();
            checkpointed = true;
          } else if (++sinceBest >= patience) {
            stop ??= 'early-stopping';
          }
        }
        model.history.push(report);
        options.onEpoch?.(report);
        epochsDone++;
        if (budgetSpent) stop ??= 'time-budget';
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    if (checkpointed) n.restore();
    if (f) n.dropFeatures(); // the codes are kept; the features are the caller's (and large)
    model.stopReason = stop ?? 'epochs';
    return model;
  }

  /**
   * Loads a model written by save(); the file's checksum is verified.
   * @param path A file written by save().
   */
  static async load(path: string): Promise<SequentialRecommender> {
    if (typeof path !== 'string' || path.length === 0) throw new LmrecError('load needs a file path', 'INVALID_ARGUMENT');
    return new SequentialRecommender(await native.NativeSrm.load(path));
  }

  /**
   * Writes the model atomically (temp file + fsync + rename) with a checksum.
   * @param path The file to write (replaced if it exists).
   */
  async save(path: string): Promise<void> {
    return this.#live().save(path);
  }

  /** The model's shape, its code settings and the optimiser steps taken. */
  get info(): SrmInfo {
    return this.#live().info();
  }

  /** Occurrences of each item in training (and updates): the empty-history fallback. */
  popularity(): Float32Array {
    return this.#popularity().counts.slice();
  }

  #popularity(): { counts: Float32Array; order: Int32Array } {
    const n = this.#live();
    if (!this.#pop) {
      const counts = n.popularity();
      const order = Int32Array.from(counts.keys()).sort((a, b) => counts[b]! - counts[a]! || a - b);
      this.#pop = { counts, order };
    }
    return this.#pop;
  }

  /**
   * Scores of the candidates as the next item after the history (higher is better).
   * @param history Item numbers, oldest first (numbers outside the catalog are skipped and counted).
   * @param candidates Item numbers to score, in the order the scores come back.
   */
  score(history: ArrayLike<number>, candidates: ArrayLike<number>): SrmScoreResult {
    const h = this.#known(history);
    checkArrayLike(candidates, 'candidates');
    const known: number[] = [];
    const slot: number[] = [];
    for (let i = 0; i < candidates.length; i++) {
      if (isItem(candidates[i]!, this.items)) {
        known.push(candidates[i]!);
        slot.push(i);
      }
    }
    const scores = new Float32Array(candidates.length).fill(-Infinity);
    const unknownCandidates = candidates.length - known.length;
    if (h.items.length === 0) {
      const pop = this.#popularity().counts;
      known.forEach((c, j) => (scores[slot[j]!] = pop[c]!));
      return { scores, ignored: h.ignored, unknownCandidates, fallback: 'popularity' };
    }
    const s = known.length > 0 ? this.#live().score(h.items, Int32Array.from(known)) : new Float32Array(0);
    s.forEach((v, j) => (scores[slot[j]!] = v));
    return { scores, ignored: h.ignored, unknownCandidates, fallback: null };
  }

  /**
   * The k best next items (best first), excluding the history's items unless asked not to:
   * min(k, eligible items) of them.
   * @param history Item numbers, oldest first (numbers outside the catalog are skipped and counted).
   * @param k How many, a positive integer.
   * @param options What to leave out.
   * @param options.excludeHistory Leave out the history's items (default true).
   */
  topK(history: ArrayLike<number>, k: number, options: { excludeHistory?: boolean } = {}): SrmTopKResult {
    if (!Number.isInteger(k) || k < 1) throw new LmrecError(`k must be a positive integer, got ${k}`, 'INVALID_K');
    const exclude = options.excludeHistory ?? true;
    const h = this.#known(history);
    if (h.items.length > 0) {
      const r = this.#live().topK(h.items, k, exclude);
      return { ids: Array.from(r.items), scores: Array.from(r.scores), ignored: h.ignored, fallback: null };
    }
    const { counts, order } = this.#popularity();
    const ids = Array.from(order.subarray(0, k));
    return { ids, scores: ids.map((i) => counts[i]!), ignored: h.ignored, fallback: 'popularity' };
  }

  /**
   * Scores of every item after each history, off the JS thread: one row of `items` scores per
   * history, concatenated.
   * @param histories Item-number histories, oldest first; an empty one (after skipping unknown items) gets the popularity counts.
   * @param options Threads.
   * @param options.threads Threads to score on, 1..1024 (default all cores).
   */
  async scoreBatch(histories: ArrayLike<number>[], options: { threads?: number } = {}): Promise<Float32Array> {
    if (!Array.isArray(histories)) throw new LmrecError('histories must be an array of item arrays', 'INVALID_ARGUMENT');
    const n = this.#live();
    const width = this.items;
    const rows = new Float32Array(histories.length * width);
    const cleaned = histories.map((h) => this.#known(h).items);
    const runnable = cleaned.flatMap((h, i) => (h.length > 0 ? [i] : []));
    if (runnable.length < histories.length) {
      const pop = this.#popularity().counts;
      cleaned.forEach((h, i) => h.length === 0 && rows.set(pop, i * width));
    }
    if (runnable.length > 0) {
      const csr = toCsr(runnable.map((i) => cleaned[i]!), width, 'histories');
      const scores = await n.scoreAll(csr.items, csr.offsets, { threads: options.threads });
      if (scores.length !== runnable.length * width) throw new LmrecError('items were added while scoring; score again', 'BUSY');
      runnable.forEach((i, j) => rows.set(scores.subarray(j * width, (j + 1) * width), i * width));
    }
    return rows;
  }

  /** A scorer for evaluate(). */
  scorer(): Scorer {
    return (splits) => this.scoreBatch(splits.map((s) => s.history));
  }

  /**
   * A few training passes on fresh data without a full retrain: each sequence is a user's
   * recent history ending with its `fresh` new events, which become targets and count
   * towards popularity. Requests keep being served while it runs; a second concurrent
   * update (or fit step) is refused with BUSY.
   * @param sequences Users' recent histories, oldest first, each ending with its new events.
   * @param options How many events are new, the passes, and training options (see SrmUpdateOptions).
   */
  async update(sequences: ArrayLike<number>[], options: SrmUpdateOptions = {}): Promise<SrmUpdateReport> {
    if (!Array.isArray(sequences)) throw new LmrecError('update sequences must be an array of item arrays', 'INVALID_ARGUMENT');
    const fresh = options.fresh ?? 1;
    const passes = options.passes ?? 1;
    if (!Number.isInteger(fresh) || fresh < 1) throw new LmrecError(`fresh must be a positive integer, got ${fresh}`, 'INVALID_ARGUMENT');
    if (!Number.isInteger(passes) || passes < 1) throw new LmrecError(`passes must be a positive integer, got ${passes}`, 'INVALID_ARGUMENT');
    const n = this.#live();
    const cleaned = sequences.map((s) => this.#known(s));
    const ignored = cleaned.reduce((a, c) => a + c.ignored, 0);
    const csr = toCsr(cleaned.map((c) => c.items), this.items, 'update sequences');
    const tails = toCsr(cleaned.map((c) => c.items.subarray(Math.max(0, c.items.length - fresh))), this.items, 'update sequences');
    const report = await n.trainRecent(csr.items, csr.offsets, fresh, trainOptions(options, this.items), passes);
    n.countPopularity(tails.items, tails.offsets, false);
    this.#pop = undefined;
    return { loss: report.loss, steps: report.steps, windows: report.windows, targets: report.targets, ignored };
  }

  /**
   * The item embeddings scoring uses (items x dim): with a compression module, ID embedding
   * (where the item has one) + projected code. A history's score for item i is
   * `userVector(history) · itemVectors()[i]`.
   */
  itemVectors(): Float32Array {
    return this.#live().itemVectors();
  }

  /**
   * itemVectors() written into `out` (items x dim floats) off the JS thread, with no new array:
   * for callers that copy the vectors often (the Recommender after every update). Leave `out`
   * alone until the promise settles. DIM_MISMATCH unless `out` holds items x dim floats.
   * @param out items x dim floats to write into.
   */
  async itemVectorsInto(out: Float32Array): Promise<void> {
    if (!(out instanceof Float32Array)) throw new LmrecError('out must be a Float32Array', 'INVALID_ARGUMENT');
    return this.#live().itemVectorsInto(out);
  }

  /** The item codes (items x codeDim, values in [-1, 1], multiples of 1/127 when int8); undefined without a compression module. */
  codes(): Float32Array | undefined {
    return this.info.codeDim > 0 ? this.#live().codes() : undefined;
  }

  /**
   * codes() written into `out` (items x codeDim floats) off the JS thread: computing every
   * item's code takes long enough on a large catalog to stall a server. Leave `out` alone until
   * the promise settles. DIM_MISMATCH unless `out` holds items x codeDim floats; UNSUPPORTED
   * without a compression module.
   * @param out items x codeDim floats to write into.
   */
  async codesInto(out: Float32Array): Promise<void> {
    if (!(out instanceof Float32Array)) throw new LmrecError('out must be a Float32Array', 'INVALID_ARGUMENT');
    if (this.info.codeDim === 0) throw new LmrecError('this model has no compression module: it has no codes', 'UNSUPPORTED');
    return this.#live().codesInto(out);
  }

  /** Which items have an ID embedding (1) rather than only their code (0). */
  idMask(): Uint8Array {
    return this.#live().idMask();
  }

  /**
   * The model's state after a history (dim floats), or undefined when it holds no known item.
   * @param history Item numbers, oldest first (numbers outside the catalog are skipped).
   */
  userVector(history: ArrayLike<number>): Float32Array | undefined {
    const h = this.#known(history);
    if (h.items.length === 0) return undefined;
    return this.#live().userVectors(h.items, Float64Array.of(0, h.items.length));
  }

  /**
   * Adds items from their features (n x codeIn floats): compressed by the trained module and
   * scored by their code until they get events. Returns their item numbers. Needs the
   * training slot: BUSY while a fit or update runs.
   * @param features n x codeIn floats: the new items' features, scaled as the training features were.
   */
  async addItems(features: Float32Array): Promise<number[]> {
    const n = this.#live();
    const first = this.#items;
    await n.addItems(features);
    this.#items = n.info().items;
    this.#pop = undefined;
    return Array.from({ length: this.#items - first }, (_, i) => first + i);
  }

  /**
   * Gives items an ID embedding (from zero) once they have events, so updates can learn it.
   * @param items Item numbers (with no ID embedding yet; items that have one keep it).
   */
  warmItems(items: ArrayLike<number>): void {
    checkArrayLike(items, 'items');
    this.#live().warmItems(Int32Array.from(items));
  }

  /**
   * Frees the model's memory now rather than at garbage collection. Work in flight finishes
   * first; any later call fails with CLOSED.
   */
  async close(): Promise<void> {
    this.#native?.close();
    this.#native = undefined;
    this.#pop = undefined;
  }

  #live(): NativeSrm {
    if (!this.#native) throw new LmrecError('this model was closed', 'CLOSED');
    return this.#native;
  }

  #known(history: ArrayLike<number>): { items: Int32Array; ignored: number } {
    checkArrayLike(history, 'history');
    const keep: number[] = [];
    for (let i = 0; i < history.length; i++) if (isItem(history[i]!, this.items)) keep.push(history[i]!);
    return { items: Int32Array.from(keep), ignored: history.length - keep.length };
  }
}

/** The native model behind a recommender: for tools and tests, not part of the package entry. */
export function nativeOf(model: SequentialRecommender): NativeSrm {
  const n = natives.get(model);
  if (!n) throw new LmrecError('not a SequentialRecommender', 'INVALID_ARGUMENT');
  return n;
}

function positiveInt(v: number | undefined, name: string): number | undefined {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new LmrecError(`${name} must be a positive integer, got ${String(v)}`, 'INVALID_ARGUMENT');
  return v;
}

function checkArrayLike(v: unknown, name: string): void {
  if (v === null || typeof v !== 'object' || typeof (v as { length?: unknown }).length !== 'number') {
    throw new LmrecError(`${name} must be an array (or typed array) of item numbers`, 'INVALID_ARGUMENT');
  }
}

function trainOptions(o: SrmTrainOptions, items: number): NativeTrainOptions {
  const loss = o.loss === undefined || o.loss === 'auto' ? (items <= FULL_SOFTMAX_MAX_ITEMS ? 'full' : 'sampled') : o.loss;
  return {
    lr: o.lr,
    beta1: o.beta1,
    beta2: o.beta2,
    weightDecay: o.weightDecay,
    dropout: o.dropout,
    batchSize: o.batchSize,
    loss,
    negatives: o.negatives,
    samplePower: o.samplePower,
    logitsBytes: o.logitsBytes,
    seed: o.seed,
    threads: o.threads,
    codeNoise: o.codeNoise,
    idDropout: o.idDropout,
  };
}

function isItem(x: number, items: number): boolean {
  return Number.isInteger(x) && x >= 0 && x < items;
}

/** Flattens sequences; counts items that are not integers in [0, items). */
function toCsr(seqs: ArrayLike<number>[], items: number, what: string): { items: Int32Array; offsets: Float64Array; ignored: number } {
  let total = 0;
  for (const [i, s] of seqs.entries()) {
    checkArrayLike(s, `${what}[${i}]`);
    total += s.length;
  }
  if (total >= 2 ** 31) throw new LmrecError(`${what} hold 2^31 events or more`, 'REQUEST_TOO_LARGE');
  const flat = new Int32Array(total);
  const offsets = new Float64Array(seqs.length + 1);
  let at = 0;
  let ignored = 0;
  seqs.forEach((s, i) => {
    for (let j = 0; j < s.length; j++) {
      const x = s[j]!;
      if (!isItem(x, items)) {
        ignored++;
        continue;
      }
      flat[at++] = x;
    }
    offsets[i + 1] = at;
  });
  return { items: flat.subarray(0, at), offsets, ignored };
}
