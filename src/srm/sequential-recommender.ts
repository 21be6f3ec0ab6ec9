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
import { evaluate, type Metrics, type Scorer, type Split } from '../eval/leave-one-out.js';
import { native, type NativeSrm, type NativeTrainOptions, type NativeTrainReport } from '../native.js';

export interface SrmShapeOptions {
  /** Embedding width (and feed-forward width). Default 64. */
  dim?: number;
  /** Self-attention blocks. Default 2. */
  blocks?: number;
  /** Attention heads (must divide dim). Default 1. */
  heads?: number;
  /** Most recent events the model reads. Default 200. */
  maxLen?: number;
}

export interface SrmTrainOptions {
  lr?: number;
  weightDecay?: number;
  dropout?: number;
  batchSize?: number;
  /** 'auto' (default): full softmax up to 20,000 items, sampled softmax beyond. */
  loss?: 'full' | 'sampled' | 'auto';
  negatives?: number;
  samplePower?: number;
  /** Full softmax: bound on the logits held at once. Default 8 MiB. */
  logitsBytes?: number;
  seed?: number;
  /** Threads for training and batched scoring; default all cores. */
  threads?: number;
}

export interface SrmFitOptions extends SrmShapeOptions, SrmTrainOptions {
  /** Most epochs. Default 200 with validation, else 20. */
  epochs?: number;
  /** Validation splits for early stopping on NDCG@10; the best epoch's weights are kept. */
  valid?: Split[];
  /** Epochs without a better validation NDCG@10 before stopping. Default 5. */
  patience?: number;
  /** Initial item embeddings [items x dim], e.g. compressed LM vectors. */
  itemEmbeddings?: Float32Array;
  onEpoch?: (report: EpochReport) => void;
}

export interface EpochReport {
  epoch: number;
  loss: number;
  seconds: number;
  /** Training windows (sequences of up to maxLen + 1 events) per second. */
  sequencesPerSecond: number;
  eventsPerSecond: number;
  valid?: Metrics;
  best: boolean;
}

export interface ScoreResult {
  scores: Float32Array;
  /** History items outside the catalog, skipped. */
  ignored: number;
  /** Candidates outside the catalog; they score -Infinity. */
  unknownCandidates: number;
  /** 'popularity' when the history was empty after skipping unknown items. */
  fallback: 'popularity' | null;
}

export interface TopKResult {
  items: Int32Array;
  scores: Float32Array;
  ignored: number;
  fallback: 'popularity' | null;
}

export interface UpdateOptions extends SrmTrainOptions {
  /** Trailing events of each sequence that are new (the loss covers them). Default 1. */
  fresh?: number;
  /** Passes over the fresh data. Default 1. */
  passes?: number;
}

export interface UpdateReport extends NativeTrainReport {
  ignored: number;
}

/** Catalogs up to this size train with full softmax under loss: 'auto'. */
const FULL_SOFTMAX_MAX_ITEMS = 20_000;

export class SequentialRecommender {
  readonly #native: NativeSrm;
  /** Items 0..items-1 this model knows. */
  readonly items: number;
  /** Per epoch of the last fit. */
  readonly history: EpochReport[] = [];
  // Popularity counts and the items ranked by them, for the empty-history fallback; fetched
  // from the native model once and dropped when update() changes the counts.
  #pop: { counts: Float32Array; order: Int32Array } | undefined;

  private constructor(n: NativeSrm) {
    this.#native = n;
    this.items = n.info().items;
  }

  /** Trains a new model on training sequences (one per user, oldest first). */
  static async fit(train: ArrayLike<number>[], items: number, options: SrmFitOptions = {}): Promise<SequentialRecommender> {
    if (!Number.isInteger(items) || items < 1) throw new LmrecError(`items must be a positive integer, got ${items}`, 'INVALID_ARGUMENT');
    const n = new native.NativeSrm({
      items,
      dim: options.dim,
      blocks: options.blocks,
      heads: options.heads,
      maxLen: options.maxLen,
      seed: options.seed,
    });
    const model = new SequentialRecommender(n);
    const data = toCsr(train, items, 'training sequences');
    if (data.ignored > 0) {
      throw new LmrecError(`the training sequences hold ${data.ignored} items outside the catalog of ${items}`, 'UNKNOWN_ID');
    }
    if (options.itemEmbeddings) n.setItemEmbeddings(options.itemEmbeddings);
    n.countPopularity(data.items, data.offsets, true);
    const train_ = trainOptions(options, items);
    const valid = options.valid;
    const epochs = options.epochs ?? (valid ? 200 : 20);
    const patience = options.patience ?? 5;
    let best = -Infinity;
    let sinceBest = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
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
      };
      if (valid && valid.length > 0) {
        report.valid = await evaluate(valid, items, model.scorer(), [10]);
        const ndcg = report.valid['NDCG@10']!;
        if (ndcg > best) {
          best = ndcg;
          sinceBest = 0;
          report.best = true;
          n.checkpoint();
        } else sinceBest++;
      }
      model.history.push(report);
      options.onEpoch?.(report);
      if (valid && sinceBest >= patience) break;
    }
    if (valid && valid.length > 0) n.restore();
    return model;
  }

  /** Loads a model written by save(); the file's checksum is verified. */
  static async load(path: string): Promise<SequentialRecommender> {
    return new SequentialRecommender(await native.NativeSrm.load(path));
  }

  /** Writes the model atomically (temp file + rename) with a checksum. */
  save(path: string): Promise<void> {
    return this.#native.save(path);
  }

  get info(): ReturnType<NativeSrm['info']> {
    return this.#native.info();
  }

  /** Occurrences of each item in training (and updates): the empty-history fallback. */
  popularity(): Float32Array {
    return this.#popularity().counts.slice();
  }

  #popularity(): { counts: Float32Array; order: Int32Array } {
    if (!this.#pop) {
      const counts = this.#native.popularity();
      const order = Int32Array.from(counts.keys()).sort((a, b) => counts[b]! - counts[a]! || a - b);
      this.#pop = { counts, order };
    }
    return this.#pop;
  }

  /** Scores of the candidates as the next item after the history (higher is better). */
  score(history: ArrayLike<number>, candidates: ArrayLike<number>): ScoreResult {
    const h = this.#known(history);
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
    const s = known.length > 0 ? this.#native.score(h.items, Int32Array.from(known)) : new Float32Array(0);
    s.forEach((v, j) => (scores[slot[j]!] = v));
    return { scores, ignored: h.ignored, unknownCandidates, fallback: null };
  }

  /** The k best next items (best first), excluding the history's items unless asked not to. */
  topK(history: ArrayLike<number>, k: number, options: { excludeHistory?: boolean } = {}): TopKResult {
    if (!Number.isInteger(k) || k < 1) throw new LmrecError(`k must be a positive integer, got ${k}`, 'INVALID_K');
    const exclude = options.excludeHistory ?? true;
    const h = this.#known(history);
    if (h.items.length > 0) return { ...this.#native.topK(h.items, k, exclude), ignored: h.ignored, fallback: null };
    const { counts, order } = this.#popularity();
    const items = order.slice(0, k);
    return { items, scores: Float32Array.from(items, (i) => counts[i]!), ignored: h.ignored, fallback: 'popularity' };
  }

  /** Scores of every item after each history: one row of `items` scores per history. */
  async scoreAll(histories: ArrayLike<number>[], options: { threads?: number } = {}): Promise<Float32Array> {
    const rows = new Float32Array(histories.length * this.items);
    const cleaned = histories.map((h) => this.#known(h).items);
    const runnable = cleaned.flatMap((h, i) => (h.length > 0 ? [i] : []));
    if (runnable.length < histories.length) {
      const pop = this.#popularity().counts;
      cleaned.forEach((h, i) => h.length === 0 && rows.set(pop, i * this.items));
    }
    if (runnable.length > 0) {
      const csr = toCsr(runnable.map((i) => cleaned[i]!), this.items, 'histories');
      const scores = await this.#native.scoreAll(csr.items, csr.offsets, { threads: options.threads });
      runnable.forEach((i, j) => rows.set(scores.subarray(j * this.items, (j + 1) * this.items), i * this.items));
    }
    return rows;
  }

  /** A scorer for evaluate(). */
  scorer(): Scorer {
    return (splits) => this.scoreAll(splits.map((s) => s.history));
  }

  /**
   * A few training passes on fresh data without a full retrain: each sequence is a user's
   * recent history ending with its `fresh` new events, which become targets and count
   * towards popularity. Requests keep being served while it runs.
   */
  async update(sequences: ArrayLike<number>[], options: UpdateOptions = {}): Promise<UpdateReport> {
    const fresh = options.fresh ?? 1;
    const passes = options.passes ?? 1;
    if (!Number.isInteger(fresh) || fresh < 1) throw new LmrecError(`fresh must be a positive integer, got ${fresh}`, 'INVALID_ARGUMENT');
    if (!Number.isInteger(passes) || passes < 1) throw new LmrecError(`passes must be a positive integer, got ${passes}`, 'INVALID_ARGUMENT');
    const cleaned = sequences.map((s) => this.#known(s));
    const ignored = cleaned.reduce((a, c) => a + c.ignored, 0);
    const csr = toCsr(cleaned.map((c) => c.items), this.items, 'update sequences');
    const tails = toCsr(cleaned.map((c) => c.items.subarray(Math.max(0, c.items.length - fresh))), this.items, 'update sequences');
    const report = await this.#native.trainRecent(csr.items, csr.offsets, fresh, trainOptions(options, this.items), passes);
    this.#native.countPopularity(tails.items, tails.offsets, false);
    this.#pop = undefined;
    return { ...report, ignored };
  }

  /** The native model, for tests and tools that need its parameters. */
  get native(): NativeSrm {
    return this.#native;
  }

  #known(history: ArrayLike<number>): { items: Int32Array; ignored: number } {
    const keep: number[] = [];
    for (let i = 0; i < history.length; i++) if (isItem(history[i]!, this.items)) keep.push(history[i]!);
    return { items: Int32Array.from(keep), ignored: history.length - keep.length };
  }
}

function trainOptions(o: SrmTrainOptions, items: number): NativeTrainOptions {
  const loss = o.loss === undefined || o.loss === 'auto' ? (items <= FULL_SOFTMAX_MAX_ITEMS ? 'full' : 'sampled') : o.loss;
  return {
    lr: o.lr,
    weightDecay: o.weightDecay,
    dropout: o.dropout,
    batchSize: o.batchSize,
    loss,
    negatives: o.negatives,
    samplePower: o.samplePower,
    logitsBytes: o.logitsBytes,
    seed: o.seed,
    threads: o.threads,
  };
}

function isItem(x: number, items: number): boolean {
  return Number.isInteger(x) && x >= 0 && x < items;
}

/** Flattens sequences; counts items that are not integers in [0, items). */
function toCsr(seqs: ArrayLike<number>[], items: number, what: string): { items: Int32Array; offsets: Float64Array; ignored: number } {
  let total = 0;
  for (const s of seqs) total += s.length;
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
