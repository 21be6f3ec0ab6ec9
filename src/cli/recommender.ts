/**
 * The recommender's commands: `lmrec fit`, `recommend`, `similar` and `sweep`. Each run
 * function does the work and returns a JSON-able result; human-readable lines go to `io.log`
 * and progress bars to `io.progress` (stderr), so the CLI can keep stdout for `--json`.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';
import type { Metrics } from '../eval/leave-one-out.js';
import type { FieldFilter } from '../recommender/catalog.js';
import type { SweepRow } from '../recommender/layer-sweep.js';
import { sweepSvg, sweepTable } from './reports.js';
import { Recommender, type FitReport, type RecommenderFitOptions } from '../recommender/recommender.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { fitBars, type FitStage } from './fit-progress.js';

export interface CommandIo {
  /** Human-readable output. */
  log: (line: string) => void;
  /** Where progress bars go. Default process.stderr. */
  progress?: NodeJS.WritableStream;
  /** Stops a fit or sweep at its next step (the best model so far is kept). */
  signal?: AbortSignal;
}

/** Settings fit and sweep share. */
export interface ModelCommandOptions {
  items: string;
  events: string;
  /** 'default' or a Hugging Face model directory. */
  model?: string | undefined;
  /** Layers the sweep tries. */
  layers?: number[] | undefined;
  dim?: number | undefined;
  /** Seconds. */
  budget?: number | undefined;
  template?: string | undefined;
  compression?: 'linear' | 'mlp' | undefined;
  seed?: number | undefined;
  threads?: number | undefined;
  /** Where to write the layer sweep as an SVG chart. */
  svg?: string | undefined;
}

export interface FitCommandOptions extends ModelCommandOptions {
  out: string;
  layer?: 'auto' | number | undefined;
  epochs?: number | undefined;
}

export interface FitCommandResult {
  /** The saved model directory (absolute). */
  model: string;
  /** Ctrl-C stopped the fit; the best model so far was saved. */
  aborted: boolean;
  /** The SVG written, if any. */
  svg?: string;
  report: FitReport;
}

export interface SweepCommandResult {
  rows: SweepRow[];
  /** The layer with the best validation NDCG@10. */
  best: number;
  /** The model's layer count. */
  layers: number;
  svg?: string;
}

export interface ItemLine {
  id: string;
  score: number;
  title?: string;
}

export interface RecommendCommandOptions {
  model: string;
  user?: string | undefined;
  history?: string[] | undefined;
  k?: number | undefined;
  exclude?: string[] | undefined;
  /** Only items of these categories (the items' `category` field). */
  category?: string[] | undefined;
  /** Only items whose field has the value; pairs of one field are alternatives. */
  filter?: [string, string][] | undefined;
  includeSeen?: boolean | undefined;
}

export interface RecommendCommandResult {
  user?: string;
  history?: string[];
  /** 'popularity' when the user had no known history: the items are the most popular ones. */
  fallback: 'popularity' | null;
  /** History items that are not in the catalog (ignored). */
  ignored: number;
  items: ItemLine[];
}

export interface SimilarCommandOptions {
  model: string;
  item: string;
  k?: number | undefined;
  exclude?: string[] | undefined;
  category?: string[] | undefined;
  filter?: [string, string][] | undefined;
  /** Compare item embeddings ('behaviour'), codes ('content'), or pick by the item ('auto'). */
  by?: 'auto' | 'behaviour' | 'content' | undefined;
}

export interface SimilarCommandResult {
  item: { id: string; title?: string };
  items: ItemLine[];
}

/** The first Ctrl-C aborts `signal` (the command finishes with what it has); a second exits at once. */
export function metricsText(m: Metrics | undefined): string {
  if (!m || m['NDCG@10'] === undefined) return '-';
  return `HR@10 ${m['HR@10']!.toFixed(4)}  NDCG@10 ${m['NDCG@10']!.toFixed(4)}`;
}

function fitOptions(o: ModelCommandOptions): Omit<RecommenderFitOptions, 'layer'> {
  return {
    items: o.items,
    events: o.events,
    model: o.model ?? 'default',
    ...(o.layers ? { sweepLayers: o.layers } : {}),
    ...(o.dim !== undefined ? { dim: o.dim } : {}),
    ...(o.budget !== undefined ? { budget: o.budget } : {}),
    ...(o.template !== undefined ? { template: o.template } : {}),
    ...(o.compression !== undefined ? { compression: o.compression } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
  };
}

function writeSvg(file: string | undefined, rows: SweepRow[], io: CommandIo): string | undefined {
  if (!file) return undefined;
  if (rows.length === 0) {
    io.log(`no layer sweep ran (a fixed --layer): ${file} not written`);
    return undefined;
  }
  writeFileAtomic(file, sweepSvg(rows));
  io.log(`wrote the layer sweep chart to ${file}`);
  return path.resolve(file);
}

/** `lmrec fit`: Recommender.fit with stage bars, then save. Ctrl-C (io.signal) keeps the best model so far. */
export async function runFit(o: FitCommandOptions, io: CommandIo): Promise<FitCommandResult> {
  checkOutput(o.out);
  const layer = o.layer ?? 'auto';
  const stages: FitStage[] = layer === 'auto' && (o.layers?.length ?? 2) > 1 ? ['encoding', 'sweep', 'training'] : ['encoding', 'training'];
  const bars = fitBars(io.progress ?? process.stderr, { stages, budgetSeconds: o.budget, epochs: o.epochs });
  let rec: Recommender;
  try {
    rec = await Recommender.fit({
      ...fitOptions(o),
      layer,
      ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onProgress: bars.update,
    });
  } finally {
    bars.stop();
  }
  const aborted = io.signal?.aborted === true;
  try {
    await rec.save(o.out);
  } finally {
    await rec.close();
  }
  const r = rec.report;
  const out = path.resolve(o.out);
  io.log(fitSummary(r, aborted));
  const svg = writeSvg(o.svg, r.sweep, io);
  io.log(`saved the recommender to ${out}${aborted ? ' (stopped by Ctrl-C: the best model so far)' : ''}`);
  return { model: out, aborted, ...(svg ? { svg } : {}), report: r };
}

/** Refuses an --out that save() would refuse, before the fit spends its budget. */
function checkOutput(dir: string): void {
  if (!existsSync(dir)) return;
  const what = `'${dir}' exists and is not a saved recommender`;
  if (!statSync(dir).isDirectory()) throw new LmrecError(`${what} (a file): choose another --out`, 'INVALID_ARGUMENT');
  if (readdirSync(dir).length > 0 && !existsSync(path.join(dir, 'manifest.json'))) {
    throw new LmrecError(`${what} directory (no manifest.json): choose another --out`, 'INVALID_ARGUMENT');
  }
}

export function fitSummary(r: FitReport, aborted = false): string {
  const lines = [`fit ${r.items} items, ${r.users} users, ${r.events} events in ${r.seconds.toFixed(1)} s${aborted ? ' (stopped early by Ctrl-C)' : ''}`];
  if (r.unknownEvents > 0) lines.push(`  ${r.unknownEvents} events name items that are not in the catalog: skipped`);
  if (r.itemsWithoutText.length > 0) lines.push(`  ${r.itemsWithoutText.length} items have no text (e.g. '${r.itemsWithoutText[0]}'): they get the catalog's mean state`);
  if (r.coldItems > 0) lines.push(`  ${r.coldItems} items have no training events: they are recommended by their text alone`);
  if (r.sweep.length > 0) {
    lines.push('', 'layer sweep (validation; * = chosen):', sweepTable(r.sweep, r.layer), '');
  }
  lines.push(`items are represented by layer ${r.layer} of the model's ${r.layers} (0 = the embeddings)`);
  lines.push(`valid: ${metricsText(r.valid)}    test: ${metricsText(r.test)}    (leave-one-out, full ranking)`);
  lines.push(`training stopped: ${r.stopReason}`);
  return lines.join('\n');
}

/** `lmrec sweep`: the layer sweep alone; no model is saved. */
export async function runSweep(o: ModelCommandOptions, io: CommandIo): Promise<SweepCommandResult> {
  const bars = fitBars(io.progress ?? process.stderr, { stages: ['encoding', 'sweep'], budgetSeconds: o.budget });
  let swept: { rows: SweepRow[]; best: number; layers: number };
  try {
    swept = await Recommender.sweepLayers({ ...fitOptions(o), ...(io.signal ? { signal: io.signal } : {}), onProgress: bars.update });
  } finally {
    bars.stop();
  }
  io.log(`layer sweep (validation; * = best; the model has ${swept.layers} layers, 0 = the embeddings):`);
  io.log(sweepTable(swept.rows, swept.best));
  const svg = writeSvg(o.svg, swept.rows, io);
  return { ...swept, ...(svg ? { svg } : {}) };
}

function filterOf(category: string[] | undefined, pairs: [string, string][] | undefined): FieldFilter | undefined {
  const f: Record<string, string[]> = {};
  if (category?.length) f.category = [...category];
  for (const [field, value] of pairs ?? []) (f[field] ??= []).push(value);
  if (Object.keys(f).length === 0) return undefined;
  return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.length === 1 ? v[0]! : v]));
}

function lines(items: { id: string; score: number }[], rec: Recommender): ItemLine[] {
  return items.map((x) => {
    const title = rec.item(x.id)?.fields.title;
    return { id: x.id, score: x.score, ...(title !== undefined ? { title } : {}) };
  });
}

function table(items: ItemLine[], scoreLabel = 'score'): string {
  if (items.length === 0) return '  (no items match)';
  const w = Math.max(2, ...items.map((x) => x.id.length));
  const digits = items.every((x) => Number.isInteger(x.score)) ? 0 : 4;
  const sw = Math.max(scoreLabel.length, ...items.map((x) => x.score.toFixed(digits).length));
  const head = `${'rank'.padStart(5)}  ${'id'.padEnd(w)}  ${scoreLabel.padStart(sw)}  title`;
  return [head, ...items.map((x, i) => `${String(i + 1).padStart(5)}  ${x.id.padEnd(w)}  ${x.score.toFixed(digits).padStart(sw)}  ${x.title ?? ''}`.trimEnd())].join('\n');
}

/** `lmrec recommend`: load, recommend, print with titles; says so when the popularity fallback answered. */
export async function runRecommend(o: RecommendCommandOptions, io: CommandIo): Promise<RecommendCommandResult> {
  if (o.user === undefined && !o.history?.length) throw new LmrecError('recommend needs --user ID or --history id1,id2,...', 'INVALID_ARGUMENT');
  const rec = await Recommender.load(o.model);
  try {
    const filter = filterOf(o.category, o.filter);
    const found = rec.recommend({
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(o.history?.length ? { history: o.history } : {}),
      k: o.k ?? 10,
      ...(o.exclude?.length ? { exclude: o.exclude } : {}),
      ...(filter ? { filter } : {}),
      excludeSeen: !o.includeSeen,
    });
    const items = lines(found.items, rec);
    const who = [o.user !== undefined ? `user '${o.user}'` : '', o.history?.length ? `a history of ${o.history.length} items` : ''].filter(Boolean).join(' with ');
    if (found.ignored > 0) io.log(`note: ${found.ignored} history item${found.ignored === 1 ? ' is' : 's are'} not in the catalog and ${found.ignored === 1 ? 'was' : 'were'} ignored`);
    if (found.fallback === 'popularity') {
      io.log(`note: ${who} has no known history, so these are the most popular items (popularity fallback; scores are training events)`);
    }
    io.log(`top ${o.k ?? 10} for ${who}${filter ? ` (filter ${JSON.stringify(filter)})` : ''}:`);
    io.log(table(items, found.fallback === 'popularity' ? 'events' : 'score'));
    return {
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(o.history?.length ? { history: o.history } : {}),
      fallback: found.fallback,
      ignored: found.ignored,
      items,
    };
  } finally {
    await rec.close();
  }
}

/** `lmrec similar`: items most like one item (cosine between the item embeddings). */
export async function runSimilar(o: SimilarCommandOptions, io: CommandIo): Promise<SimilarCommandResult> {
  const rec = await Recommender.load(o.model);
  try {
    const filter = filterOf(o.category, o.filter);
    const found = rec.similar(o.item, { k: o.k ?? 10, ...(o.exclude?.length ? { exclude: o.exclude } : {}), ...(filter ? { filter } : {}), ...(o.by ? { by: o.by } : {}) });
    const items = lines(found, rec);
    const title = rec.item(o.item)?.fields.title;
    io.log(`items most like '${o.item}'${title !== undefined ? ` (${title})` : ''}${filter ? ` (filter ${JSON.stringify(filter)})` : ''}:`);
    io.log(table(items, 'cosine'));
    return { item: { id: o.item, ...(title !== undefined ? { title } : {}) }, items };
  } finally {
    await rec.close();
  }
}
