/**
 * npm run bench:rec [-- --no-quality] [-- --no-scale] [-- --quick] [-- --scale-budget <s>]
 *
 * The Recommender (MARC: LM codes + SRM) end to end.
 *  - Quality on the synthetic benchmark (1,000 items, 2,000 users, 10% of items cold): the
 *    quality table of `lmrec eval quality` (src/eval/quality.ts): popularity, content TF-IDF,
 *    the ID-only SRM, SRM + content, lmrec with int8 and with fp32 codes; warm and cold test
 *    targets, coverage and the top-1% share. Every model trains to early stopping (at most 200
 *    epochs; --quick: 15 s a fit, 45 s for lmrec's sweep and fit). Real data: bench:quality.
 *  - Bytes per item: int8 codes against the fp32 states of the model's last layer.
 *  - Scale: a 100k-item catalog with 1M events: fit time and peak memory, then recommend()
 *    latency on one thread (p50/p99 over random users) with filters off and on, and how much
 *    of the exact top 10 it returns (--scale-budget: seconds of training, default 600).
 * Writes bench/results/rec.json (and rec-sweep.svg) and prints tables.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSynthetic } from '../src/data/synthetic.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { DEFAULT_MODEL_DIR } from '../src/lm/default-model.js';
import { qualityMarkdown, sweepSvg, sweepTable } from '../src/cli/reports.js';
import { compareModels, QUALITY_MODELS } from '../src/eval/quality.js';
import { readCatalogIds, readInteractions } from '../src/data/interactions.js';
import { evaluate, leaveOneOut, sampleSplits } from '../src/eval/leave-one-out.js';
import { SequentialRecommender, SRM_DEFAULTS } from '../src/srm/sequential-recommender.js';
import { Recommender, type RecommendRequest } from '../src/recommender/recommender.js';
import { writeFileAtomic } from '../src/util/atomic-file.js';
import { Random } from '../src/util/random.js';
import { latencyStats, printTable, writeJson } from './measure.js';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, 'results');
const work = mkdtempSync(path.join(tmpdir(), 'lmrec-bench-rec-'));
const result: Record<string, unknown> = { date: new Date().toISOString(), quick: QUICK };

function log(s: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
}

async function quality(): Promise<void> {
  const dir = path.join(work, 'quality');
  writeSynthetic(dir, { items: 1000, users: 2000, seed: 1 });
  const lm = await LanguageModel.load(DEFAULT_MODEL_DIR);
  const budget = QUICK ? 15 : undefined;
  let swept = 0;
  const q = await compareModels({
    items: path.join(dir, 'items.jsonl'),
    events: path.join(dir, 'events.jsonl'),
    model: lm,
    ...(budget !== undefined ? { budget, recommenderBudget: 3 * budget } : {}),
    variants: ['int8', 'fp32'],
    seeds: [1],
    // a line per finished layer (progress also comes after every epoch)
    onProgress: (what, p) => {
      if (p?.stage !== 'sweep' || p.done <= swept) return;
      swept = p.done;
      log(`${what}: layer ${p.layer} valid NDCG@10 ${p.validNdcg?.toFixed(4)}`);
    },
  });
  await lm.close();
  console.log(`\nLayer sweep (validation, ${q.sweep.length} layers):\n${sweepTable(q.sweep, q.layer)}`);
  console.log(`\nQuality (${q.warmTargets} warm and ${q.coldTargets} cold test targets, ${q.coldItems} cold items${budget !== undefined ? `, ${budget} s per model` : ''}):\n${qualityMarkdown(q)}`);
  const byName = (model: string) => q.rows.find((r) => r.model === model)!.mean;
  const srm = byName(QUALITY_MODELS.srm);
  const best = byName(QUALITY_MODELS.lmrec);
  const fp32 = byName(QUALITY_MODELS.lmrecFp32);
  const pop = byName(QUALITY_MODELS.popularity);
  const ratios = {
    warmVsSrm: best.warm['NDCG@10']! / srm.warm['NDCG@10']!,
    coldVsPopularity: best.cold['NDCG@10']! / pop.cold['NDCG@10']!,
    coldVsWarm: best.cold['NDCG@10']! / best.warm['NDCG@10']!,
    int8VsFp32: best.warm['NDCG@10']! / fp32.warm['NDCG@10']!,
  };
  console.log(`\nwarm NDCG@10 LM codes + SRM / ID-only SRM: ${ratios.warmVsSrm.toFixed(3)} (target >= 1.05)`);
  console.log(`cold NDCG@10 / popularity's: ${ratios.coldVsPopularity.toFixed(2)} (target >= 3); / warm: ${ratios.coldVsWarm.toFixed(3)} (target >= 0.3)`);
  console.log(`int8 / fp32 codes, warm NDCG@10: ${ratios.int8VsFp32.toFixed(4)} (target within 2%)`);
  writeFileAtomic(path.join(resultsDir, 'rec-sweep.svg'), sweepSvg(q.sweep, 'Layer sweep on the synthetic catalog (default model)'));
  result.quality = { ...q, ratios };
}

function bytesPerItem(): void {
  const rows = [
    { model: 'default (4 x 256)', hidden: 256 },
    { model: 'Qwen2.5-0.5B shape', hidden: 896 },
  ].map((r) => ({ ...r, fp32_state_bytes: r.hidden * 4, int8_code_bytes: 64, ratio: (r.hidden * 4) / 64 }));
  console.log('\nBytes per item (64-d int8 code vs the last layer state in fp32):');
  printTable(rows, ['model', 'hidden', 'fp32_state_bytes', 'int8_code_bytes', 'ratio']);
  result.bytesPerItem = rows;
}

async function scale(): Promise<void> {
  const items = QUICK ? 20_000 : 100_000;
  const at = args.indexOf('--scale-budget');
  const budget = at >= 0 ? Number(args[at + 1]) : QUICK ? 90 : 600;
  const users = QUICK ? 10_000 : 50_000;
  const dir = path.join(work, 'scale');
  log(`generating ${items} items, ${users} users`);
  writeSynthetic(dir, { items, users, topics: 200, eventsPerUser: [5, 35], seed: 3 });
  const t0 = performance.now();
  let stage = '';
  const rec = await Recommender.fit({
    items: path.join(dir, 'items.jsonl'),
    events: path.join(dir, 'events.jsonl'),
    layer: 1,
    budget,
    seed: 1,
    onProgress: (p) => {
      if (p.stage !== stage) log((stage = p.stage));
    },
  });
  const fitSeconds = (performance.now() - t0) / 1000;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const epochs = rec.srm.history.length;
  log(`fit: ${fitSeconds.toFixed(0)} s (${epochs} epochs), peak RSS ${peakRssMb.toFixed(0)} MB, test NDCG@10 ${rec.report.test['NDCG@10']?.toFixed(4)}`);
  // the ID-only SRM on the same split, the same budget for its training, scored on the same test users
  const catalog = await readCatalogIds(path.join(dir, 'items.jsonl'));
  const data = await readInteractions(path.join(dir, 'events.jsonl'), { items: catalog });
  const split = leaveOneOut(data.sequences);
  const t1 = performance.now();
  const idOnly = await SequentialRecommender.fit(split.train, catalog.size, {
    ...SRM_DEFAULTS,
    valid: sampleSplits(split.valid, 5000, 11),
    maxSeconds: budget,
    seed: 1,
    onEpoch: (e) => log(`ID-only SRM epoch ${e.epoch + 1}: valid NDCG@10 ${e.valid?.['NDCG@10']?.toFixed(4) ?? '-'}`),
  });
  const idSeconds = (performance.now() - t1) / 1000;
  const idTest = await evaluate(sampleSplits(split.test, 5000, 11), catalog.size, idOnly.scorer(), [10]);
  const idEpochs = idOnly.history.length;
  idOnly.close();
  const ratio = rec.report.test['NDCG@10']! / idTest['NDCG@10']!;
  log(`ID-only SRM: ${idSeconds.toFixed(0)} s (${idEpochs} epochs), test NDCG@10 ${idTest['NDCG@10']!.toFixed(4)}; lmrec / ID-only ${ratio.toFixed(3)} (target >= 0.9)`);
  const rng = new Random(5);
  const excludeList = Array.from({ length: 50 }, () => `i${rng.int(items)}`);
  const cases: [string, (u: string) => RecommendRequest][] = [
    ['no filter', (u) => ({ user: u, k: 10, excludeSeen: false })],
    ['exclude seen', (u) => ({ user: u, k: 10 })],
    ['exclude seen + 50-item list', (u) => ({ user: u, k: 10, exclude: excludeList })],
    ['exclude seen + category', (u) => ({ user: u, k: 10, filter: { category: `c${rng.int(200)}` } })],
  ];
  const rows: Record<string, unknown>[] = [];
  for (const [name, req] of cases) {
    for (let i = 0; i < 200; i++) rec.recommend(req(`u${rng.int(users)}`)); // warm-up
    const ms: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const r = req(`u${rng.int(users)}`);
      const s = performance.now();
      rec.recommend(r);
      ms.push(performance.now() - s);
    }
    const { calls, p50, p99, max } = latencyStats(ms);
    rows.push({ case: name, calls, p50, p99, max });
  }
  console.log(`\nrecommend() on ${items} items, one thread, ms (fit ${fitSeconds.toFixed(0)} s, peak RSS ${peakRssMb.toFixed(0)} MB):`);
  printTable(rows, ['case', 'calls', 'p50', 'p99', 'max']);
  // what serving's bounds cost (int8 scan, candidate pools, the content side's postings budget):
  // recommend()'s top 10 against the exact top 10 of the same fused score over the whole catalog
  const exact = rec.scorer();
  let shared = 0;
  const probes = 500;
  for (let u = 0; u < probes; u++) {
    const seq = data.sequences[rng.int(data.sequences.length)]!;
    const history = Array.from(seq.slice(-20), (i) => catalog.name(i));
    const served = new Set(rec.recommend({ history, k: 10, excludeSeen: false }).items.map((x) => x.id));
    const row = await exact([{ history: Int32Array.from(seq.slice(-20)), target: 0, user: 0 }]);
    const top = [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b).slice(0, 10);
    shared += top.filter((i) => served.has(catalog.name(i))).length;
  }
  const overlapAt10 = shared / (10 * probes);
  log(`recommend() top 10 / the exact top 10 of the same score: ${(100 * overlapAt10).toFixed(1)}% shared (${probes} histories)`);
  result.scale = {
    items,
    users,
    events: rec.report.events,
    budgetSeconds: budget,
    fitSeconds,
    epochs,
    peakRssMb,
    test: rec.report.test,
    idOnly: { seconds: idSeconds, epochs: idEpochs, test: idTest },
    ndcgVsIdOnly: ratio,
    latency: rows,
    overlapAt10,
  };
  await rec.close();
}

try {
  if (!args.includes('--no-quality')) await quality();
  bytesPerItem();
  if (!args.includes('--no-scale')) await scale();
  // a partial run (--no-quality, --no-scale) keeps the other part's last figures
  const file = path.join(resultsDir, 'rec.json');
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  writeJson(file, { ...previous, ...result });
  log(`wrote ${path.join(resultsDir, 'rec.json')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
