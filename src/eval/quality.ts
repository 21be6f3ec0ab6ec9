/**
 * The quality table: `lmrec eval quality`, `lmrec demo`, `npm run bench:quality` and
 * `npm run bench:rec`. Every model is scored on one leave-one-out split of the catalog and
 * event log, in which a seeded share of the items is made cold (every event of theirs removed
 * from training; validation and test targets stay as they are). Test targets that are warm and
 * cold are scored apart (full ranking, history masked); coverage and the top-1% share come from
 * every test user's top 10.
 *
 * Rows, in order:
 *   popularity        items by training count
 *   content TF-IDF    cosine with the mean TF-IDF vector of the last 50 history items; no
 *                     training; item texts rendered by the Recommender's item template
 *   ID-only SRM       SASRec on item IDs (the Recommender's SRM settings), early-stopped on
 *                     validation NDCG@10
 *   SRM + content     the ID-only SRM's scores + w · the content scores, w chosen on validation
 *   lmrec             Recommender.fit (LM codes + SRM) with the same cold items, scored as it
 *                     ranks (rec.scorer())
 *   lmrec (fp32 codes)  the same with fp32 codes (variants: ['int8', 'fp32'])
 *
 * An epoch cap with early stopping decides how long each model trains (`epochs`, `patience`);
 * a time `budget` can bound each fit as well. Validation (early stopping, the fusion weight) is
 * on a seeded sample of at most 5,000 users, the sample Recommender.fit validates on. The cold
 * items are drawn once (`coldSeed`), so every model and every seed shares the split; each model
 * seed (`seeds`) trains every model again, and rows report the mean, spread and per-seed values.
 * Popularity and content do not depend on the seed: they are scored once.
 */
import path from 'node:path';
import { collectInteractions } from '../data/interactions.js';
import { readEvents, readItems, type ItemRecord } from '../data/records.js';
import { LmrecError } from '../errors.js';
import { LanguageModel } from '../lm/language-model.js';
import { renderItemTexts } from '../text/item-template.js';
import { DEFAULT_MODEL_DIR } from '../lm/default-model.js';
import { Catalog } from '../recommender/catalog.js';
import type { SweepRow } from '../recommender/layer-sweep.js';
import { Recommender, type FitProgress, type RecommenderFitOptions } from '../recommender/recommender.js';
import { SequentialRecommender, SRM_DEFAULTS, type StopReason } from '../srm/sequential-recommender.js';
import { TfidfVectors, type TfidfOptions } from '../text/tfidf.js';
import { Random } from '../util/random.js';
import { beyondAccuracy } from './beyond-accuracy.js';
import { CONTENT_RECENT } from '../recommender/content-scores.js';
import { chooseColdWeight, chooseFusionWeight, coldWeightedScorer, contentScorer, FUSION_WEIGHTS, fusedScorer } from './baselines.js';
import { evaluate, leaveOneOut, popularityScorer, sampleSplits, trainingCounts, type Metrics, type Scorer } from './leave-one-out.js';

/** The rows' model names, in table order. */
export const QUALITY_MODELS = {
  /** Items by training count. */
  popularity: 'popularity',
  /** Cosine with the mean TF-IDF vector of the last history items; no training. */
  content: 'content TF-IDF',
  /** SASRec on item IDs, the Recommender's SRM settings. */
  srm: 'ID-only SRM',
  /** The ID-only SRM's scores plus a weight (chosen on validation) times the content scores. */
  fused: 'SRM + content',
  /** The same with a weight of its own for items without training events, as lmrec chooses it. */
  fusedCold: 'SRM + content, cold weight',
  /** Recommender.fit (LM codes + SRM), int8 codes. */
  lmrec: 'lmrec',
  /** The same with fp32 codes (variants: ['int8', 'fp32']). */
  lmrecFp32: 'lmrec (fp32 codes)',
} as const;

/** The Recommender variants a table can hold: int8 codes (the product's) and fp32 codes. */
export type QualityVariant = 'int8' | 'fp32';

/** Which fit is running: the step's number (1-based) of all the comparison will run. */
export interface QualityStep {
  index: number;
  total: number;
}

export interface QualityOptions {
  /** The catalog and event log (JSONL or CSV files). */
  items: string;
  /** The event log (user, item, optional ts); events of items outside the catalog are skipped. */
  events: string;
  /** The Recommender's language model: 'default' (bundled; default), a model directory, or a loaded model (left open). */
  model?: RecommenderFitOptions['model'];
  /** Share of items made cold, in [0, 1). Default 0.1. */
  coldFraction?: number;
  /** Seed of the cold-item draw, the same for every model seed. Default 7. */
  coldSeed?: number;
  /** Model seeds: every trained model is fit once per seed. Default [1]. */
  seeds?: number[];
  /** Most epochs of each training (early-stopped on validation NDCG@10). Default 200. */
  epochs?: number;
  /** Validations without improvement before stopping. Default 5. */
  patience?: number;
  /** Optional time bound, in seconds, of each fit (the ID-only SRM; each Recommender.fit, its layer sweep included). */
  budget?: number;
  /** The Recommender fits' time bound instead of `budget`, e.g. to leave room for the layer sweep. */
  recommenderBudget?: number;
  /** How an item's fields become its text, for the content baseline and the Recommender alike. Default: its title, else every field. */
  template?: string;
  /** The lmrec rows: 'int8' (the product) and 'fp32' (fp32 codes). Default ['int8']. */
  variants?: QualityVariant[];
  /** The Recommender's LM layer, or 'auto' (a layer sweep; default). */
  layer?: 'auto' | number;
  /** Layers the sweep tries. */
  sweepLayers?: number[];
  /** Width of the Recommender's item codes. Default 64. */
  dim?: number;
  /** SRM settings over SRM_DEFAULTS, for the ID-only SRM and the Recommender alike. */
  srm?: RecommenderFitOptions['srm'];
  /** History items the content profile averages. Default 50. */
  recent?: number;
  /** Fusion weights tried on validation. Default 0, 0.5, 1, 2, 4, 8, 16, 32. */
  fusionWeights?: number[];
  /** The content baseline's TF-IDF vocabulary bounds (the Recommender's content part keeps its own defaults). */
  tfidf?: TfidfOptions;
  /** Threads for training and the language model; default all cores. */
  threads?: number;
  /** Stops the comparison: the fit under way returns its best model so far (still scored), and later fits are skipped. */
  signal?: AbortSignal;
  /** What is running: the row (and seed), the fit's progress, and the step of all steps. */
  onProgress?: (what: string, p?: FitProgress, step?: QualityStep) => void;
}

/** A row's figures, of one seed or their mean; `Shape<Spread>` of their spread. */
export interface QualityShape<T> {
  /** Test metrics (HR@10, NDCG@10, MRR) on users whose target item is warm (has training events). */
  warm: Record<string, T>;
  /** The same on users whose target is cold (empty when there are none). */
  cold: Record<string, T>;
  /** Distinct items in every test user's top 10, over the catalog size. */
  coverage: T;
  /** Share of those top-10 slots taken by the most popular 1% of items. */
  popularShare: T;
  /** Epochs trained (0: the model does not train). */
  epochs: T;
  /** Seconds the fit took (reading the data not included). */
  seconds: T;
  /** SRM + content: the fusion weight chosen on validation. */
  weight?: T;
  /** SRM + content, cold weight: the weight for items without training events. */
  coldWeight?: T;
}

export type QualityScores = QualityShape<number>;

/** One seed's figures of a row. */
export interface SeedScores extends QualityScores {
  seed: number;
  /** Why training stopped. */
  stopReason?: StopReason;
  /** lmrec: the LM layer the fit chose. */
  layer?: number;
  /** lmrec: items without training events in its fit (the cold items, and items no training sequence has). */
  coldItems?: number;
  /** Test users scored: warm and cold targets (the same in every row: one split). */
  targets: { warm: number; cold: number };
}

export interface Spread {
  min: number;
  max: number;
  /** Sample standard deviation over seeds (0 with one seed). */
  std: number;
}

export interface QualityRow {
  /** The row's model: one of QUALITY_MODELS' names, e.g. 'ID-only SRM'. */
  model: string;
  /** The mean over seeds. */
  mean: QualityScores;
  /** Min, max and standard deviation over seeds of each figure of `mean`. */
  spread: QualityShape<Spread>;
  /** Per seed (popularity and content: the same figures for every seed). */
  seeds: SeedScores[];
}

export interface QualityResult {
  /** A row per model that was scored, in QUALITY_MODELS order (rows a stop left unscored are absent). */
  rows: QualityRow[];
  /** The data as read. */
  data: {
    /** Items in the catalog. */
    items: number;
    /** Users with at least one event on a catalog item. */
    users: number;
    /** Events on catalog items. */
    events: number;
    /** Events whose item is not in the catalog (skipped). */
    unknownEvents: number;
  };
  /** The model seeds, as given (default [1]). */
  seeds: number[];
  /** Seed of the cold-item draw. */
  coldSeed: number;
  /** Share of items made cold, as asked (coldItems is it times the catalog size, rounded). */
  coldFraction: number;
  /** How many items were made cold, and their ids. */
  coldItems: number;
  /** The cold items' ids. */
  coldIds: string[];
  /** Test users whose target is warm (has training events). */
  warmTargets: number;
  /** Test users whose target is one of the cold items. */
  coldTargets: number;
  /** Users validation (early stopping, the fusion weight) scored. */
  validUsers: number;
  /** Most epochs of each training. */
  epochs: number;
  /** Validations without improvement before a training stopped. */
  patience: number;
  /** Time bound of each fit, in seconds, when one was given. */
  budget?: number;
  /** The SRM settings of the ID-only SRM and lmrec: SRM_DEFAULTS and the `srm` option over it. */
  srm: NonNullable<RecommenderFitOptions['srm']>;
  /** The item template's source (content and the Recommender). */
  template: string;
  /** History items the content profile averaged. */
  recent: number;
  /** The first lmrec fit's layer sweep, chosen layer and the model's layers (absent without lmrec rows). */
  sweep: SweepRow[];
  /** The LM layer the first lmrec fit chose. */
  layer?: number;
  /** The language model's number of layers (its last layer). */
  lastLayer?: number;
  /** The signal stopped the comparison: later fits were skipped. */
  aborted: boolean;
  /** Wall-clock seconds of the whole comparison, reading the data included. */
  seconds: number;
}

/** Users validation scores, a seeded sample beyond (Recommender.fit's sample: the same users). */
const MAX_VALID_USERS = 5000;
const VALID_SAMPLE_SEED = 11;

/**
 * The quality table (see the file's header): every model fit and scored on one leave-one-out split
 * with cold items.
 * @param o The data files, the cold items, the seeds and the training settings (see QualityOptions).
 */
export async function compareModels(o: QualityOptions): Promise<QualityResult> {
  const t0 = performance.now();
  const fraction = o.coldFraction ?? 0.1;
  if (!(fraction >= 0 && fraction < 1)) throw new LmrecError(`coldFraction must be in [0, 1), got ${String(fraction)}`, 'INVALID_ARGUMENT');
  const coldSeed = o.coldSeed ?? 7;
  const seeds = o.seeds ?? [1];
  if (seeds.length === 0 || seeds.some((s) => !(Number.isInteger(s) && s >= 0)) || new Set(seeds).size !== seeds.length) {
    throw new LmrecError(`seeds must be distinct integers >= 0, got ${JSON.stringify(seeds)}`, 'INVALID_ARGUMENT');
  }
  const epochs = positiveInt(o.epochs, 'epochs') ?? 200;
  const patience = positiveInt(o.patience, 'patience') ?? 5;
  for (const [name, b] of [['budget', o.budget], ['recommenderBudget', o.recommenderBudget]] as const) {
    if (b !== undefined && !(typeof b === 'number' && b > 0)) throw new LmrecError(`${name} must be a positive number of seconds, got ${String(b)}`, 'INVALID_ARGUMENT');
  }
  const variants = o.variants ?? ['int8'];
  if (variants.some((v) => v !== 'int8' && v !== 'fp32')) throw new LmrecError(`variants are 'int8' and 'fp32', got ${JSON.stringify(variants)}`, 'INVALID_ARGUMENT');
  const recent = positiveInt(o.recent, 'recent') ?? CONTENT_RECENT;
  const signal = o.signal;

  // the data, read as Recommender.fit reads it: the catalog in file order, events by its ids
  const records: ItemRecord[] = [];
  for await (const r of readItems(o.items)) records.push(r);
  const catalog = new Catalog(records);
  if (catalog.size === 0) throw new LmrecError('the catalog is empty', 'INVALID_DATA');
  const data = await collectInteractions(readEvents(o.events), { items: catalog.ids });
  const split = leaveOneOut(data.sequences);
  if (split.test.length === 0) throw new LmrecError('nothing to evaluate: no user has 3 or more events', 'INVALID_DATA');
  const items = catalog.size;

  // the cold items: drawn once, shared by every model and seed
  const rng = new Random(coldSeed);
  const cold = new Set<number>();
  while (cold.size < Math.round(fraction * items)) cold.add(rng.int(items));
  const coldIds = [...cold].map((i) => catalog.ids.name(i));
  const train = split.train.map((s) => s.filter((i) => !cold.has(i)));
  const valid = sampleSplits(split.valid, MAX_VALID_USERS, VALID_SAMPLE_SEED);
  const warmTest = split.test.filter((s) => !cold.has(s.target));
  const coldTest = split.test.filter((s) => cold.has(s.target));
  const targets = { warm: warmTest.length, cold: coldTest.length };
  const popularity = trainingCounts(train, items);

  const score = async (scorer: Scorer) => ({
    warm: warmTest.length ? pick(await evaluate(warmTest, items, scorer, [10])) : {},
    cold: coldTest.length ? pick(await evaluate(coldTest, items, scorer, [10])) : {},
    ...(await beyondAccuracy(split.test, items, scorer, popularity)),
    targets,
  });

  const steps = 2 + seeds.length * (3 + variants.length); // popularity, content; per seed: SRM, the two fusions, the variants
  let step = 0;
  const begin = (what: string) => {
    step++;
    o.onProgress?.(what, undefined, { index: step, total: steps });
    const at = { index: step, total: steps };
    return (p: FitProgress) => o.onProgress?.(what, p, at);
  };
  const perSeed = new Map<string, SeedScores[]>(Object.values(QUALITY_MODELS).map((m) => [m, []]));
  const add = (model: string, s: SeedScores) => perSeed.get(model)!.push(s);

  begin(QUALITY_MODELS.popularity);
  const pop = { ...(await score(popularityScorer(train, items))), epochs: 0, seconds: 0 };
  for (const seed of seeds) add(QUALITY_MODELS.popularity, { seed, ...pop });

  begin(QUALITY_MODELS.content);
  let t = performance.now();
  const rendered = renderItemTexts(catalog.fields.map((fields) => ({ fields })), o.template);
  const tfidf = TfidfVectors.fit(rendered.texts, o.tfidf);
  const content = contentScorer(tfidf, recent);
  const contentSeconds = (performance.now() - t) / 1000;
  const con = { ...(await score(content)), epochs: 0, seconds: contentSeconds };
  for (const seed of seeds) add(QUALITY_MODELS.content, { seed, ...con });

  // the Recommender's language model: loaded once for every fit (a loaded one is the caller's)
  let lm: LanguageModel | undefined;
  let ownsLm = false;
  const languageModel = async (): Promise<LanguageModel> => {
    if (lm) return lm;
    if (o.model instanceof LanguageModel) return (lm = o.model);
    const source = o.model === undefined || o.model === 'default' ? DEFAULT_MODEL_DIR : path.resolve(o.model);
    lm = await LanguageModel.load(source, { ...(o.threads !== undefined ? { threads: o.threads } : {}) });
    ownsLm = true;
    return lm;
  };

  let sweep: SweepRow[] = [];
  let layer: number | undefined;
  let lastLayer: number | undefined;
  let aborted = false;
  const stopped = () => (aborted ||= signal?.aborted === true);
  try {
    for (const seed of seeds) {
      if (stopped()) break;
      const label = (model: string) => (seeds.length > 1 ? `${model}, seed ${seed}` : model);

      // the ID-only SRM, and the same fused with content
      const progress = begin(label(QUALITY_MODELS.srm));
      t = performance.now();
      const srm = await SequentialRecommender.fit(train, items, {
        ...SRM_DEFAULTS,
        ...o.srm,
        valid,
        epochs,
        patience,
        seed,
        ...(o.budget !== undefined ? { maxSeconds: o.budget } : {}),
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        ...(signal ? { signal } : {}),
        onEpoch: (e) => progress({ stage: 'training', done: e.epoch + 1, total: epochs, ...(e.valid ? { validNdcg: e.valid['NDCG@10']! } : {}) }),
      });
      try {
        const srmSeconds = (performance.now() - t) / 1000;
        const trained = { epochs: srm.history.length, ...(srm.stopReason ? { stopReason: srm.stopReason } : {}) };
        add(QUALITY_MODELS.srm, { seed, ...(await score(srm.scorer())), ...trained, seconds: srmSeconds });
        if (stopped()) break;
        begin(label(QUALITY_MODELS.fused));
        t = performance.now();
        const { weight } = await chooseFusionWeight(valid, items, srm.scorer(), content, o.fusionWeights ?? FUSION_WEIGHTS);
        const fused = fusedScorer(srm.scorer(), content, weight);
        add(QUALITY_MODELS.fused, { seed, ...(await score(fused)), ...trained, seconds: srmSeconds + (performance.now() - t) / 1000, weight });
        if (stopped()) break;
        // the same with lmrec's calibration: a content weight of their own for items without
        // training events, chosen on warm and cold validation targets alike (chooseColdWeight),
        // so that what lmrec gains over it is the LM codes', not the calibration's
        begin(label(QUALITY_MODELS.fusedCold));
        t = performance.now();
        const isCold = Uint8Array.from(trainingCounts(train, items), (c) => (c > 0 ? 0 : 1));
        const coldChoice = await chooseColdWeight(valid, items, srm.scorer(), content, weight, isCold, o.fusionWeights ?? FUSION_WEIGHTS);
        const coldWeighted = coldWeightedScorer(srm.scorer(), content, weight, coldChoice.weight, isCold);
        add(QUALITY_MODELS.fusedCold, { seed, ...(await score(coldWeighted)), ...trained, seconds: srmSeconds + (performance.now() - t) / 1000, weight, coldWeight: coldChoice.weight });
      } finally {
        srm.close();
      }

      // lmrec: the Recommender as the product fits and ranks
      for (const variant of variants) {
        if (stopped()) break;
        const model = variant === 'int8' ? QUALITY_MODELS.lmrec : QUALITY_MODELS.lmrecFp32;
        const progress = begin(label(model));
        const budget = o.recommenderBudget ?? o.budget;
        const lmModel = await languageModel(); // loaded once, outside the fit's time
        t = performance.now();
        let rec: Recommender;
        try {
          rec = await Recommender.fit({
            items: o.items,
            events: o.events,
            model: lmModel,
            coldItems: coldIds,
            seed,
            epochs,
            patience,
            int8: variant === 'int8',
            ...(o.template !== undefined ? { template: o.template } : {}),
            ...(o.srm ? { srm: o.srm } : {}),
            ...(o.layer !== undefined ? { layer: o.layer } : {}),
            ...(o.sweepLayers ? { sweepLayers: o.sweepLayers } : {}),
            ...(o.dim !== undefined ? { dim: o.dim } : {}),
            ...(budget !== undefined ? { budget } : {}),
            ...(o.threads !== undefined ? { threads: o.threads } : {}),
            ...(signal ? { signal } : {}),
            onProgress: progress,
          });
        } catch (e) {
          // stopped before anything was trained: nothing to score
          if (signal?.aborted && e instanceof LmrecError && e.code === 'ABORTED') break;
          throw e;
        }
        try {
          const seconds = (performance.now() - t) / 1000;
          const r = rec.report;
          if (layer === undefined) {
            sweep = r.sweep;
            layer = r.layer;
            lastLayer = r.layers;
          }
          add(model, {
            seed,
            ...(await score(rec.scorer())),
            epochs: rec.srm.history.length,
            seconds,
            weight: r.contentWeight,
            coldWeight: r.coldContentWeight,
            stopReason: r.stopReason,
            layer: r.layer,
            coldItems: r.coldItems,
          });
        } finally {
          await rec.close();
        }
      }
    }
  } finally {
    if (lm && ownsLm) await lm.close();
  }

  const rows = [...perSeed].filter(([, s]) => s.length > 0).map(([model, s]) => aggregate(model, s));
  return {
    rows,
    data: { items, users: data.users.size, events: data.events, unknownEvents: data.unknownItems },
    seeds,
    coldSeed,
    coldFraction: fraction,
    coldItems: cold.size,
    coldIds,
    warmTargets: warmTest.length,
    coldTargets: coldTest.length,
    validUsers: valid.length,
    epochs,
    patience,
    ...(o.budget !== undefined ? { budget: o.budget } : {}),
    srm: { ...SRM_DEFAULTS, ...o.srm },
    template: rendered.template.source,
    recent,
    sweep,
    ...(layer !== undefined ? { layer, lastLayer } : {}),
    aborted,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The table's metrics of evaluate()'s (HR@10, NDCG@10, MRR). */
function pick(m: Metrics): Metrics {
  return { 'HR@10': m['HR@10']!, 'NDCG@10': m['NDCG@10']!, MRR: m.MRR! };
}

function positiveInt(v: number | undefined, name: string): number | undefined {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new LmrecError(`${name} must be a positive integer, got ${String(v)}`, 'INVALID_ARGUMENT');
  return v;
}

/** Mean and spread over values (sample standard deviation). */
function spreadOf(xs: number[]): { mean: number; spread: Spread } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, spread: { min: Math.min(...xs), max: Math.max(...xs), std } };
}

/** A row from its seeds: the mean and spread of every figure. */
export function aggregate(model: string, seeds: SeedScores[]): QualityRow {
  const first = seeds[0]!;
  const mean = {} as QualityScores;
  const spread = {} as QualityShape<Spread>;
  for (const part of ['warm', 'cold'] as const) {
    mean[part] = {};
    spread[part] = {};
    for (const k of Object.keys(first[part])) {
      const s = spreadOf(seeds.map((x) => x[part][k]!));
      mean[part][k] = s.mean;
      spread[part][k] = s.spread;
    }
  }
  for (const k of ['coverage', 'popularShare', 'epochs', 'seconds', 'weight', 'coldWeight'] as const) {
    if (first[k] === undefined) continue;
    const s = spreadOf(seeds.map((x) => x[k]!));
    mean[k] = s.mean;
    spread[k] = s.spread;
  }
  return { model, mean, spread, seeds };
}
