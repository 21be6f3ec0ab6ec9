/**
 * The Recommender: MARC on lmrec's parts. Point it at a catalog and an event log; get
 * `recommend(user)` in about a millisecond, with items that were never clicked still
 * recommendable from their text.
 *
 *   item text --LM (frozen)--> pooled state at layer l --standardise--> features f_i
 *   code_i  = int8(tanh(compress(f_i)))                      (stored: codeDim bytes an item)
 *   e_i     = [item has training events] · id_i + code_i · Proj   (the SRM's item embedding)
 *   u       = SRM(history)                                   (SASRec over the user's items)
 *   score_i = u · e_i                                         (the SRM's next-item logit)
 *
 * Serving: the e_i sit in an int8 VectorIndex (inner product) with their fp32 originals. A
 * request scans the int8 codes for the top 4k candidates with filters applied while scanning
 * (seen items, an exclude list, field filters or a predicate: never over-fetching), then
 * re-scores them exactly in fp32, so the returned scores are score_i above. Users without a
 * known history get the items most often seen in training (`fallback: 'popularity'`, scores
 * are counts). `similar(i)` ranks items by cosine between their e_i.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { native } from '../native.js';
import { collectInteractions, IdMap } from '../data/interactions.js';
import { checkEventRecord, checkItemRecord } from '../data/limits.js';
import { readEvents, readItems, type EventRecord, type ItemRecord } from '../data/records.js';
import { evaluate, leaveOneOut, sampleSplits, type LeaveOneOut, type Metrics, type Scorer } from '../eval/leave-one-out.js';
import type { LateInteraction } from '../lm/late-interaction.js';
import { LanguageModel, type Pooling } from '../lm/language-model.js';
import { renderItemTexts, compileItemTemplate } from '../pretrain/behaviour-text.js';
import { DEFAULT_MODEL_DIR } from '../pretrain/pretrain.js';
import { SequentialRecommender, type SrmFitOptions, type StopReason } from '../srm/sequential-recommender.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { parseDuration } from '../util/duration.js';
import { parseOptions } from '../util/options.js';
import { readBytes, readTextFile } from '../util/read-text.js';
import { VectorIndex } from '../vector-index/vector-index.js';
import { Catalog, type FieldFilter } from './catalog.js';
import { ContentScores, type ContentState } from './content-scores.js';
import { chooseColdWeight, chooseFusionWeight, contentScorer } from '../eval/baselines.js';
import { TfidfVectors } from '../text/tfidf.js';
import { applyScaling, candidateLayers, encodeItemStates, fitScaling, type FeatureScaling } from './item-states.js';
import { probeLayers, type SweepRow } from './layer-sweep.js';
import { LmRanker } from './lm-ranker.js';
import { openRecommenderDir, writeRecommenderDir } from './recommender-files.js';

/** Where fit() is: each stage reports `done` of `total` units. */
export interface FitProgress {
  stage: 'reading' | 'encoding' | 'sweep' | 'training' | 'indexing';
  done: number;
  total: number;
  /** The layer being swept or trained. */
  layer?: number;
  /** Validation NDCG@10 of the last validated epoch or swept layer. */
  validNdcg?: number;
}

export interface RecommenderFitOptions {
  /**
   * The catalog: a JSONL/CSV file (id plus text fields) or the records, each
   * `{ id, fields: { title: '...', ... } }` (generateSynthetic's items are such records). Held to
   * the input limits (src/data/limits.ts) that `lmrec serve`'s store applies: ids of at most
   * 1,024 characters, at most 256 fields of 65,536 characters in all, no NUL or unpaired surrogate.
   */
  items: string | readonly ItemRecord[];
  /** The interactions: a JSONL/CSV file (user, item, optional ts) or the records; ids as for items. */
  events: string | readonly EventRecord[];
  /** The language model: 'default' (bundled), a Hugging Face directory, or a loaded model. Default 'default'. */
  model?: 'default' | string | LanguageModel;
  /** The layer whose states represent items, or 'auto' (default): the best of a layer sweep on validation. */
  layer?: 'auto' | number;
  /** Layers the sweep tries (default: every layer of a model up to 12 deep, else 8 spread to the last). */
  sweepLayers?: number[];
  /** Width of the stored item codes, 8..512. Default 64. */
  dim?: number;
  /** 'linear' (default) or 'mlp' (one hidden layer of 4 x dim units). */
  compression?: 'linear' | 'mlp';
  /** Item codes in int8, trained with it in the loop (default true), or fp32. */
  int8?: boolean;
  /** σ of the noise on codes in training (the information constraint). Default 0.05. */
  codeNoise?: number;
  /** Share of warm items whose ID embedding a training step leaves out, so codes learn to score alone (as cold items need). Default 0.25. */
  idDropout?: number;
  /** How an item's fields become its text, e.g. '{title} ({category})'. Default: its title, else every field. */
  template?: string;
  /**
   * Weight of the lexical part of the score (TF-IDF cosine of the user's recent items with
   * each item, see ContentScores) beside the SRM's: 'auto' (default) picks it on validation
   * from 0 to 32, and for items without training events a weight of their own, on warm and
   * cold validation targets alike; a number sets both; 0 turns it off.
   */
  content?: 'auto' | number;
  /**
   * How much cold validation targets count when the cold items' content weight is chosen:
   * (1 − e) · warm NDCG@10 + e · cold NDCG@10. 0.5 (default) counts them alike; lower shows
   * fewer cold items (better for warm targets), higher more.
   */
  coldEmphasis?: number;
  /** Pooling of the item text's states. Default 'mean'. */
  pooling?: Pooling;
  /** The SRM: width (default 64), blocks (2), heads (1), maxLen (50). */
  srm?: { dim?: number; blocks?: number; heads?: number; maxLen?: number; lr?: number; dropout?: number; batchSize?: number };
  /** Most epochs of the final training (default 200, early-stopped on validation NDCG@10). */
  epochs?: number;
  /** Validations without improvement before stopping. Default 5. */
  patience?: number;
  /** Time budget for the whole fit, e.g. '10m', '90s' or seconds; the best model so far is kept. */
  budget?: string | number;
  /** Stops at the next step; the best model found so far is returned (ABORTED if none was trained yet). */
  signal?: AbortSignal;
  onProgress?: (p: FitProgress) => void;
  /**
   * Evaluation protocols: items whose events are all removed from training (they are cold:
   * scored by their code alone). The validation and test targets stay as they are.
   */
  coldItems?: readonly string[];
  seed?: number;
  /** Threads for training; default all cores. */
  threads?: number;
}

/** What fit() measured. */
export interface FitReport {
  items: number;
  users: number;
  events: number;
  /** Events whose item is not in the catalog (skipped). */
  unknownEvents: number;
  /** Items without text (their features are the catalog's mean state). */
  itemsWithoutText: string[];
  /** Items without training events: scored by their code alone. */
  coldItems: number;
  layer: number;
  layers: number;
  /** Weight of the lexical part of the score for items with training events (0: off). */
  contentWeight: number;
  /** The same for items without (cold: their code alone beside it). */
  coldContentWeight: number;
  sweep: SweepRow[];
  /** Validation and test metrics, on at most 5,000 users (a seeded sample beyond). */
  valid: Metrics;
  test: Metrics;
  /** Users the validation and test metrics scored. */
  evaluatedUsers: number;
  stopReason: StopReason;
  seconds: number;
}

export interface ScoredItem {
  id: string;
  score: number;
}

/**
 * A ranking, as a plain object that serialises whole (the HTTP API answers the same shape).
 * `items` best first; `fallback` is 'popularity' when the request had no known history (training
 * counts are the scores then); `ignored` counts the request's history ids the catalog does not know.
 */
export interface Recommendations {
  items: ScoredItem[];
  fallback: 'popularity' | null;
  ignored: number;
}

/** An item as filter predicates see it. */
export interface ItemView {
  id: string;
  fields: Readonly<Record<string, string>>;
}

export interface RecommendRequest {
  /** A known user: their stored history (events given to fit and addEvents). */
  user?: string;
  /** An anonymous session's items, oldest first (with `user`: appended to theirs). */
  history?: readonly string[];
  /** How many. Default 10, at most 10,000. */
  k?: number;
  /** Items never to return. */
  exclude?: readonly string[];
  /** Leave out the items of the history. Default true. */
  excludeSeen?: boolean;
  /** Only items whose fields match ({ category: 'lipstick' }), or for which the predicate holds. */
  filter?: FieldFilter | ((item: ItemView) => boolean);
}

export interface RecommenderLoadOptions {
  /**
   * Background learning from addEvents: at most one SRM update per this many milliseconds
   * (events arriving meanwhile join the next), and the threads it trains on. Defaults: 0 (an
   * update as soon as the last one ends) and all cores; a server keeps the cores for requests
   * with, e.g., 2000 ms and 1 thread.
   */
  updateIntervalMs?: number;
  updateThreads?: number;
  /**
   * The indexes recommend() and similar() search. 'exact' scans every item (int8 codes, the
   * best re-scored in fp32); 'partitioned' scans only the partitions nearest to the query
   * (VectorIndex `partitions: 'auto'`: about sqrt(n) of them once the catalog has 16,384 items,
   * probed for recall@10 0.95) or `{ partitions: n }` of them; 'auto' (default): exact below
   * 200,000 items, partitioned from there. Updates refill the partitioned indexes with the
   * partitions they had (no k-means per update: VectorIndex.emptyCopy).
   */
  index?: IndexChoice;
}

export interface IndexInfo {
  kind: 'exact' | 'partitioned';
  partitions: number;
  bytes: number;
}

export type IndexChoice = 'auto' | 'exact' | 'partitioned' | { partitions: number };

/** index 'auto': partitioned from this many items (the exact scan of one query passes ~1 ms at dim 64 around here). */
const PARTITIONED_FROM = 200_000;

/** Events kept per user by addEvents. */
const MAX_HISTORY = 10_000;

/** What `index` accepts (the CLI's `--index` parses with it too). */
export const indexChoiceSchema = z.union([z.enum(['auto', 'exact', 'partitioned']), z.strictObject({ partitions: z.number().int().min(1).max(65_536) })]);

const loadOptionsSchema = z.strictObject({
  updateIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
  updateThreads: z.number().int().min(1).max(1024).optional(),
  index: indexChoiceSchema.optional(),
});

/** A request as recommend() and recommendMany() work on it (see #prepare). */
interface PreparedRequest {
  r: RecommendRequest;
  k: number;
  ignored: number;
  excluded: Set<number>;
  history: number[];
  state: Float32Array | undefined;
}

export interface SimilarOptions {
  /** Compare item embeddings ('behaviour'), codes ('content'), or pick by the item ('auto', default: content for cold items). */
  by?: 'auto' | 'behaviour' | 'content';
  exclude?: readonly string[];
  filter?: FieldFilter | ((item: ItemView) => boolean);
}

export interface AddEventsReport {
  accepted: number;
  /** Events whose item is not in the catalog (skipped; add the item first). */
  unknownItems: number;
  newUsers: number;
}

/** What requests read, swapped whole when the model changes. */
interface Serving {
  /** e_i, inner product: recommend(). */
  index: VectorIndex;
  /** e_i, cosine: similar() by behaviour. */
  similar: VectorIndex;
  /** The int8 codes, cosine: similar() by content. */
  content: VectorIndex;
  vectors: Float32Array;
  codes: Float32Array;
  warm: Uint8Array;
}

interface Manifest {
  model: { source: string; hidden: number; layers: number };
  /** The lexical part of the score (absent in directories saved before it existed: off). */
  content?: ContentState;
  layer: number;
  pooling: Pooling;
  template: string;
  dim: number;
  report: FitReport;
}

const MAX_K = 10_000;
/** recommendMany fetches past at most this many exclusions in the shared scan (more: a scan of their own). */
const BATCH_EXCLUDED = 256;
/** Users that validation (early stopping) and the test metrics score, a seeded sample beyond it. */
const MAX_EVAL_USERS = 5000;
/** Validation users the content weights are chosen on (every weight tried scores the whole catalog for each). */
const WEIGHT_USERS = 2000;
const RESCORE = 4;
/** The SRM's settings unless fit's `srm` says otherwise. */
export const DEFAULT_SRM = { dim: 64, blocks: 2, heads: 1, maxLen: 50, dropout: 0.2 };

const fitSchema = z.strictObject({
  items: z.union([z.string().min(1), z.array(z.any())]),
  events: z.union([z.string().min(1), z.array(z.any())]),
  model: z.union([z.string().min(1), z.custom<LanguageModel>((v) => v instanceof LanguageModel, 'a LanguageModel')]).optional(),
  layer: z.union([z.literal('auto'), z.number().int().nonnegative()]).optional(),
  sweepLayers: z.array(z.number().int().nonnegative()).min(1).optional(),
  dim: z.number().int().min(8).max(512).optional(),
  compression: z.enum(['linear', 'mlp']).optional(),
  int8: z.boolean().optional(),
  codeNoise: z.number().min(0).max(10).optional(),
  idDropout: z.number().min(0).max(0.99).optional(),
  template: z.string().min(1).optional(),
  pooling: z.enum(['mean', 'last', 'cls', 'marker']).optional(),
  content: z.union([z.literal('auto'), z.number().min(0).max(1e6)]).optional(),
  coldEmphasis: z.number().min(0).max(1).optional(),
  srm: z
    .strictObject({
      dim: z.number().int().positive().optional(),
      blocks: z.number().int().positive().optional(),
      heads: z.number().int().positive().optional(),
      maxLen: z.number().int().positive().optional(),
      lr: z.number().positive().optional(),
      dropout: z.number().min(0).max(0.99).optional(),
      batchSize: z.number().int().positive().optional(),
    })
    .optional(),
  epochs: z.number().int().positive().optional(),
  patience: z.number().int().positive().optional(),
  budget: z.union([z.string(), z.number().positive()]).optional(),
  signal: z.instanceof(AbortSignal).optional(),
  onProgress: z.custom<(p: FitProgress) => void>((v) => typeof v === 'function', 'a function').optional(),
  coldItems: z.array(z.string()).optional(),
  seed: z.number().int().nonnegative().optional(),
  threads: z.number().int().positive().optional(),
});

export class Recommender {
  readonly #catalog: Catalog;
  readonly #users: IdMap;
  readonly #histories: number[][];
  readonly #manifest: Manifest;
  readonly #scaling: FeatureScaling;
  #srm: SequentialRecommender | undefined;
  #serving!: Serving;
  #content: ContentScores;
  #popular: Int32Array | undefined;
  #catalogTemplate: ReturnType<typeof compileItemTemplate> | undefined;
  #lm: LanguageModel | undefined;
  #lmOwned = false; // loaded here (closed with the recommender), not the caller's
  // background work (SRM updates, items added), one at a time, in order
  #queue: Promise<void> = Promise.resolve();
  #pendingUsers = new Map<number, number>(); // user -> new events since the last update
  readonly #removed = new Set<number>(); // items out of every answer (removeItems)
  readonly #warming = new Set<number>(); // items warmed since the serving mask was taken
  #updateIntervalMs = 0;
  #updateThreads: number | undefined;
  #lastUpdate = 0;
  #updateScheduled = false;
  #backgroundError: unknown; // for flush() to rethrow, once
  #failure: unknown; // the last background update's failure, until one succeeds
  readonly #failureListeners = new Set<(error: unknown) => void>();
  // kept across reindexes: the item numbers 0..n-1 (grown with the catalog) and the item-vector
  // array of the serving before the current one (the next reindex writes into it)
  #ids = new Float64Array(0);
  #spareVectors: Float32Array | undefined;
  #indexChoice: IndexChoice = 'auto';

  private constructor(o: {
    catalog: Catalog;
    users: IdMap;
    histories: number[][];
    manifest: Manifest;
    scaling: FeatureScaling;
    srm: SequentialRecommender;
    content: ContentScores;
    lm?: LanguageModel | undefined;
  }) {
    this.#content = o.content;
    this.#catalog = o.catalog;
    this.#users = o.users;
    this.#histories = o.histories;
    this.#manifest = o.manifest;
    this.#scaling = o.scaling;
    this.#srm = o.srm;
    this.#lm = o.lm;
  }

  /** What the last fit measured (kept with the saved model). */
  get report(): FitReport {
    return this.#manifest.report;
  }

  /** The LM layer whose states represent items. */
  get layer(): number {
    return this.#manifest.layer;
  }

  get items(): number {
    return this.#catalog.size;
  }

  /** The serving indexes: exact or partitioned, recommend()'s partitions (1 when exact), and the bytes all three hold. */
  get indexInfo(): IndexInfo {
    const { index, similar, content } = this.#serving;
    return {
      kind: index.partitioned ? 'partitioned' : 'exact',
      partitions: index.partitions.count,
      bytes: index.memoryBytes + similar.memoryBytes + content.memoryBytes,
    };
  }

  get users(): number {
    return this.#users.size;
  }

  /** An item's id and fields, or undefined when it is not in the catalog. */
  item(id: string): ItemView | undefined {
    const i = this.#catalog.ids.get(id);
    return i === undefined || this.#removed.has(i) ? undefined : { id, fields: this.#catalog.fields[i]! };
  }

  /**
   * Replaces an item's fields: item(), filters and rerank's texts read the new ones at once.
   * Its code still comes from the text it was encoded from, until the next fit. UNKNOWN_ID for
   * an item not in the catalog.
   */
  setItemFields(id: string, fields: Readonly<Record<string, string>>): void {
    const i = this.#catalog.ids.get(id);
    if (i === undefined || this.#removed.has(i)) throw new LmrecError(`item '${String(id)}' is not in the catalog`, 'UNKNOWN_ID');
    if (fields === null || typeof fields !== 'object' || Object.values(fields).some((v) => typeof v !== 'string')) {
      throw new LmrecError('fields must be an object of strings', 'INVALID_ARGUMENT');
    }
    this.#catalog.setFields(i, { ...fields });
  }

  /** Every item in answers, in catalog order (removed ones left out). */
  *listItems(): IterableIterator<ItemView> {
    for (let i = 0; i < this.#catalog.size; i++) {
      if (!this.#removed.has(i)) yield { id: this.#catalog.ids.name(i), fields: this.#catalog.fields[i]! };
    }
  }

  /**
   * Takes items out of every answer (recommend, rerank, similar) and out of item(), e.g. when
   * they leave the catalog. Their rows stay in the model, so restoreItems() brings them back
   * at once. Not saved with the model: a service keeps the catalog's truth in its store.
   * UNKNOWN_ID for an id the catalog never had; returns how many were in answers before.
   */
  removeItems(ids: readonly string[]): number {
    const items = this.#itemNumbers(ids, 'ids', false).items;
    let n = 0;
    for (const i of items) {
      if (this.#removed.has(i)) continue;
      this.#removed.add(i);
      n++;
    }
    return n;
  }

  /** Brings removed items back into answers; returns how many were removed. */
  restoreItems(ids: readonly string[]): number {
    let n = 0;
    for (const i of this.#itemNumbers(ids, 'ids', false).items) if (this.#removed.delete(i)) n++;
    return n;
  }

  /** Whether a user has a stored history (from fit or addEvents). */
  hasUser(id: string): boolean {
    return this.#users.get(id) !== undefined;
  }

  /** The task module, for evaluation and tools. */
  get srm(): SequentialRecommender {
    return this.#live();
  }

  /**
   * Scores of every item for evaluation splits (item numbers in catalog order), as
   * recommend() ranks them: the evaluation's view of the whole model.
   */
  scorer(): Scorer {
    return modelScorer(this.#live(), this.#content);
  }

  /**
   * Reads the catalog and events, encodes every item's text with the language model, sweeps
   * the layers (layer 'auto'), trains the compression and task modules jointly with early
   * stopping on the validation split (the last two events of each user are validation and
   * test, as in the evaluation), and indexes the item embeddings.
   */
  static async fit(options: RecommenderFitOptions): Promise<Recommender> {
    return (await Recommender.#fit(options, false)) as Recommender;
  }

  /**
   * The layer sweep alone (MARC's mid-layer analysis): for each candidate layer a quick
   * compression + SRM trained on the training split, scored on validation; no model is kept.
   * Takes fit's options (`layer` is ignored; `budget` bounds the whole sweep).
   */
  static async sweepLayers(options: RecommenderFitOptions): Promise<{ rows: SweepRow[]; best: number; layers: number }> {
    return (await Recommender.#fit({ ...options, layer: 'auto' }, true)) as { rows: SweepRow[]; best: number; layers: number };
  }

  static async #fit(options: RecommenderFitOptions, sweepOnly: boolean): Promise<Recommender | { rows: SweepRow[]; best: number; layers: number }> {
    const t0 = performance.now();
    const o = parseOptions(fitSchema, options, 'Recommender.fit') as RecommenderFitOptions;
    const budget = o.budget === undefined ? undefined : typeof o.budget === 'number' ? o.budget : parseDuration(o.budget);
    if (o.budget !== undefined && budget === undefined) throw new LmrecError(`budget must be like '10m', '90s' or seconds, got '${String(o.budget)}'`, 'INVALID_ARGUMENT');
    const deadline = budget === undefined ? undefined : t0 + budget * 1000;
    const left = () => (deadline === undefined ? undefined : Math.max(1, (deadline - performance.now()) / 1000));
    const progress = (p: FitProgress) => o.onProgress?.(p);

    progress({ stage: 'reading', done: 0, total: 1 });
    // records given as arrays meet the limits the readers apply (and the store, when served)
    const records = typeof o.items === 'string' ? await collect(readItems(o.items)) : o.items.map((r, i) => checkItemRecord(r, 'INVALID_DATA', `item ${i}`));
    const catalog = new Catalog(records);
    if (catalog.size === 0) throw new LmrecError('the catalog is empty', 'INVALID_DATA');
    if (typeof o.events !== 'string') o.events.forEach((e, i) => checkEventRecord(e, 'INVALID_DATA', `event ${i}`));
    const data = await collectInteractions(typeof o.events === 'string' ? readEvents(o.events) : o.events, { items: catalog.ids });
    if (data.events === 0) {
      throw new LmrecError(
        data.unknownItems > 0
          ? `none of the ${data.unknownItems} events names an item of the catalog: do the event and catalog files belong together?`
          : 'there are no events',
        'INVALID_DATA',
      );
    }
    const rendered = renderItemTexts(catalog.fields.map((fields) => ({ fields })), o.template);
    const texts = rendered.texts;
    const itemsWithoutText = texts.flatMap((t, i) => (t.trim().length === 0 ? [catalog.ids.name(i)] : []));
    if (itemsWithoutText.length === catalog.size) throw new LmrecError('no item has any text to encode', 'INVALID_DATA');
    const full = withColdItems(leaveOneOut(data.sequences), o.coldItems ?? [], catalog);
    if (full.valid.length === 0) throw new LmrecError('no user has 3 or more events: nothing to validate on', 'INVALID_DATA');
    // validation and test metrics on a seeded sample of users: each scores the whole catalog
    const split = { train: full.train, valid: sampleSplits(full.valid, MAX_EVAL_USERS, 11), test: sampleSplits(full.test, MAX_EVAL_USERS, 11) };
    progress({ stage: 'reading', done: 1, total: 1 });

    const ownsLm = !(o.model instanceof LanguageModel);
    const source = o.model instanceof LanguageModel ? '(given)' : o.model === undefined || o.model === 'default' ? 'default' : path.resolve(o.model);
    const lm = o.model instanceof LanguageModel ? o.model : await LanguageModel.load(source === 'default' ? DEFAULT_MODEL_DIR : source, { ...(o.threads ? { threads: o.threads } : {}) });
    try {
      const L = lm.config.layers;
      const layers = o.layer === undefined || o.layer === 'auto' ? (o.sweepLayers ?? candidateLayers(L)) : [o.layer];
      for (const l of layers) if (l > L) throw new LmrecError(`layer ${l} is beyond the model's ${L} layers`, 'INVALID_ARGUMENT');
      const states = await encodeItemStates(lm, texts, layers, {
        pooling: o.pooling,
        signal: o.signal,
        onProgress: (done, total) => progress({ stage: 'encoding', done, total }),
      });
      const H = lm.config.hidden;
      const scaled = new Map<number, { features: Float32Array; scaling: FeatureScaling }>();
      const featuresOf = (layer: number) => {
        let s = scaled.get(layer);
        if (!s) {
          const raw = states[layers.indexOf(layer)]!;
          const scaling = fitScaling(withoutRows(raw, H, itemsWithoutText.map((id) => catalog.ids.get(id)!)), H);
          s = { features: applyScaling(raw, scaling), scaling };
          // text-less items: the mean state, i.e. zero after centring
          for (const id of itemsWithoutText) s.features.fill(0, catalog.ids.get(id)! * H, (catalog.ids.get(id)! + 1) * H);
          scaled.set(layer, s);
        }
        return s;
      };
      const dim = o.dim ?? 64;
      const srmOptions = { ...DEFAULT_SRM, ...o.srm };
      const fitBase: SrmFitOptions = {
        ...srmOptions,
        itemFeatures: { vectors: new Float32Array(0), width: H, codeDim: dim, hidden: o.compression === 'mlp' ? 4 * dim : 0, int8: o.int8 ?? true },
        ...(o.codeNoise !== undefined ? { codeNoise: o.codeNoise } : {}),
        ...(o.idDropout !== undefined ? { idDropout: o.idDropout } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
      };

      let chosen = layers[0]!;
      let sweepRows: SweepRow[] = [];
      if (layers.length > 1 || sweepOnly) {
        const probed = await probeLayers({
          valid: split.valid,
          items: catalog.size,
          layers,
          features: (l) => featuresOf(l).features,
          width: H,
          ...(o.seed !== undefined ? { seed: o.seed } : {}),
          signal: o.signal,
          onLayer: (row, i) => progress({ stage: 'sweep', done: i + 1, total: layers.length, layer: row.layer, validNdcg: row.valid['NDCG@10'] ?? NaN }),
        });
        sweepRows = probed.rows;
        if (probed.best === undefined) throw new LmrecError('the fit was stopped before any layer was probed', 'ABORTED');
        chosen = probed.best;
        if (sweepOnly) return { rows: sweepRows, best: chosen, layers: L };
        // states of the other layers are no longer needed
        for (const l of layers) if (l !== chosen) scaled.delete(l);
      }
      const { features, scaling } = featuresOf(chosen);
      const epochs = o.epochs ?? 200;
      progress({ stage: 'training', done: 0, total: epochs, layer: chosen });
      // a budget or abort that cuts training keeps the best validated weights (the first epoch
      // always completes: a model with no epoch behind it is no model)
      const srm = await SequentialRecommender.fit(split.train, catalog.size, {
        ...fitBase,
        itemFeatures: { ...fitBase.itemFeatures!, vectors: features },
        valid: split.valid,
        epochs,
        patience: o.patience ?? 5,
        // what follows training (choosing the content weights, indexing) gets a tenth of the budget
        ...(deadline !== undefined ? { maxSeconds: Math.max(1, left()! - budget! / 10) } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        onEpoch: (e) => progress({ stage: 'training', done: e.epoch + 1, total: epochs, layer: chosen, ...(e.valid ? { validNdcg: e.valid['NDCG@10']! } : {}) }),
      });
      if (!srm.history.some((e) => !e.partial)) {
        srm.close();
        throw new LmrecError('the fit was stopped before its first training epoch ended', 'ABORTED');
      }
      const tfidf = TfidfVectors.fit(texts);
      let contentWeight = typeof o.content === 'number' ? o.content : 0;
      let coldContentWeight = contentWeight;
      if (o.content === undefined || o.content === 'auto') {
        const lexical = contentScorer(tfidf);
        // on a sample of the validation users: each weight tried scores them over the whole catalog
        const choose = sampleSplits(split.valid, WEIGHT_USERS, 13);
        contentWeight = (await chooseFusionWeight(choose, catalog.size, srm.scorer(), lexical)).weight;
        const cold = srm.idMask().map((m) => 1 - m);
        coldContentWeight = (await chooseColdWeight(choose, catalog.size, srm.scorer(), lexical, contentWeight, cold, undefined, o.coldEmphasis)).weight;
      }
      const content = new ContentScores(tfidf, contentWeight, coldContentWeight);
      const valid = await evaluate(split.valid, catalog.size, modelScorer(srm, content), [10]);
      const test = await evaluate(split.test, catalog.size, modelScorer(srm, content), [10]);
      const report: FitReport = {
        items: catalog.size,
        users: data.users.size,
        events: data.events,
        unknownEvents: data.unknownItems,
        itemsWithoutText,
        coldItems: srm.idMask().reduce((a, m) => a + (m ? 0 : 1), 0),
        layer: chosen,
        layers: L,
        contentWeight,
        coldContentWeight,
        sweep: sweepRows,
        valid,
        test,
        evaluatedUsers: split.test.length,
        stopReason: srm.stopReason ?? 'epochs',
        seconds: (performance.now() - t0) / 1000,
      };
      const manifest: Manifest = { model: { source, hidden: H, layers: L }, content: content.state(), layer: chosen, pooling: o.pooling ?? 'mean', template: rendered.template.source, dim, report };
      const rec = new Recommender({
        catalog,
        users: data.users,
        histories: data.sequences.map((s) => Array.from(s)),
        manifest,
        scaling,
        srm,
        content,
        lm: ownsLm ? undefined : lm,
      });
      progress({ stage: 'indexing', done: 0, total: 1 });
      await rec.#reindex();
      progress({ stage: 'indexing', done: 1, total: 1 });
      report.seconds = (performance.now() - t0) / 1000;
      return rec;
    } finally {
      if (ownsLm) await lm.close();
    }
  }

  /**
   * Loads a directory written by save(): the manifest and every part are checked against their
   * checksums, then against each other; any damage is a CORRUPT_FILE naming the part.
   */
  static async load(dir: string, options: RecommenderLoadOptions = {}): Promise<Recommender> {
    const o = parseOptions(loadOptionsSchema, options, 'Recommender.load');
    const { manifest, part } = openRecommenderDir<Manifest>(dir, savedManifestSchema);
    const catalog = readSavedCatalog(part('catalog.jsonl'));
    const { users, histories } = readSavedHistories(part('histories.jsonl'), catalog.size);
    const H = manifest.model.hidden;
    const scales = readSavedScaling(part('scaling.f32'), H);
    const srm = await SequentialRecommender.load(part('srm.bin'));
    // read before the close below (a closed model answers CLOSED)
    const items = srm.items;
    const codeDim = srm.info.codeDim;
    if (items !== catalog.size || codeDim === 0) {
      srm.close();
      throw new LmrecError(`'${dir}': its model (${items} items, codes ${codeDim} wide) does not match its catalog of ${catalog.size} items`, 'CORRUPT_FILE');
    }
    let content: ContentScores;
    try {
      const state: unknown = manifest.content ?? { weight: 0, recent: 1, words: [], idf: [] };
      const template = compileItemTemplate(manifest.template, catalog.fieldNames());
      content = ContentScores.restore(state, catalog.fields.map((f) => template.render(f)));
    } catch (e) {
      srm.close();
      // the state and template come from the manifest: whatever they fail with is damage
      throw new LmrecError(`'${dir}': its content part is damaged (${(e as Error).message})`, 'CORRUPT_FILE');
    }
    const rec = new Recommender({
      catalog,
      users,
      histories,
      manifest,
      scaling: { mean: scales.slice(0, H), scale: scales.slice(H) },
      srm,
      content,
    });
    rec.#indexChoice = o.index ?? 'auto';
    await rec.#reindex();
    rec.#updateIntervalMs = o.updateIntervalMs ?? 0;
    rec.#updateThreads = o.updateThreads;
    return rec;
  }

  /**
   * Writes the recommender to a directory (manifest, model, catalog, histories), atomically:
   * a failed save leaves the previous one intact. Waits for background updates first.
   */
  async save(dir: string): Promise<void> {
    await this.flush();
    const srm = this.#live();
    await writeRecommenderDir(dir, this.#manifest, async (tmp) => {
      mkdirSync(tmp, { recursive: true });
      await srm.save(path.join(tmp, 'srm.bin'));
      writeFileAtomic(
        path.join(tmp, 'catalog.jsonl'),
        this.#catalog.fields.map((fields, i) => JSON.stringify({ id: this.#catalog.ids.name(i), fields })).join('\n') + '\n',
      );
      writeFileAtomic(
        path.join(tmp, 'histories.jsonl'),
        this.#histories.map((items, u) => JSON.stringify({ user: this.#users.name(u), items })).join('\n') + '\n',
      );
      const scales = new Float32Array(2 * this.#scaling.mean.length);
      scales.set(this.#scaling.mean);
      scales.set(this.#scaling.scale, this.#scaling.mean.length);
      writeFileAtomic(path.join(tmp, 'scaling.f32'), new Uint8Array(scales.buffer));
      return ['srm.bin', 'catalog.jsonl', 'histories.jsonl', 'scaling.f32'];
    });
  }

  /**
   * The k best items for a user or an anonymous history, best first, filters applied before
   * the top k is taken. An unknown user with no history gets popular items (`fallback`).
   */
  recommend(request: RecommendRequest): Recommendations {
    return this.#answer(this.#prepare(request));
  }

  /** A prepared request answered on the calling thread: filters applied in the scan, or popularity without a state. */
  #answer(p: PreparedRequest): Recommendations {
    const { r, k, ignored, excluded, state } = p;
    const only = this.#admitted(r.filter);
    if (!state) return this.#popularity(k, excluded, only, ignored);
    const width = this.#content.active ? this.#srmPool(k) : k;
    const found = this.#serving.index.search(state, width, { rescore: RESCORE, exclude: [...excluded], ...(only ? { only } : {}) });
    if (!this.#content.active) return result(found.ids.map((i, j) => ({ id: this.#catalog.ids.name(i), score: found.scores[j]! })), null, ignored);
    return this.#withContent(p, found.ids, found.scores, only);
  }

  /** With a content part: the SRM candidates a request fetches (they and the content's own candidates are fused). */
  #srmPool(k: number): number {
    return Math.min(this.#serving.warm.length, Math.max(4 * k, 50));
  }

  /**
   * The k best fused scores (SRM + content) over the union of the SRM's best `ids` (admitted,
   * fp32 scores) and the content's best as many (of the items sharing a word with the history's
   * profile). An item in neither scores at most the SRM's worst candidate plus the content's
   * worst, so the union holds the exact top k whenever k candidates beat that sum (tested
   * against the exact scores; the pools are max(4k, 50)) and the content side's walk read every
   * posting of the profile's words (beyond CONTENT_POSTINGS its best are found among leaders).
   */
  #withContent(p: PreparedRequest, ids: ArrayLike<number>, scores: ArrayLike<number>, only: number[] | undefined): Recommendations {
    const { vectors, warm } = this.#serving;
    const { given, items, scores: extra } = this.#content.forRequest(p.history, warm, ids, this.#srmPool(p.k) + p.excluded.size);
    const fused = new Map<number, number>();
    for (let j = 0; j < ids.length; j++) fused.set(ids[j]!, scores[j]! + given[j]!);
    const indexed = warm.length;
    const allowed = only ? new Set(only) : undefined;
    const state = p.state!;
    const d = state.length;
    items.forEach((i, j) => {
      if (fused.has(i) || i >= indexed || p.excluded.has(i) || (allowed && !allowed.has(i))) return;
      let dot = 0;
      for (let x = 0; x < d; x++) dot += state[x]! * vectors[i * d + x]!;
      fused.set(i, dot + extra[j]!);
    });
    const best = [...fused.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, p.k);
    return result(best.map(([i, score]) => ({ id: this.#catalog.ids.name(i), score })), null, p.ignored);
  }

  /** A request checked: k, the items it must not get (exclusions, its history unless asked, removed items) and its user state. */
  #prepare(request: RecommendRequest): PreparedRequest {
    const r = request ?? ({} as RecommendRequest);
    const k = checkK(r.k ?? 10);
    const { history, ignored } = this.#requestHistory(r);
    const excluded = new Set<number>(this.#itemNumbers(r.exclude ?? [], 'exclude', true).items);
    if (r.excludeSeen ?? true) for (const i of history) excluded.add(i);
    for (const i of this.#removed) excluded.add(i);
    const srm = this.#live();
    return { r, k, ignored, excluded, history, state: history.length > 0 ? srm.userVector(history) : undefined };
  }

  /**
   * recommend() for many requests at once, the scan off the JS thread: requests without a
   * filter share one batched scan (far cheaper per query than one scan each), fetching past
   * each one's exclusions and dropping them after; the rest (filters, long exclusion lists)
   * and the popularity fallbacks are answered by recommend(). The same answers as recommend(),
   * request by request, up to the int8 scan's approximation (a wider pool is rescored in fp32).
   * (`lmrec serve` batches concurrent requests this way.)
   */
  async recommendMany(requests: readonly RecommendRequest[]): Promise<Recommendations[]> {
    if (!Array.isArray(requests)) throw new LmrecError('recommendMany needs an array of requests', 'INVALID_ARGUMENT');
    const out: (Recommendations | undefined)[] = new Array(requests.length);
    const batch: (PreparedRequest & { at: number; state: Float32Array })[] = [];
    requests.forEach((request, at) => {
      const p = this.#prepare(request);
      if (p.r.filter !== undefined || !p.state || p.excluded.size > BATCH_EXCLUDED) out[at] = this.#answer(p);
      else batch.push({ ...p, at, state: p.state });
    });
    if (batch.length > 0) {
      const serving = this.#serving;
      const want = (k: number) => (this.#content.active ? this.#srmPool(k) : k);
      const width = Math.max(...batch.map((b) => want(b.k) + b.excluded.size));
      const dim = batch[0]!.state.length;
      const queries = new Float32Array(batch.length * dim);
      batch.forEach((b, j) => queries.set(b.state, j * dim));
      const found = await serving.index.searchBatch(queries, Math.min(width, this.#catalog.size), { rescore: RESCORE });
      batch.forEach((b, j) => {
        const ids: number[] = [];
        const scores: number[] = [];
        const f = found[j]!;
        for (let x = 0; x < f.ids.length && ids.length < want(b.k); x++) {
          if (b.excluded.has(f.ids[x]!)) continue;
          ids.push(f.ids[x]!);
          scores.push(f.scores[x]!);
        }
        out[b.at] = this.#content.active
          ? this.#withContent(b, ids, scores, undefined)
          : result(ids.map((i, x) => ({ id: this.#catalog.ids.name(i), score: scores[x]! })), null, b.ignored);
      });
    }
    return out as Recommendations[];
  }

  /** A request's history: the user's stored one, then the request's own items (unknown ones skipped and counted). */
  #requestHistory(r: RecommendRequest): { history: number[]; ignored: number } {
    if (r.user !== undefined && typeof r.user !== 'string') throw new LmrecError('user must be a string id', 'INVALID_ARGUMENT');
    const u = r.user === undefined ? undefined : this.#users.get(r.user);
    const stored = u === undefined ? [] : this.#histories[u]!;
    const extra = this.#itemNumbers(r.history ?? [], 'history', true);
    return { history: extra.items.length ? [...stored, ...extra.items] : stored, ignored: extra.ignored };
  }

  /**
   * recommend(), re-ranked by a language model reading the history as text (late
   * interaction): the SRM's best `candidates` (default 50) are scored again as
   *   fused_i = u·e_i + weight · lm_i
   * where lm_i is, with an `LmRanker` (a model lmrec trained on this catalog, tuned for late
   * interaction), its item head's score of item i after the last `events` history items; with a
   * plain `LateInteraction`, the LM's mean per-token log-probability of the item's text after the
   * history's texts. The k best fused scores are returned. Candidates the LM cannot score (no
   * text; no head row) keep the SRM score alone. Off the default path: it costs an LM run per
   * request and helps only with a model that knows the catalog. A request without a known
   * history is answered by popularity, as recommend() does.
   */
  async rerank(request: RecommendRequest, stage: { model: LateInteraction | LmRanker; weight?: number; candidates?: number; events?: number }): Promise<Recommendations> {
    const k = checkK(request?.k ?? 10);
    const weight = stage.weight ?? 1;
    const n = stage.candidates ?? 50;
    const m = stage.events ?? 20;
    if (!(Number.isFinite(weight) && weight >= 0)) throw new LmrecError('weight must be a number >= 0', 'INVALID_ARGUMENT');
    if (!Number.isInteger(n) || n < k || n > MAX_K) throw new LmrecError(`candidates must be an integer from k (${k}) to ${MAX_K}`, 'INVALID_ARGUMENT');
    if (!Number.isInteger(m) || m < 1) throw new LmrecError('events must be a positive integer', 'INVALID_ARGUMENT');
    const first = this.recommend({ ...request, k: n });
    if (first.fallback || first.items.length === 0) return result(first.items.slice(0, k), first.fallback, first.ignored);
    const history = this.#requestHistory(request).history.slice(-m);
    const scored = stage.model instanceof LmRanker ? await this.#rankerScores(stage.model, history, first.items) : await this.#textScores(stage.model, history, first.items);
    if (!scored) return result(first.items.slice(0, k), null, first.ignored);
    const fused = first.items.map((x) => ({ id: x.id, score: x.score }));
    scored.at.forEach((j, i) => (fused[j]!.score += weight * scored.scores[i]!));
    fused.sort((a, b) => b.score - a.score || this.#catalog.ids.get(a.id)! - this.#catalog.ids.get(b.id)!);
    return result(fused.slice(0, k), null, first.ignored);
  }

  /** The item head's scores of the candidates it has rows for (`at`: their places in `first`). */
  async #rankerScores(ranker: LmRanker, history: number[], first: ScoredItem[]): Promise<{ at: number[]; scores: Float32Array } | undefined> {
    const ids = history.map((i) => this.#catalog.ids.name(i)).filter((id) => ranker.readable(id));
    const at = first.flatMap((x, j) => (ranker.scorable(x.id) ? [j] : []));
    if (ids.length === 0 || at.length === 0) return undefined;
    return { at, scores: await ranker.scores(ids, at.map((j) => first[j]!.id)) };
  }

  /** The LM's mean log-probability of each candidate's text after the history's texts. */
  async #textScores(li: LateInteraction, history: number[], first: ScoredItem[]): Promise<{ at: number[]; scores: Float32Array } | undefined> {
    const template = this.#template([]);
    const text = (i: number) => template.render(this.#catalog.fields[i]!);
    const historyTexts = history.map(text).filter((t) => t.trim().length > 0);
    const ids = first.map((x) => this.#catalog.ids.get(x.id)!);
    const at = ids.flatMap((i, j) => (text(i).trim().length > 0 ? [j] : []));
    if (historyTexts.length === 0 || at.length === 0) return undefined;
    return { at, scores: await li.score(historyTexts, at.map((j) => text(ids[j]!))) };
  }

  /**
   * The fit's item template over the catalog's fields (and `extra` ones, of items being
   * added); the catalog's own is compiled once and kept until items are added.
   */
  #template(extra: string[]): ReturnType<typeof compileItemTemplate> {
    if (extra.length === 0 && this.#catalogTemplate) return this.#catalogTemplate;
    const compiled = compileItemTemplate(this.#manifest.template, [...new Set([...extra, ...this.#catalog.fieldNames()])]);
    if (extra.length === 0) this.#catalogTemplate = compiled;
    return compiled;
  }

  /**
   * Items most like `id`, best first, the item itself left out: cosine between item
   * embeddings (`by: 'behaviour'`, ID + code) or between their codes alone (`'content'`).
   * The default, 'auto', compares a cold item (no ID embedding) by content, since its
   * embedding and a warm item's are not alike in kind.
   */
  similar(id: string, k = 10, options: SimilarOptions = {}): ScoredItem[] {
    checkK(k);
    this.#live();
    const i = this.#catalog.ids.get(id);
    if (i === undefined) throw new LmrecError(`item '${String(id)}' is not in the catalog`, 'UNKNOWN_ID');
    const by = options.by ?? 'auto';
    if (!['auto', 'behaviour', 'content'].includes(by)) throw new LmrecError(`by must be 'auto', 'behaviour' or 'content', got '${String(by)}'`, 'INVALID_ARGUMENT');
    const content = by === 'content' || (by === 'auto' && !this.#serving.warm[i]);
    const { index, vectors } = content ? { index: this.#serving.content, vectors: this.#serving.codes } : { index: this.#serving.similar, vectors: this.#serving.vectors };
    const indexed = this.#serving.warm.length; // items added since the last reindex are not in it yet
    if (i >= indexed) throw new LmrecError(`item '${id}' is being indexed; ask again in a moment`, 'BUSY');
    const d = vectors.length / indexed;
    if (this.#removed.has(i)) throw new LmrecError(`item '${id}' was removed from the catalog`, 'UNKNOWN_ID');
    const exclude = [i, ...this.#itemNumbers(options.exclude ?? [], 'exclude', true).items, ...this.#removed];
    const only = this.#admitted(options.filter);
    const found = index.search(vectors.subarray(i * d, (i + 1) * d), k, { rescore: RESCORE, exclude, ...(only ? { only } : {}) });
    return found.ids.map((x, j) => ({ id: this.#catalog.ids.name(x), score: found.scores[j]! }));
  }

  /**
   * New items, encoded by the language model, compressed and indexed without a refit; they
   * are recommendable at once by their code. Needs the model the recommender was fit with
   * (loaded on first use). DUPLICATE_ID for an id already in the catalog.
   */
  async addItems(items: readonly ItemRecord[]): Promise<string[]> {
    if (!Array.isArray(items)) throw new LmrecError('addItems needs an array of item records', 'INVALID_ARGUMENT');
    items.forEach((it, i) => checkItemRecord(it, 'INVALID_DATA', `item ${i}`)); // the limits fit and the store apply
    if (items.length === 0) return [];
    return this.#enqueue(async () => {
      const probe = new Catalog();
      probe.add(items); // validates ids before anything changes
      for (const it of items) if (this.#catalog.ids.get(it.id) !== undefined) throw new LmrecError(`item '${it.id}' is already in the catalog`, 'DUPLICATE_ID');
      const template = this.#template(items.flatMap((it) => Object.keys(it.fields ?? {})));
      const texts = items.map((it) => template.render(it.fields ?? {}));
      const lm = await this.#languageModel();
      const [raw] = await encodeItemStates(lm, texts, [this.#manifest.layer], { pooling: this.#manifest.pooling });
      const features = applyScaling(raw!, this.#scaling);
      const H = this.#scaling.mean.length;
      texts.forEach((t, j) => t.trim().length === 0 && features.fill(0, j * H, (j + 1) * H));
      const srm = this.#live();
      await srm.addItems(features);
      this.#catalog.add(items);
      this.#popular = undefined;
      this.#catalogTemplate = undefined;
      const grown = this.#template([]);
      const content = this.#content.withTexts(this.#catalog.fields.map((f) => grown.render(f)));
      await this.#reindex();
      this.#content = content; // with the indexes that hold the new items
      return items.map((it) => it.id);
    });
  }

  /**
   * Appends events to users' histories (recommendations see them at once) and updates the SRM
   * on them in the background (`flush()` waits for it). Events of unknown (or removed) items
   * are skipped and counted; unknown users are created. A user's history keeps its most recent
   * 10,000 events.
   */
  addEvents(events: readonly EventRecord[]): AddEventsReport {
    if (!Array.isArray(events)) throw new LmrecError('addEvents needs an array of event records', 'INVALID_ARGUMENT');
    events.forEach((e, i) => checkEventRecord(e, 'INVALID_DATA', `event ${i}`)); // all checked before any is taken
    const srm = this.#live();
    let accepted = 0;
    let unknownItems = 0;
    let newUsers = 0;
    const warm: number[] = [];
    for (const e of events) {
      if (typeof e?.user !== 'string' || typeof e.item !== 'string') throw new LmrecError('every event needs string user and item ids', 'INVALID_DATA');
      const item = this.#catalog.ids.get(e.item);
      if (item === undefined || this.#removed.has(item)) {
        unknownItems++;
        continue;
      }
      let u = this.#users.get(e.user);
      if (u === undefined) {
        u = this.#users.add(e.user);
        this.#histories.push([]);
        newUsers++;
      }
      const h = this.#histories[u]!;
      h.push(item);
      // bounded per user: the oldest events stop counting as seen (the SRM reads far fewer)
      if (h.length > MAX_HISTORY) h.splice(0, h.length - MAX_HISTORY);
      this.#pendingUsers.set(u, (this.#pendingUsers.get(u) ?? 0) + 1);
      // only items not warm yet: warming waits for a training step in progress
      if (!this.#serving.warm[item] && !this.#warming.has(item)) {
        this.#warming.add(item);
        warm.push(item);
      }
      accepted++;
    }
    if (warm.length > 0) srm.warmItems(warm);
    if (accepted > 0) this.#scheduleUpdate();
    return { accepted, unknownItems, newUsers };
  }

  /** Waits for background work (updates from addEvents, items being added); rethrows its failure once. */
  async flush(): Promise<void> {
    await this.#queue;
    if (this.#backgroundError !== undefined) {
      const e = this.#backgroundError;
      this.#backgroundError = undefined;
      throw e;
    }
  }

  /** Resolves when the background work queued so far has ended, its failure left for flush() to report. */
  whenIdle(): Promise<void> {
    return this.#queue;
  }

  /**
   * Tells `listener` of each background SRM update that fails, when it fails (flush() still
   * rethrows the first one). A failed update changes nothing that serves: recommendations keep
   * coming from the last good model. Returns the function that removes the listener.
   */
  onBackgroundError(listener: (error: unknown) => void): () => void {
    if (typeof listener !== 'function') throw new LmrecError('onBackgroundError needs a function', 'INVALID_ARGUMENT');
    this.#failureListeners.add(listener);
    return () => void this.#failureListeners.delete(listener);
  }

  /** The last background update's failure while no later update has succeeded; undefined when healthy. */
  get backgroundFailure(): unknown {
    return this.#failure;
  }

  /** Frees the models and indexes after background work ends; any later call is CLOSED. */
  async close(): Promise<void> {
    if (!this.#srm) return;
    await this.#queue.catch(() => undefined);
    this.#srm.close();
    this.#srm = undefined;
    for (const x of [this.#serving.index, this.#serving.similar, this.#serving.content]) x.close();
    if (this.#lm && this.#lmOwned) await this.#lm.close();
    this.#lm = undefined;
  }

  #live(): SequentialRecommender {
    if (!this.#srm) throw new LmrecError('this recommender was closed', 'CLOSED');
    return this.#srm;
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  #scheduleUpdate(): void {
    if (this.#updateScheduled) return;
    this.#updateScheduled = true;
    void this.#enqueue(async () => {
      // events arriving during the wait join this update
      const wait = this.#lastUpdate + this.#updateIntervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.#lastUpdate = Date.now();
      this.#updateScheduled = false;
      const pending = this.#pendingUsers;
      this.#pendingUsers = new Map();
      if (!this.#srm) return;
      // one update per count of fresh events, so each trains on exactly its new events
      const byFresh = new Map<number, number[][]>();
      for (const [u, fresh] of pending) {
        const seq = this.#histories[u]!;
        if (seq.length < 2) continue;
        const f = Math.min(fresh, seq.length - 1);
        (byFresh.get(f) ?? byFresh.set(f, []).get(f)!).push(seq.slice());
      }
      try {
        for (const [fresh, seqs] of byFresh) await this.#srm.update(seqs, { fresh, ...(this.#updateThreads ? { threads: this.#updateThreads } : {}) });
        // items warmed while the update trained: no training now, so they apply at once
        if (this.#warming.size > 0) this.#srm.warmItems([...this.#warming]);
        this.#popular = undefined;
        await this.#reindex();
        this.#failure = undefined;
      } catch (e) {
        this.#backgroundError ??= e;
        this.#failure = e;
        this.#warming.clear(); // warmed again by their next event
        // at once, not at the next flush(): a server says so in its log, health and metrics
        for (const listener of this.#failureListeners) {
          try {
            listener(e);
          } catch {
            // a listener's own failure must not stop the updates
          }
        }
      }
    });
  }

  async #languageModel(): Promise<LanguageModel> {
    if (this.#lm) return this.#lm;
    const src = this.#manifest.model.source;
    if (src === '(given)') throw new LmrecError('this recommender was fit with a LanguageModel object: adding items needs the model, pass it to fit from a directory', 'UNSUPPORTED');
    const lm = await LanguageModel.load(src === 'default' ? DEFAULT_MODEL_DIR : src);
    if (lm.config.hidden !== this.#manifest.model.hidden) {
      await lm.close();
      throw new LmrecError(`the model at '${src}' is ${lm.config.hidden} wide, not the ${this.#manifest.model.hidden} this recommender was fit with`, 'DIM_MISMATCH');
    }
    this.#lm = lm;
    this.#lmOwned = true;
    return lm;
  }

  /**
   * Brings the indexes up to the current model, then swaps them in. The item embeddings change
   * with every SRM update: two new indexes over them. The codes change only when items are
   * added (updates train neither the compression module nor the codes once fit has dropped the
   * features): the content index and the codes are kept until the catalog grows. The
   * embeddings are written off the JS thread into the array the serving before last used, and
   * the ids array is kept, so an update allocates no new JS arrays.
   */
  async #reindex(): Promise<void> {
    const srm = this.#live();
    const n = this.#catalog.size;
    const old = this.#serving as Serving | undefined;
    const grown = !old || old.warm.length !== n;
    const dim = srm.info.dim;
    const vectors = this.#spareVectors?.length === n * dim ? this.#spareVectors : new Float32Array(n * dim);
    this.#spareVectors = undefined;
    await srm.itemVectorsInto(vectors);
    const codes = grown ? srm.codes()! : old.codes;
    const warm = srm.idMask();
    if (this.#ids.length < n) this.#ids = Float64Array.from({ length: Math.max(n, Math.ceil(this.#ids.length * 1.25)) }, (_, i) => i);
    const ids = this.#ids.subarray(0, n);
    const c = this.#indexChoice;
    const partitions = c === 'exact' || (c === 'auto' && n < PARTITIONED_FROM) ? undefined : typeof c === 'object' ? c.partitions : 'auto';
    // a partitioned index of the same kind is refilled in its partitions (no k-means per update)
    const make = (d: number, metric: 'ip' | 'cosine', like: VectorIndex | undefined) =>
      partitions !== undefined && like?.partitioned && like.dim === d
        ? like.emptyCopy()
        : new VectorIndex({ dim: d, metric, keepOriginals: true, threads: 1, ...(partitions === undefined ? {} : { partitions }) });
    const index = make(dim, 'ip', old?.index);
    const similar = make(dim, 'cosine', old?.similar);
    const content = grown ? make(codes.length / n, 'cosine', old?.content) : old.content;
    try {
      await Promise.all([index.add(ids, vectors), similar.add(ids, vectors), ...(grown ? [content.add(ids, codes)] : [])]);
    } catch (e) {
      for (const x of grown ? [index, similar, content] : [index, similar]) x.close();
      throw e;
    }
    this.#serving = { index, similar, content, vectors, codes, warm };
    this.#warming.clear();
    if (old) {
      for (const x of grown ? [old.index, old.similar, old.content] : [old.index, old.similar]) x.close();
      this.#spareVectors = old.vectors;
    }
    // what the old indexes (and the update's training) freed goes back to the OS, off the JS
    // thread: otherwise glibc keeps it in its arenas and RSS climbs with every update
    await native.releaseMemory();
  }

  #itemNumbers(ids: readonly string[], what: string, skipUnknown: boolean): { items: number[]; ignored: number } {
    if (!Array.isArray(ids)) throw new LmrecError(`${what} must be an array of item ids`, 'INVALID_ARGUMENT');
    const items: number[] = [];
    let ignored = 0;
    for (const id of ids) {
      const i = typeof id === 'string' ? this.#catalog.ids.get(id) : undefined;
      if (i === undefined) {
        if (!skipUnknown) throw new LmrecError(`${what}: item '${String(id)}' is not in the catalog`, 'UNKNOWN_ID');
        ignored++;
      } else items.push(i);
    }
    return { items, ignored };
  }

  #admitted(filter: RecommendRequest['filter']): number[] | undefined {
    if (filter === undefined) return undefined;
    if (typeof filter === 'function') {
      const out: number[] = [];
      this.#catalog.fields.forEach((fields, i) => filter({ id: this.#catalog.ids.name(i), fields }) && out.push(i));
      return out;
    }
    if (typeof filter !== 'object' || filter === null) throw new LmrecError('filter must be an object of field values or a predicate', 'INVALID_ARGUMENT');
    return this.#catalog.matching(filter);
  }

  #popularity(k: number, excluded: Set<number>, only: number[] | undefined, ignored: number): Recommendations {
    const srm = this.#live();
    const counts = srm.popularity();
    this.#popular ??= Int32Array.from(counts.keys()).sort((a, b) => counts[b]! - counts[a]! || a - b);
    const allowed = only ? new Set(only) : undefined;
    const out: ScoredItem[] = [];
    for (const i of this.#popular) {
      if (out.length >= k) break;
      if (excluded.has(i) || (allowed && !allowed.has(i))) continue;
      out.push({ id: this.#catalog.ids.name(i), score: counts[i]! });
    }
    return result(out, 'popularity', ignored);
  }
}

/** The settings load() reads from a saved manifest (other fields pass: the report, a newer lmrec's). */
const savedManifestSchema = z
  .looseObject({
    model: z.looseObject({ source: z.string().min(1), hidden: z.number().int().positive(), layers: z.number().int().positive() }),
    content: z.custom<ContentState>().optional(), // checked by ContentScores.restore
    layer: z.number().int().nonnegative(),
    pooling: z.enum(['mean', 'last', 'cls', 'marker']),
    template: z.string().min(1),
    dim: z.number().int().min(8).max(512),
    report: z.custom<FitReport>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object'), // only shown
  })
  .refine((m) => m.layer <= m.model.layers, { message: "past the model's last layer", path: ['layer'] });

/** The JSON lines of a saved part, each handed to `take` with its line number; CORRUPT_FILE naming the line. */
function readSavedLines(file: string, take: (value: Record<string, unknown>, line: number) => void): void {
  readTextFile(file)
    .split('\n')
    .forEach((text, i) => {
      if (text.length === 0) return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw savedDamage(file, i + 1, 'not valid JSON');
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw savedDamage(file, i + 1, 'not a JSON object');
      take(value as Record<string, unknown>, i + 1);
    });
}

function savedDamage(file: string, line: number, what: string): LmrecError {
  return new LmrecError(`'${file}' line ${line}: ${what}`, 'CORRUPT_FILE');
}

/** catalog.jsonl: `{ id, fields }` a line, ids unique, field values strings. */
function readSavedCatalog(file: string): Catalog {
  const catalog = new Catalog();
  readSavedLines(file, ({ id, fields }, line) => {
    if (typeof id !== 'string' || id.length === 0) throw savedDamage(file, line, 'an item without an id');
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields) || !Object.values(fields).every((v) => typeof v === 'string')) {
      throw savedDamage(file, line, `item '${id}': fields are not an object of strings`);
    }
    if (catalog.ids.get(id) !== undefined) throw savedDamage(file, line, `item '${id}' appears twice`);
    catalog.add([{ id, fields: fields as Record<string, string> }]);
  });
  return catalog;
}

/** histories.jsonl: `{ user, items }` a line, users unique (a repeat would shift every later user's history), items in the catalog. */
function readSavedHistories(file: string, items: number): { users: IdMap; histories: number[][] } {
  const users = new IdMap();
  const histories: number[][] = [];
  readSavedLines(file, ({ user, items: h }, line) => {
    if (typeof user !== 'string' || user.length === 0) throw savedDamage(file, line, 'a history without a user');
    if (users.get(user) !== undefined) throw savedDamage(file, line, `user '${user}' appears twice`);
    if (!Array.isArray(h) || !h.every((i) => Number.isInteger(i) && i >= 0 && i < items)) {
      throw savedDamage(file, line, `user '${user}': items are not a list of item numbers below the catalog's ${items}`);
    }
    users.add(user);
    histories.push(h as number[]);
  });
  return { users, histories };
}

/** scaling.f32: the feature means then scales, `hidden` of each. */
function readSavedScaling(file: string, hidden: number): Float32Array {
  const bytes = readBytes(file);
  if (bytes.length !== 8 * hidden) throw new LmrecError(`'${file}' holds ${bytes.length} bytes, not the ${8 * hidden} of a model ${hidden} wide`, 'CORRUPT_FILE');
  return new Float32Array(new Uint8Array(bytes).buffer);
}

/**
 * Scores of every item as the Recommender ranks them: the SRM's (when given) plus the content
 * part. Rows are the SRM scorer's, the content added in place.
 */
function modelScorer(srm: SequentialRecommender, content: ContentScores): Scorer {
  const base = srm.scorer();
  return async (splits) => {
    const items = srm.items; // the SRM's rows also cover items added since the content part was built
    const rows = await base(splits);
    const warm = srm.idMask();
    splits.forEach((s, j) => content.addTo(s.history, rows.subarray(j * items, (j + 1) * items), warm));
    return rows;
  };
}

function result(items: ScoredItem[], fallback: 'popularity' | null, ignored: number): Recommendations {
  return { items, fallback, ignored };
}

function checkK(k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new LmrecError(`k must be a positive integer, got ${String(k)}`, 'INVALID_K');
  if (k > MAX_K) throw new LmrecError(`k must be at most ${MAX_K}, got ${k}`, 'REQUEST_TOO_LARGE');
  return k;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The rows of `m` (n x width) except `skip`. */
function withoutRows(m: Float32Array, width: number, skip: number[]): Float32Array {
  if (skip.length === 0) return m;
  const drop = new Set(skip);
  const n = m.length / width;
  const out = new Float32Array((n - drop.size) * width);
  let at = 0;
  for (let i = 0; i < n; i++) if (!drop.has(i)) out.set(m.subarray(i * width, (i + 1) * width), (at++) * width);
  return out;
}

/** Removes every event of the cold items from the training sequences (the evaluation's cold-item protocol). */
function withColdItems(split: LeaveOneOut, coldIds: readonly string[], catalog: Catalog): LeaveOneOut {
  if (coldIds.length === 0) return split;
  const cold = new Set<number>();
  for (const id of coldIds) {
    const i = catalog.ids.get(id);
    if (i === undefined) throw new LmrecError(`coldItems: item '${id}' is not in the catalog`, 'UNKNOWN_ID');
    cold.add(i);
  }
  return { ...split, train: split.train.map((s) => s.filter((i) => !cold.has(i))) };
}
