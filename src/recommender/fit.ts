/**
 * The fit pipeline (MARC on lmrec's parts): read the catalog and events, render item texts,
 * encode them with the LM at the candidate layers, probe the layers on validation users, train
 * the compression and task modules jointly with early stopping, choose the content weights on
 * validation, and measure validation and test. What it returns, the Recommender indexes.
 */
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { collectInteractions, type IdMap } from '../data/interactions.js';
import { checkEventRecord, checkItemRecord } from '../data/limits.js';
import { readEvents, readItems } from '../data/records.js';
import { chooseColdWeight, chooseFusionWeight, contentScorer } from '../eval/baselines.js';
import { evaluate, leaveOneOut, sampleSplits, type LeaveOneOut, type Scorer } from '../eval/leave-one-out.js';
import { LanguageModel } from '../lm/language-model.js';
import { DEFAULT_MODEL_DIR } from '../lm/default-model.js';
import { SequentialRecommender, SRM_DEFAULTS, type SrmFitOptions } from '../srm/sequential-recommender.js';
import { renderItemTexts } from '../text/item-template.js';
import { TfidfVectors } from '../text/tfidf.js';
import { parseDuration } from '../util/duration.js';
import { parseOptions } from '../util/options.js';
import { Catalog } from './catalog.js';
import { ContentScores } from './content-scores.js';
import { applyScaling, candidateLayers, encodeItemStates, fitScaling, type FeatureScaling } from './item-states.js';
import { probeLayers, type SweepRow } from './layer-sweep.js';
import { fitSchema, type FitProgress, type FitReport, type Manifest, type RecommenderFitOptions } from './options.js';

/** Users that validation (early stopping) and the test metrics score, a seeded sample beyond it. */
const MAX_EVAL_USERS = 5000;
/** Validation users the content weights are chosen on (every weight tried scores the whole catalog for each). */
const WEIGHT_USERS = 2000;

/** What a fit makes, for the Recommender to index and serve. */
export interface FittedParts {
  catalog: Catalog;
  users: IdMap;
  histories: number[][];
  manifest: Manifest;
  scaling: FeatureScaling;
  srm: SequentialRecommender;
  content: ContentScores;
  /** The caller's model (fit was given a LanguageModel), kept for addItems; undefined when fit loaded its own. */
  lm: LanguageModel | undefined;
}

/** The layer probe's result (Recommender.sweepLayers). */
export interface LayerSweep {
  /** A row per layer probed, in the order tried. */
  rows: SweepRow[];
  /** The layer with the best validation NDCG@10 (the one fit would choose). */
  best: number;
  /** Layers of the language model. */
  layers: number;
}

export async function fitParts(options: RecommenderFitOptions, sweepOnly: boolean): Promise<FittedParts | LayerSweep> {
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
    const srmOptions = { ...SRM_DEFAULTS, ...o.srm };
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
    return {
      catalog,
      users: data.users,
      histories: data.sequences.map((s) => Array.from(s)),
      manifest,
      scaling,
      srm,
      content,
      lm: ownsLm ? undefined : lm,
    };
  } finally {
    if (ownsLm) await lm.close();
  }
}

/**
 * Scores of every item as the Recommender ranks them: the SRM's (when given) plus the content
 * part. Rows are the SRM scorer's, the content added in place.
 */
export function modelScorer(srm: SequentialRecommender, content: ContentScores): Scorer {
  const base = srm.scorer();
  return async (splits) => {
    const items = srm.items; // the SRM's rows also cover items added since the content part was built
    const rows = await base(splits);
    const warm = srm.idMask();
    splits.forEach((s, j) => content.addTo(s.history, rows.subarray(j * items, (j + 1) * items), warm));
    return rows;
  };
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
