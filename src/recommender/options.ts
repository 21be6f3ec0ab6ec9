/**
 * The Recommender's vocabulary: the options fit() and load() take, what recommend() answers,
 * what a fit reports, and the manifest a saved recommender keeps. Checked with zod where they
 * enter (fitSchema, loadOptionsSchema).
 */
import { z } from 'zod';
import type { EventRecord, ItemRecord } from '../data/records.js';
import type { Metrics } from '../eval/leave-one-out.js';
import { LanguageModel, type Pooling } from '../lm/language-model.js';
import type { StopReason } from '../srm/sequential-recommender.js';
import type { FieldFilter } from './catalog.js';
import type { ContentState } from './content-scores.js';
import type { SweepRow } from './layer-sweep.js';

/** Where fit() is: each stage reports `done` of `total` units. */
export interface FitProgress {
  /** The stage fit() is in; they come in this order, 'sweep' only when layers are swept. */
  stage: 'reading' | 'encoding' | 'sweep' | 'training' | 'indexing';
  /** Units done: item texts when encoding, layers in the sweep, epochs in training; 0 or 1 otherwise. */
  done: number;
  /** Units in the stage (for 'training': the most epochs; early stopping may end it sooner). */
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
  srm?: {
    /** Embedding width of the SRM (default 64). */
    dim?: number;
    /** Self-attention blocks (default 2). */
    blocks?: number;
    /** Attention heads; must divide dim (default 1). */
    heads?: number;
    /** Most recent events of a history the SRM reads (default 50). */
    maxLen?: number;
    /** AdamW learning rate (default 1e-3). */
    lr?: number;
    /** Dropout rate in training, 0 to 0.99 (default 0.2). */
    dropout?: number;
    /** Training windows (user sequences) per step (default 128). */
    batchSize?: number;
  };
  /** Most epochs of the final training (default 200, early-stopped on validation NDCG@10). */
  epochs?: number;
  /** Validations without improvement before stopping. Default 5. */
  patience?: number;
  /** Time budget for the whole fit, e.g. '10m', '90s' or seconds; the best model so far is kept. */
  budget?: string | number;
  /** Stops at the next step; the best model found so far is returned (ABORTED if none was trained yet). */
  signal?: AbortSignal;
  /** Called as fit moves through its stages (see FitProgress), on the JS thread. */
  onProgress?: (p: FitProgress) => void;
  /**
   * Evaluation protocols: items whose events are all removed from training (they are cold:
   * scored by their code alone). The validation and test targets stay as they are.
   */
  coldItems?: readonly string[];
  /** Seed of the SRM's initialisation and training and of the layer sweep's user sample (default: fixed seeds). */
  seed?: number;
  /** Threads for training; default all cores. */
  threads?: number;
}

/** What fit() measured. */
export interface FitReport {
  /** Items in the catalog. */
  items: number;
  /** Users with at least one event on a catalog item. */
  users: number;
  /** Events on catalog items (training, validation and test together). */
  events: number;
  /** Events whose item is not in the catalog (skipped). */
  unknownEvents: number;
  /** Items without text (their features are the catalog's mean state). */
  itemsWithoutText: string[];
  /** Items without training events: scored by their code alone. */
  coldItems: number;
  /** The LM layer whose states represent items: the sweep's best, or the one asked for. */
  layer: number;
  /** Layers of the language model. */
  layers: number;
  /** Weight of the lexical part of the score for items with training events (0: off). */
  contentWeight: number;
  /** The same for items without (cold: their code alone beside it). */
  coldContentWeight: number;
  /** A row per layer the sweep probed; empty when a single layer was given. */
  sweep: SweepRow[];
  /** Validation and test metrics, on at most 5,000 users (a seeded sample beyond). */
  valid: Metrics;
  /** Test metrics (each user's last event), on the same users as `valid`. */
  test: Metrics;
  /** Users the validation and test metrics scored. */
  evaluatedUsers: number;
  /** Why the final training stopped: every epoch ran, early stopping, the budget, or the signal. */
  stopReason: StopReason;
  /** Wall-clock seconds of the whole fit, indexing included. */
  seconds: number;
}

export interface ScoredItem {
  /** The item's id. */
  id: string;
  /**
   * Higher is better: recommend()'s model score (SRM logit plus the content part; rerank()'s
   * fused score), a training count under the popularity fallback, a cosine for similar().
   */
  score: number;
}

/**
 * A ranking, as a plain object that serialises whole (the HTTP API answers the same shape).
 * `items` best first; `fallback` is 'popularity' when the request had no known history (training
 * counts are the scores then); `ignored` counts the request's history ids the catalog does not know.
 */
export interface Recommendations {
  /** The items, best first: at most k of them. */
  items: ScoredItem[];
  /** 'popularity' when the request had no known history (scores are training counts then); else null. */
  fallback: 'popularity' | null;
  /** History ids of the request that the catalog does not know (skipped). */
  ignored: number;
}

/** An item as filter predicates see it. */
export interface ItemView {
  /** The item's id. */
  id: string;
  /** Its text fields, as the catalog (or setItemFields) gave them. */
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
  /**
   * Threads of background work, 1..1024 (default all cores): a background SRM update trains on
   * them, and the language model encodes added items on them (addItems, when it loads the model
   * itself). A server keeps the other cores for requests.
   */
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
  /** Whether recommend() scans every item ('exact') or the nearest partitions ('partitioned'). */
  kind: 'exact' | 'partitioned';
  /** Partitions of recommend()'s index; 1 when exact. */
  partitions: number;
  /** Bytes the serving indexes hold together. */
  bytes: number;
}

export type IndexChoice = 'auto' | 'exact' | 'partitioned' | { partitions: number };

/** What `index` accepts (the CLI's `--index` parses with it too). */
export const indexChoiceSchema = z.union([z.enum(['auto', 'exact', 'partitioned']), z.strictObject({ partitions: z.number().int().min(1).max(65_536) })]);

export const loadOptionsSchema = z.strictObject({
  updateIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
  updateThreads: z.number().int().min(1).max(1024).optional(),
  index: indexChoiceSchema.optional(),
});

export interface SimilarOptions {
  /** How many. Default 10, at most 10,000 (as recommend's `k`). */
  k?: number;
  /** Compare item embeddings ('behaviour'), codes ('content'), or pick by the item ('auto', default: content for cold items). */
  by?: 'auto' | 'behaviour' | 'content';
  /** Items never to return. */
  exclude?: readonly string[];
  /** Only items whose fields match ({ category: 'lipstick' }), or for which the predicate holds. */
  filter?: FieldFilter | ((item: ItemView) => boolean);
}

export interface AddEventsReport {
  /** Events appended to histories (and queued for the background update). */
  accepted: number;
  /** Events whose item is not in the catalog (skipped; add the item first). */
  unknownItems: number;
  /** Users the recommender did not know before these events. */
  newUsers: number;
}

/** What a saved recommender's manifest.json holds. */
export interface Manifest {
  model: { source: string; hidden: number; layers: number };
  /** The lexical part of the score (absent in directories saved before it existed: off). */
  content?: ContentState;
  layer: number;
  pooling: Pooling;
  template: string;
  dim: number;
  report: FitReport;
}


export const fitSchema = z.strictObject({
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

