/**
 * The quality table of `lmrec demo` and `npm run bench:rec`: popularity, the ID-only SRM and
 * the Recommender (LM codes + SRM) at the best and the last layer, int8 and fp32 codes, on one
 * leave-one-out split where a fraction of items is cold (every event of theirs removed from
 * training). Test targets that are warm and cold are scored separately; every model trains
 * under the same time budget.
 */
import { LmrecError } from '../errors.js';
import { readCatalogIds, readInteractions } from '../data/interactions.js';
import { beyondAccuracy } from '../eval/beyond-accuracy.js';
import { evaluate, leaveOneOut, popularityScorer, trainingCounts, type Metrics, type Scorer } from '../eval/leave-one-out.js';
import type { LanguageModel } from '../lm/language-model.js';
import { SequentialRecommender } from '../srm/sequential-recommender.js';
import { Random } from '../util/random.js';
import type { SweepRow } from './layer-sweep.js';
import { DEFAULT_SRM, Recommender, type FitProgress, type RecommenderFitOptions } from './recommender.js';

export interface QualityRow {
  model: string;
  /** Test metrics on users whose target item is warm (has training events). */
  warm: Metrics;
  /** Test metrics on users whose target item is cold. */
  cold: Metrics;
  /** Over every test user's top 10. */
  coverage: number;
  popularShare: number;
  seconds: number;
}

export interface QualityOptions {
  items: string;
  events: string;
  model: LanguageModel;
  /** Share of items made cold. Default 0.1. */
  coldFraction?: number;
  /** Seconds each model trains. */
  budget: number;
  /** Seconds the layer sweep may take. */
  sweepBudget: number;
  sweepLayers?: number[];
  seed?: number;
  srm?: RecommenderFitOptions['srm'];
  threads?: number;
  /** Stops the comparison: every fit returns its best model so far, and later rows are skipped. */
  signal?: AbortSignal;
  onProgress?: (what: string, p?: FitProgress) => void;
}

export interface QualityResult {
  rows: QualityRow[];
  sweep: SweepRow[];
  layer: number;
  lastLayer: number;
  coldItems: number;
  /** The ids of the cold items. */
  coldIds: string[];
  warmTargets: number;
  coldTargets: number;
}

export async function compareModels(o: QualityOptions): Promise<QualityResult> {
  const catalog = await readCatalogIds(o.items);
  const data = await readInteractions(o.events, { items: catalog });
  const split = leaveOneOut(data.sequences);
  const rng = new Random(o.seed ?? 7);
  const fraction = o.coldFraction ?? 0.1;
  if (!(fraction >= 0 && fraction < 1)) throw new LmrecError('coldFraction must be in [0, 1)', 'INVALID_ARGUMENT');
  const cold = new Set<number>();
  while (cold.size < Math.round(fraction * catalog.size)) cold.add(rng.int(catalog.size));
  const coldIds = [...cold].map((i) => catalog.name(i));
  const train = split.train.map((s) => s.filter((i) => !cold.has(i)));
  const warmTest = split.test.filter((s) => !cold.has(s.target));
  const coldTest = split.test.filter((s) => cold.has(s.target));
  const items = catalog.size;
  const popularity = trainingCounts(train, items);

  const score = async (model: string, scorer: Scorer, seconds: number): Promise<QualityRow> => ({
    model,
    warm: await evaluate(warmTest, items, scorer, [10]),
    cold: coldTest.length ? await evaluate(coldTest, items, scorer, [10]) : {},
    ...(await beyondAccuracy(split.test, items, scorer, popularity)),
    seconds,
  });
  const rows: QualityRow[] = [await score('popularity', popularityScorer(train, items), 0)];

  o.onProgress?.('ID-only SRM');
  let t0 = performance.now();
  const srm = await SequentialRecommender.fit(train, items, {
    ...DEFAULT_SRM,
    ...o.srm,
    valid: split.valid,
    maxSeconds: o.budget,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    onEpoch: (e) => o.onProgress?.('ID-only SRM', { stage: 'training', done: e.epoch + 1, total: 200, ...(e.valid ? { validNdcg: e.valid['NDCG@10']! } : {}) }),
  });
  rows.push(await score('ID-only SRM', srm.scorer(), (performance.now() - t0) / 1000));
  srm.close();

  const fit = (layer: 'auto' | number, budget: number, int8 = true, what?: string) =>
    Recommender.fit({
      items: o.items,
      events: o.events,
      model: o.model,
      layer,
      int8,
      budget,
      coldItems: coldIds,
      ...(o.sweepLayers ? { sweepLayers: o.sweepLayers } : {}),
      ...(o.srm ? { srm: o.srm } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      onProgress: (p) => o.onProgress?.(what ?? `LM codes + SRM, layer ${layer}`, p),
    });

  o.onProgress?.('layer sweep');
  const swept = await fit('auto', o.sweepBudget, true, 'layer sweep');
  const { sweep, layer } = swept.report;
  const lastLayer = swept.report.layers;
  await swept.close();
  const variants: [string, number, boolean][] = [[`LM codes + SRM (best layer ${layer}, int8)`, layer, true]];
  if (lastLayer !== layer) variants.push([`LM codes + SRM (last layer ${lastLayer}, int8)`, lastLayer, true]);
  variants.push([`LM codes + SRM (best layer ${layer}, fp32 codes)`, layer, false]);
  for (const [name, l, int8] of variants) {
    if (o.signal?.aborted) break;
    t0 = performance.now();
    const rec = await fit(l, o.budget, int8, name);
    rows.push(await score(name, rec.srm.scorer(), (performance.now() - t0) / 1000));
    await rec.close();
  }
  return { rows, sweep, layer, lastLayer, coldItems: cold.size, coldIds, warmTargets: warmTest.length, coldTargets: coldTest.length };
}

/** The rows as a Markdown table. */
export function qualityMarkdown(rows: QualityRow[]): string {
  const f = (m: Metrics, k: string) => (m[k] === undefined ? '-' : m[k]!.toFixed(4));
  return [
    '| model | warm HR@10 | warm NDCG@10 | cold HR@10 | cold NDCG@10 | coverage@10 | top-1% share | fit s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.model} | ${f(r.warm, 'HR@10')} | ${f(r.warm, 'NDCG@10')} | ${f(r.cold, 'HR@10')} | ${f(r.cold, 'NDCG@10')} | ${r.coverage.toFixed(3)} | ${r.popularShare.toFixed(3)} | ${r.seconds.toFixed(0)} |`),
  ].join('\n');
}

