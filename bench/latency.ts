/**
 * npm run bench:latency [-- --quick]
 *
 * Serving latency while background work runs: the SRM's topK while update() trains, and the
 * index's one-query search while add() inserts and while batched searches run. Each row gives
 * p50/p99/max of calls made on the JS thread, between which the event loop turns (setImmediate),
 * as a server's would. The baseline is the same call on the idle model in the same run.
 * Writes bench/results/latency.json and prints a table.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectInteractions, IdMap } from '../src/data/interactions.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { SequentialRecommender } from '../src/srm/sequential-recommender.js';
import { VectorIndex } from '../src/vector-index/vector-index.js';
import { clusteredQueries, clusteredVectors } from '../src/tools.js';
import { latencyStats, printTable, writeJson, type LatencyStats } from './measure.js';

const QUICK = process.argv.includes('--quick');

type Stats = Omit<LatencyStats, 'mean'>;

function stats(ms: number[]): Stats {
  const { calls, p50, p99, max } = latencyStats(ms);
  return { calls, p50, p99, max };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Times `call` repeatedly, yielding to the event loop between calls, until `until` settles (or n calls). */
async function timeCalls(call: () => unknown, until: Promise<unknown> | number): Promise<Stats> {
  const ms: number[] = [];
  let done = false;
  if (typeof until !== 'number') void until.then(() => (done = true));
  while (typeof until === 'number' ? ms.length < until : !done) {
    const t0 = performance.now();
    call();
    ms.push(performance.now() - t0);
    await tick();
  }
  return stats(ms);
}

const rows: Record<string, unknown>[] = [];
function row(task: string, during: string, s: Stats, idle: Stats): void {
  rows.push({ task, during, ...s, idle_p99: idle.p99, p99_vs_idle: s.p99 / idle.p99 });
  console.log(`${task} | ${during}: p50 ${s.p50.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms over ${s.calls} calls`);
}

async function srm(): Promise<void> {
  const syn = generateSynthetic({ items: 3706, users: QUICK ? 600 : 3000, eventsPerUser: [20, 310], seed: 1 });
  const ids = new IdMap();
  syn.items.forEach((it) => ids.add(it.id));
  const data = await collectInteractions(syn.events, { items: ids });
  const m = await SequentialRecommender.fit(data.sequences, ids.size, { dim: 64, blocks: 2, maxLen: 200, epochs: 1, seed: 1 });
  const history = data.sequences[0]!.slice(-50);
  const call = () => m.topK(history, 10);
  const idle = await timeCalls(call, 2000);
  row('SRM topK (3,706 items, history 50)', 'idle', idle, idle);
  for (const threads of [1, 2]) {
    const training = m.update(data.sequences, { fresh: 20, passes: QUICK ? 1 : 2, threads });
    row('SRM topK (3,706 items, history 50)', `update() training on ${threads} thread${threads > 1 ? 's' : ''}`, await timeCalls(call, training), idle);
    await training;
  }
}

async function index(): Promise<void> {
  const n = QUICK ? 100_000 : 500_000, dim = 128;
  const data = clusteredVectors({ n: n + 200_000, dim, seed: 3 });
  const queries = clusteredQueries(data, 1000, dim);
  const idx = new VectorIndex({ dim, metric: 'cosine', threads: 1 });
  await idx.add(Float64Array.from({ length: n }, (_, i) => i), data.vectors.subarray(0, n * dim));
  let qi = 0;
  const call = () => idx.search(queries.subarray((qi % 1000) * dim, ((qi++ % 1000) + 1) * dim), 10);
  const task = `index search, 1 query (${n / 1000}k x ${dim}, int8)`;
  const idle = await timeCalls(call, 300);
  row(task, 'idle', idle, idle);

  // inserts of 1,000 vectors back to back, each awaited, for as long as the measurement runs
  let stop = false;
  const inserting = (async () => {
    for (let at = n; !stop && at < n + 200_000; at += 1000) {
      await idx.add(Float64Array.from({ length: 1000 }, (_, i) => at + i), data.vectors.subarray(at * dim, (at + 1000) * dim));
    }
  })();
  row(task, 'add() of 1,000 vectors back to back', await timeCalls(call, QUICK ? 100 : 300), idle);
  stop = true;
  await inserting;

  const batches = Promise.all(Array.from({ length: 4 }, () => idx.searchBatch(queries, 10)));
  row(task, '4 batched searches of 1,000 queries', await timeCalls(call, batches), idle);
}

await srm();
await index();
printTable(rows, ['task', 'during', 'calls', 'p50', 'p99', 'max', 'idle_p99', 'p99_vs_idle']);
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'latency.json');
writeJson(out, { date: new Date().toISOString(), quick: QUICK, rows });
console.log(`wrote ${out}`);
