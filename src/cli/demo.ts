/**
 * `lmrec demo`: the product on a synthetic shop, with the bundled default LM (no download).
 *  1. writes a seeded catalog (title, text, category) and event log into a temp directory: a
 *     shop of real English words from WordNet, which the default LM has read (categories such
 *     as furniture or footwear, titles such as 'small oak rocking chair', descriptions their
 *     glosses; generateSynthetic's `words: 'shop'`), users keeping to a few categories each.
 *     Every model reads an item as `title: description` (DEMO_TEMPLATE);
 *  2. compares models on one leave-one-out split with a share of cold items (compareModels, the
 *     table of `lmrec eval quality`): popularity, content TF-IDF, the ID-only SRM, SRM + content
 *     and lmrec (the Recommender: LM codes + SRM, at the best layer of a layer sweep); prints
 *     the sweep and the table, and which model it recommends with and why (from the table);
 *  3. fits one Recommender on the best layer and shows a few users' last items next to their
 *     recommendations, and a cold item's most similar items (from its text alone);
 *  4. times recommend() and, unless --no-index, a small int8 vector index benchmark.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clusteredQueries, clusteredVectors } from '../data/clustered-vectors.js';
import { writeSynthetic, type SyntheticItem } from '../data/synthetic.js';
import { LanguageModel } from '../lm/language-model.js';
import { DEFAULT_MODEL_DIR } from '../lm/default-model.js';
import { compareModels, QUALITY_MODELS, type QualityResult, type QualityRow } from '../eval/quality.js';
import { qualityMarkdown, sweepSvg, sweepTable } from './reports.js';
import { Recommender, type FitReport } from '../recommender/recommender.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { recallAtK } from '../vector-index/recall.js';
import { VectorIndex, type SearchResult } from '../vector-index/vector-index.js';
import { fitBars, qualityStep, timeBar } from './fit-progress.js';
import { metricsText } from './recommender.js';

export interface DemoOptions {
  /** Catalog size. Default 1000. */
  items?: number;
  /** Users. Default 2000. */
  users?: number;
  /** Seconds the ID-only SRM of the comparison and the final fit train. Default 20. */
  budget?: number;
  /** Seconds lmrec's layer sweep may take in the comparison (its fit takes budget + sweepBudget). Default 40. */
  sweepBudget?: number;
  /** Share of items made cold. Default 0.1. */
  coldFraction?: number;
  seed?: number;
  /** Training threads of the final fit and search threads (default: all). */
  threads?: number | undefined;
  /** Also write quality.json, quality.md and sweep.svg here. */
  out?: string | undefined;
  /** The vector-index benchmark (default true): n vectors of dim, queries, top-k. */
  index?: boolean;
  n?: number;
  dim?: number;
  queries?: number;
  k?: number;
  /** Human-readable lines (default: stdout). */
  log?: (line: string) => void;
  /** Progress bars (default: stderr). */
  progress?: NodeJS.WritableStream;
}

export interface DemoItem {
  id: string;
  title: string;
  category: string;
  /** Without training events: recommended from its text alone. */
  cold: boolean;
  score?: number;
}

export interface DemoResult {
  data: { items: number; users: number; events: number; categories: number };
  quality: QualityResult;
  /** The model the demo recommends with (a row of the quality table) and why, from that table. */
  choice: { model: string; reason: string };
  recommender: { layer: number; report: FitReport };
  /** `onTopic`: recommendations sharing a category with the last 5 items seen. */
  examples: { user: string; events: number; history: DemoItem[]; recommendations: DemoItem[]; onTopic: number }[];
  coldItem: { item: DemoItem; similar: DemoItem[]; sameCategory: number } | null;
  latency: { calls: number; medianMs: number; p99Ms: number };
  index?: { n: number; dim: number; kernel: string; bytesPerVector: number; rows: { mode: string; msPerQuery: number; qps: number; recall: number }[] };
  seconds: number;
  written?: string[];
}

/**
 * How the demo's models read an item: its title and its description, as a shop's catalog would
 * give them. The title alone says little to a small LM when its modifiers ('antique purple')
 * outweigh its kind ('hand shovel'); the description names what the kind is.
 */
export const DEMO_TEMPLATE = '{title}: {text}';

const minutes = (s: number) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);

const ordinal = (n: number) => `${n}${n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th'}`;

/**
 * Which model the demo recommends with, and why, from the comparison's table: the Recommender
 * (the lmrec row: what the demo fits next), judged by NDCG@10 over every held-out target (its
 * warm and cold NDCG@10 weighted by their counts) against the table's other rows.
 */
export function demoChoice(quality: Pick<QualityResult, 'rows' | 'warmTargets' | 'coldTargets' | 'layer'>): { model: string; reason: string } {
  const model = QUALITY_MODELS.lmrec;
  const what = `${model} (LM item codes + SRM${quality.layer !== undefined ? `, layer ${quality.layer}` : ''})`;
  const row = quality.rows.find((r) => r.model === model);
  if (!row) return { model, reason: `Recommending with ${what}: the comparison has no ${model} row to judge it by (it was stopped).` };
  const targets = quality.warmTargets + quality.coldTargets;
  const metric = (r: QualityRow, part: 'warm' | 'cold') => r.mean[part]['NDCG@10'] ?? 0;
  const overall = (r: QualityRow) => (metric(r, 'warm') * quality.warmTargets + metric(r, 'cold') * quality.coldTargets) / Math.max(1, targets);
  const f = (x: number) => x.toFixed(4);
  const ranked = [...quality.rows].sort((a, b) => overall(b) - overall(a));
  const rank = ranked.findIndex((r) => overall(r) <= overall(row)) + 1; // ties share the better rank
  const others = ranked.filter((r) => r !== row);
  const parts = quality.coldTargets > 0 ? `warm ${f(metric(row, 'warm'))}, cold ${f(metric(row, 'cold'))}` : `all warm`;
  let standing: string;
  if (others.length === 0) standing = 'the only model compared';
  else if (rank === 1) standing = `the best of the ${ranked.length} models compared (next: ${others[0]!.model}, ${f(overall(others[0]!))})`;
  else standing = `${ordinal(rank)} of the ${ranked.length} models compared (best: ${ranked[0]!.model}, ${f(overall(ranked[0]!))})`;
  // where it leads even when not overall
  const leads = (['warm', 'cold'] as const).filter(
    (part) => (part === 'warm' ? quality.warmTargets : quality.coldTargets) > 0 && others.length > 0 && others.every((r) => metric(r, part) <= metric(row, part)),
  );
  const lead = rank !== 1 && leads.length > 0 ? `; the best on ${leads.join(' and ')} targets` : '';
  return {
    model,
    reason:
      `Recommending with ${what}: NDCG@10 ${f(overall(row))} over all ${targets.toLocaleString('en')} held-out targets (${parts}), ` +
      `${standing}${lead}.`,
  };
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const t0 = performance.now();
  const o = { items: 1000, users: 2000, budget: 20, sweepBudget: 40, coldFraction: 0.1, seed: 7, index: true, n: 100_000, dim: 64, queries: 500, k: 10, ...options };
  const log = o.log ?? ((s: string) => process.stdout.write(`${s}\n`));
  const progress = o.progress ?? process.stderr;
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-demo-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const onSigint = () => {
    cleanup();
    process.stderr.write('\nlmrec: demo interrupted\n');
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  try {
    const data = writeSynthetic(dir, { items: o.items, users: o.users, seed: o.seed, words: 'shop' });
    const categories = [...new Set(data.items.map((it) => it.category))];
    const itemsFile = path.join(dir, 'items.jsonl');
    const eventsFile = path.join(dir, 'events.jsonl');
    const lm = await LanguageModel.load(DEFAULT_MODEL_DIR);
    let lmOpen = true;
    const closeLm = async () => {
      if (lmOpen) await lm.close();
      lmOpen = false;
    };
    try {
      // the ID-only SRM, lmrec (its sweep included), TF-IDF, the fusion weight and the encodings
      const estimate = o.budget * 2 + o.sweepBudget + 10;
      log(`lmrec demo: a synthetic shop of ${o.items.toLocaleString('en')} items (title, text, category) and ${o.users.toLocaleString('en')} users`);
      log(`(${data.events.length.toLocaleString('en')} events), with the bundled default LM (${lm.config.layers} layers, ${lm.config.hidden} wide).`);
      log(`Its words are WordNet's, which the LM was trained on: ${categories.length} categories (${categories.slice(0, 5).join(', ')}, ...),`);
      const first = data.items[0]!;
      log(`items such as "${first.title}" (${first.category}: ${first.text}); each user keeps mostly to a few categories.`);
      log(`Every model reads an item as '${DEMO_TEMPLATE}'.`);
      log(`The ID-only SRM trains for ${o.budget} s, lmrec for ${o.budget + o.sweepBudget} s (its layer sweep included); ${Math.round(o.coldFraction * 100)}% of the items are cold`);
      log('(every event of theirs is kept out of training: only their text can make them recommendable).');
      log('');

      // 1. the comparison
      log(`[1/3] comparing models (about ${minutes(estimate)})`);
      let quality: QualityResult;
      const bar = timeBar(progress, 'comparing models', estimate);
      try {
        quality = await compareModels({
          items: itemsFile,
          events: eventsFile,
          model: lm,
          coldFraction: o.coldFraction,
          template: DEMO_TEMPLATE,
          budget: o.budget,
          recommenderBudget: o.budget + o.sweepBudget,
          coldSeed: o.seed,
          seeds: [o.seed],
          ...(o.threads !== undefined ? { threads: o.threads } : {}),
          onProgress: (what, p) => bar.step(qualityStep(what, p)),
        });
      } finally {
        bar.stop();
      }
      log('');
      log(`Layer sweep: validation quality of item codes taken from each LM layer (0 = the embeddings; * = best):`);
      log(sweepTable(quality.sweep, quality.layer));
      log('');
      log(`Test quality (leave-one-out, full ranking over ${o.items.toLocaleString('en')} items; ${quality.warmTargets} warm and ${quality.coldTargets} cold test targets):`);
      log(qualityMarkdown(quality));
      const choice = demoChoice(quality);
      log(choice.reason);
      const idOnly = quality.rows.find((r) => r.model === QUALITY_MODELS.srm)?.mean;
      const best = quality.rows.find((r) => r.model === QUALITY_MODELS.lmrec)?.mean;
      if (idOnly && best && quality.coldTargets > 0) {
        log(
          `Cold items: the ID-only SRM cannot rank them (cold HR@10 ${(idOnly.cold['HR@10'] ?? 0).toFixed(4)}); ` +
            `LM codes reach ${(best.cold['HR@10'] ?? 0).toFixed(4)} from their text, at warm HR@10 ${(best.warm['HR@10'] ?? 0).toFixed(4)} vs ${(idOnly.warm['HR@10'] ?? 0).toFixed(4)}.`,
        );
      }
      log('');

      // 2. one recommender, on the best layer, with the same cold items
      log(`[2/3] fitting the recommender on layer ${quality.layer ?? 'auto'} (${o.budget} s)`);
      const coldIds = quality.coldIds;
      const bars = fitBars(progress, { stages: ['encoding', 'training'], budgetSeconds: o.budget });
      let rec: Recommender;
      try {
        rec = await Recommender.fit({
          items: itemsFile,
          events: eventsFile,
          model: lm,
          layer: quality.layer ?? 'auto',
          template: DEMO_TEMPLATE,
          budget: o.budget,
          coldItems: coldIds,
          seed: o.seed,
          ...(o.threads !== undefined ? { threads: o.threads } : {}),
          onProgress: bars.update,
        });
      } finally {
        bars.stop();
      }
      await closeLm();
      const result: Partial<DemoResult> = {};
      try {
        const r = rec.report;
        log(`fit in ${r.seconds.toFixed(1)} s: valid ${metricsText(r.valid)}    test ${metricsText(r.test)}`);
        const byId = new Map(data.items.map((it, i) => [it.id, { it, i }]));
        const isCold = new Set(coldIds);
        const view = (id: string, score?: number): DemoItem => {
          const it = byId.get(id)!.it as SyntheticItem;
          return { id, title: it.title, category: it.category, cold: isCold.has(id), ...(score !== undefined ? { score } : {}) };
        };
        const label = (x: DemoItem) => `${x.title} (${x.category})${x.cold ? ' [cold]' : ''}`;
        const histories = new Map<string, string[]>();
        for (const e of data.events) (histories.get(e.user) ?? histories.set(e.user, []).get(e.user)!).push(e.item);
        const users = [...histories.keys()].filter((u) => histories.get(u)!.length >= 8).slice(0, 3);
        log('');
        log('What three users saw last, and what the recommender picks for them next ([cold] = no training events):');
        const examples: DemoResult['examples'] = [];
        for (const user of users) {
          const h = histories.get(user)!;
          const history = h.slice(-5).map((id) => view(id));
          const recommendations = rec.recommend({ user, k: 5 }).items.map((x) => view(x.id, x.score));
          const seenCategories = new Set(history.map((x) => x.category));
          const onTopic = recommendations.filter((x) => seenCategories.has(x.category)).length;
          examples.push({ user, events: h.length, history, recommendations, onTopic });
          const w = Math.max(30, ...history.map((x) => label(x).length)) + 2;
          log('');
          log(`user ${user} (${h.length} events)`);
          log(`  ${'last 5 seen, oldest first'.padEnd(w)}top 5 recommended`);
          for (let j = 0; j < 5; j++) {
            const left = history[j] ? label(history[j]!) : '';
            const right = recommendations[j] ? `${j + 1}. ${label(recommendations[j]!)}` : '';
            log(`  ${left.padEnd(w)}${right}`);
          }
          log(`  ${onTopic} of ${recommendations.length} recommendations share a category with these last 5 items`);
        }
        result.examples = examples;

        // a cold item with a title: its neighbours come from its text alone
        const probe = coldIds.find((id) => byId.get(id)!.it.title.trim().length > 0);
        result.coldItem = null;
        if (probe) {
          const item = view(probe);
          const similar = rec.similar(probe, { k: 5 }).map((x) => view(x.id, x.score));
          const same = similar.filter((x) => x.category === item.category).length;
          result.coldItem = { item, similar, sameCategory: same };
          log('');
          log(`Cold item ${probe}: "${item.title}" (${item.category}), never in training. Most similar items, by its text alone:`);
          similar.forEach((x, j) => log(`  ${j + 1}. ${label(x)}  cosine ${x.score!.toFixed(3)}`));
          log(`  ${same} of ${similar.length} share its category.`);
        }
        log('');

        // 3. serving speed
        log('[3/3] serving speed');
        const all = [...histories.keys()];
        const calls = Math.min(500, all.length);
        const times: number[] = [];
        for (let j = 0; j < calls; j++) {
          const s = performance.now();
          rec.recommend({ user: all[j]!, k: 10 });
          times.push(performance.now() - s);
        }
        times.sort((a, b) => a - b);
        const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
        result.latency = { calls, medianMs: q(0.5), p99Ms: q(0.99) };
        log(`recommend(user, k = 10): median ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms over ${calls} users (one thread, history encoded by the SRM, int8 scan + fp32 re-score)`);
        result.recommender = { layer: rec.layer, report: r };
      } finally {
        await rec.close();
      }
      if (o.index) result.index = await indexDemo(o, log, progress);

      const written: string[] = [];
      if (o.out) {
        const w = (name: string, text: string) => {
          writeFileAtomic(path.join(o.out!, name), text);
          written.push(path.resolve(o.out!, name));
        };
        w('quality.json', `${JSON.stringify(quality, null, 1)}\n`);
        w('quality.md', `${sweepTable(quality.sweep, quality.layer)}\n\n${qualityMarkdown(quality)}\n`);
        w('sweep.svg', sweepSvg(quality.sweep));
        log('');
        log(`wrote ${written.join(', ')}`);
      }
      const seconds = (performance.now() - t0) / 1000;
      log('');
      log(`demo done in ${minutes(seconds)}`);
      return {
        data: { items: data.items.length, users: o.users, events: data.events.length, categories: categories.length },
        quality,
        choice,
        recommender: result.recommender!,
        examples: result.examples!,
        coldItem: result.coldItem ?? null,
        latency: result.latency!,
        ...(result.index ? { index: result.index } : {}),
        seconds,
        ...(written.length ? { written } : {}),
      };
    } finally {
      await closeLm();
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    cleanup();
  }
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** The int8 index on generated clustered vectors: speed and recall against exact fp32 search. */
async function indexDemo(
  o: { n: number; dim: number; queries: number; k: number; threads?: number | undefined },
  log: (s: string) => void,
  progress: NodeJS.WritableStream,
): Promise<NonNullable<DemoResult['index']>> {
  const bar = timeBar(progress, 'vector index', Math.max(2, (o.n * o.dim) / 1e6));
  const int8 = new VectorIndex({ dim: o.dim, storage: 'int8', keepOriginals: true, threads: o.threads });
  const exact = new VectorIndex({ dim: o.dim, storage: 'f32', threads: o.threads });
  try {
    bar.step('generating vectors');
    const gen = clusteredVectors({ n: o.n, dim: o.dim, seed: 1 });
    const queries = clusteredQueries(gen, o.queries, o.dim);
    const ids = Float64Array.from({ length: o.n }, (_, i) => i);
    bar.step('indexing');
    const build = await timed(() => int8.add(ids, gen.vectors));
    await exact.add(ids, gen.vectors);
    bar.step('searching');
    const truth = await timed(() => exact.searchBatch(queries, o.k));
    const rows: { mode: string; msPerQuery: number; qps: number; recall: number }[] = [];
    const record = (mode: string, ms: number, count: number, results: SearchResult[]) =>
      rows.push({ mode, msPerQuery: ms / count, qps: (count * 1000) / ms, recall: recallAtK(results, truth.value.slice(0, results.length), o.k) });
    const batch = await timed(() => int8.searchBatch(queries, o.k));
    record('int8, batched', batch.ms, o.queries, batch.value);
    const rescored = await timed(() => int8.searchBatch(queries, o.k, { rescore: true }));
    record('int8 + fp32 rescore, batched', rescored.ms, o.queries, rescored.value);
    const singles = Math.min(o.queries, 100);
    const one = await timed(() => Array.from({ length: singles }, (_, i) => int8.search(queries.subarray(i * o.dim, (i + 1) * o.dim), o.k)));
    record('int8, one query at a time', one.ms, singles, one.value);
    record('fp32 exact, batched (reference)', truth.ms, o.queries, truth.value);
    bar.stop();
    log('');
    log(`vector index: ${o.n.toLocaleString('en')} clustered vectors of dim ${o.dim} indexed in ${(build.ms / 1000).toFixed(2)} s (kernel ${int8.kernel}), ${o.queries} queries, top-${o.k}`);
    log(`${'  mode'.padEnd(36)}${'ms/query'.padStart(10)}${'queries/s'.padStart(12)}${`recall@${o.k}`.padStart(12)}`);
    for (const r of rows) log(`  ${r.mode.padEnd(34)}${r.msPerQuery.toFixed(3).padStart(10)}${r.qps.toFixed(0).padStart(12)}${r.recall.toFixed(4).padStart(12)}`);
    log(`  int8 codes: ${o.dim + 4} bytes a vector (fp32: ${o.dim * 4})`);
    return { n: o.n, dim: o.dim, kernel: int8.kernel, bytesPerVector: o.dim + 4, rows };
  } finally {
    bar.stop();
    int8.close();
    exact.close();
  }
}
