/**
 * npm run bench:srm [-- --quick]
 *
 * The SRM's speed: training throughput (one epoch over ~1M events shaped like MovieLens-1M:
 * 6,040 users, 3,706 items, maxLen 200, d 64, 2 blocks; full softmax, and sampled softmax as
 * if the catalog had 100k items), and serving latency (50 candidates; full top-k over 10k
 * and 100k items). Ratios are against baselines measured in the same run: the machine's f32
 * GEMM rate for training (the work is mostly GEMM), and for serving a plain typed-array JS
 * SASRec forward (bench/plain-sasrec.ts, the same work as lmrec's inference) plus the dot
 * products or a top-10 scan. Writes bench/results/srm.json and prints a table.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectInteractions, IdMap } from '../src/data/interactions.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { native } from '../src/addon/loader.js';
import { nativeOf, SequentialRecommender } from '../src/srm/sequential-recommender.js';
import { Random } from '../src/util/random.js';
import { referenceHidden } from '../test/helpers/srm-reference.js';
import { medianMs, printTable, writeJson } from './measure.js';
import { PlainSasrec } from './plain-sasrec.js';

const QUICK = process.argv.includes('--quick');
const THREADS = native.hardwareThreads();
const SHAPE = { dim: 64, blocks: 2, heads: 1, maxLen: 200 };

/** f32 GEMM rate of this machine on the SRM's typical product (rows x 64 by 64 x items). */
async function gemmGflops(): Promise<number> {
  const m = 2048, n = 3706, k = 64;
  const rng = new Random(1);
  const a = Float32Array.from({ length: m * k }, () => rng.normal());
  const b = Float32Array.from({ length: k * n }, () => rng.normal());
  const c = new Float32Array(m * n);
  const ms = await medianMs(() => native.sgemm(undefined, m, n, k, 1, a, false, b, true, 0, c, THREADS), 10);
  return (2 * m * n * k) / (ms * 1e6);
}

/** FLOPs of one training target (forward + backward = 3x forward). */
function trainFlopsPerTarget(meanWindow: number, outputItems: number): number {
  const d = SHAPE.dim;
  const dense = SHAPE.blocks * 6 * d * d * 2; // q, k, v, o, ffn1, ffn2
  const attention = SHAPE.blocks * 2 * meanWindow * d * 2; // QK^T and PV over the whole window
  const output = outputItems * d * 2;
  return 3 * (dense + attention + output);
}

async function training(rows: Record<string, unknown>[], gflops: number): Promise<void> {
  const users = QUICK ? 800 : 6040;
  const syn = generateSynthetic({ items: 3706, users, eventsPerUser: [20, 310], seed: 1 });
  const ids = new IdMap();
  syn.items.forEach((it) => ids.add(it.id));
  const data = await collectInteractions(syn.events, { items: ids });
  const events = data.events;
  let meanWindow = 0;
  for (const s of data.sequences) meanWindow += Math.min(s.length - 1, SHAPE.maxLen) * Math.min(s.length - 1, SHAPE.maxLen);
  meanWindow /= events - data.sequences.length; // targets-weighted window length
  for (const [name, items, loss] of [
    ['train 1 epoch, full softmax', ids.size, 'full'],
    ['train 1 epoch, sampled softmax (100k items)', 100_000, 'sampled'],
  ] as const) {
    const t0 = performance.now();
    const m = await SequentialRecommender.fit(data.sequences, items, { ...SHAPE, epochs: 1, loss, seed: 1 });
    const seconds = (performance.now() - t0) / 1000;
    const r = m.history[0]!;
    const flops = trainFlopsPerTarget(meanWindow, loss === 'full' ? items : 256) * (events - data.sequences.length);
    rows.push({
      task: name,
      items,
      events,
      seconds: r.seconds,
      seconds_per_1M_events: (r.seconds * 1e6) / events,
      sequences_per_s: r.sequencesPerSecond,
      events_per_s: r.eventsPerSecond,
      gflops: flops / r.seconds / 1e9,
      baseline: 'f32 GEMM rate',
      baseline_gflops: gflops,
      ratio: flops / r.seconds / 1e9 / gflops,
      wall_seconds: seconds,
    });
  }
}

/** Top-10 of the item scores h . e_i, kept in a sorted 10-entry list (what one writes by hand). */
function plainTop10(h: Float32Array, emb: Float32Array, items: number, d: number): number[] {
  const top: number[] = [];
  const ids: number[] = [];
  for (let i = 0; i < items; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += h[j]! * emb[i * d + j]!;
    if (top.length === 10 && s <= top[9]!) continue;
    let at = top.length < 10 ? top.length : 9;
    while (at > 0 && top[at - 1]! < s) at--;
    top.splice(at, 0, s);
    ids.splice(at, 0, i);
    if (top.length > 10) (top.pop(), ids.pop());
  }
  return ids;
}

async function serving(rows: Record<string, unknown>[]): Promise<void> {
  const rng = new Random(3);
  for (const items of [3706, 10_000, 100_000]) {
    const m = await SequentialRecommender.fit([[0, 1]], items, { ...SHAPE, epochs: 0, seed: 2 });
    const params = nativeOf(m).params();
    const layout = nativeOf(m).layout();
    const shape = { items, ...SHAPE };
    const plain = new PlainSasrec(shape, params, layout);
    for (const n of items === 3706 ? [50, 200] : [50]) {
      const history = Int32Array.from({ length: n }, () => rng.int(items));
      // the baseline computes what lmrec computes: checked against the double-precision oracle
      const want = referenceHidden(shape, params, layout, Array.from(history));
      const got = plain.hidden(history);
      const err = Math.max(...want.map((v, j) => Math.abs(v - got[j]!)));
      if (err > 1e-3) throw new Error(`the plain-JS baseline disagrees with the reference by ${err}`);
      if (items === 3706) {
        const candidates = Int32Array.from({ length: 50 }, () => rng.int(items));
        const ms = await medianMs(() => m.score(history, candidates), 300);
        const baseline = await medianMs(() => {
          const h = plain.hidden(history);
          const out = new Float32Array(candidates.length);
          candidates.forEach((c, k) => {
            let s = 0;
            for (let j = 0; j < SHAPE.dim; j++) s += h[j]! * params[c * SHAPE.dim + j]!;
            out[k] = s;
          });
          return out;
        }, 30);
        rows.push({ task: `score 50 candidates, history ${n}`, items, ms, baseline: 'plain-JS SASRec forward (typed arrays)', baseline_ms: baseline, ratio: baseline / ms });
      } else {
        const ms = await medianMs(() => m.topK(history, 10, { excludeHistory: false }), 100);
        const baseline = await medianMs(() => plainTop10(plain.hidden(history), params, items, SHAPE.dim), 20);
        rows.push({ task: `top-10 over all items, history ${n}`, items, ms, baseline: 'plain-JS forward + scan (typed arrays)', baseline_ms: baseline, ratio: baseline / ms });
      }
    }
  }
}

const rows: Record<string, unknown>[] = [];
const gflops = await gemmGflops();
console.log(`f32 GEMM on ${THREADS} threads: ${gflops.toFixed(0)} GFLOP/s`);
await serving(rows);
await training(rows, gflops);
printTable(rows, ['task', 'items', 'seconds_per_1M_events', 'events_per_s', 'gflops', 'ms', 'baseline_ms', 'ratio']);
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'srm.json');
writeJson(out, { date: new Date().toISOString(), threads: THREADS, quick: QUICK, shape: SHAPE, gemm_gflops: gflops, rows });
console.log(`wrote ${out}`);
