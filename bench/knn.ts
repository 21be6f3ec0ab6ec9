/**
 * npm run bench:knn [-- --quick] [-- --hnsw-1m] [-- --ann [--dims 128] [--no-usearch] [--no-hnswlib]] [-- --ivf-10m]
 *
 * Exact and approximate kNN engines side by side on the same clustered data (cosine, top-10):
 * lmrec int8 (1 and 2 threads, batched and one query at a time), lmrec fp32, usearch (exact f32,
 * exact i8, HNSW i8), hnswlib-node, faiss-node when it installs, and a plain JS loop. Recall is
 * against exact fp32 search. The machine's own limits (int8 multiply-add peak, read bandwidth)
 * are measured in the same run, so every speed can be read as a fraction of them.
 * Writes bench/results/knn.json; --quick runs 100k x 128 only and prints JSON lines.
 *
 * --ann runs only the approximate engines (bench/ann.ts: lmrec IVF, usearch HNSW f32/i8,
 * hnswlib-node) at 1M x 128 and 1M x 64 (--dims picks one), beside lmrec's exact int8 scan, and
 * --ivf-10m lmrec IVF and the exact scan alone at 10M x 64; their rows replace the same
 * engines' rows in knn.json and the rest are kept.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VectorIndex, type SearchResult } from '../src/index.js';
import { clusteredQueries, clusteredVectors, probeMachine } from '../src/tools.js';
import { recallAtK } from '../src/vector-index/recall.js';
import { native } from '../src/addon/loader.js';
import { annRows } from './ann.js';
import type { Row } from './knn-row.js';
import type { HnswlibNode, Usearch } from './peers.js';
import { latencyStats, medianMs, printTable, rssMb, writeJson } from './measure.js';

const require = createRequire(import.meta.url);

const argv = process.argv.slice(2);
const args = new Set(argv);
const QUICK = args.has('--quick');
const HNSW_1M = args.has('--hnsw-1m');
const ANN = args.has('--ann');
const IVF_10M = args.has('--ivf-10m');
const DIMS = argv.includes('--dims') ? Number(argv[argv.indexOf('--dims') + 1]) : undefined;
const K = 10;
const QUERIES = 1000;
const CONFIGS: [number, number][] = QUICK
  ? [[100_000, 128]]
  : [
      [100_000, 64],
      [100_000, 128],
      [1_000_000, 64],
      [1_000_000, 128],
    ];

const rows: Row[] = [];
function emit(row: Row): void {
  rows.push(row);
  if (QUICK) console.log(JSON.stringify(row));
  else console.error(`  ${row.engine} ${row.mode} t${row.threads}: ${row.qps.toFixed(1)} q/s, recall ${row.recall10.toFixed(3)}`);
}

function normalized(v: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i += dim) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += v[i + d]! ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let d = 0; d < dim; d++) out[i + d] = v[i + d]! * inv;
  }
  return out;
}

// usearch's i8 expects unit vectors scaled by 127. (A loop: Int8Array.from(typed, fn) first
// copies every element into a JS list, which at 1M x 128 exhausts the heap.)
function toI8(unit: Float32Array): Int8Array {
  const out = new Int8Array(unit.length);
  for (let i = 0; i < unit.length; i++) out[i] = Math.round(unit[i]! * 127);
  return out;
}

const toResults = (ids: ArrayLike<number | bigint>, k: number, count: number): SearchResult[] =>
  Array.from({ length: count }, (_, q) => ({ ids: Array.from({ length: k }, (_, j) => Number(ids[q * k + j]!)), scores: [] }));

async function main(): Promise<void> {
  const machine = await probeMachine();
  const readGb1 = machine.readBytesPerSecond / 1e9;
  const readGbAll = machine.readBytesPerSecondAllThreads / 1e9;
  emit({
    engine: 'machine', n: 0, dim: 0, mode: 'machine', threads: 1, qps: 0, latency_ms: 0, recall10: 0,
    read_gb_per_s: readGb1,
    note: `${os.cpus()[0]?.model ?? 'cpu'}; kernel ${machine.kernel}; ${machine.threads} threads; all-thread read ${readGbAll.toFixed(1)} GB/s`,
    ...({ int8_macs_per_s: machine.int8MacsPerSecond, read_gb_per_s_all_threads: readGbAll } as object),
  });
  if (!QUICK) console.error(`machine: int8 peak ${(machine.int8MacsPerSecond / 1e9).toFixed(0)} G MAC/s/core, read ${readGb1.toFixed(1)} GB/s (1 thread), ${readGbAll.toFixed(1)} GB/s (${machine.threads})`);

  if (ANN || IVF_10M) {
    await approximate(machine.kernel);
    return;
  }
  for (const [n, dim] of CONFIGS) {
    if (!QUICK) console.error(`\n== ${n.toLocaleString()} x ${dim}`);
    const data = clusteredVectors({ n, dim, seed: 42 });
    const queries = clusteredQueries(data, QUERIES, dim, 43);
    const unit = normalized(data.vectors, dim);
    const unitQueries = normalized(queries, dim);
    const ids = Float64Array.from({ length: n }, (_, i) => i);
    const base = { n, dim };

    // Ground truth: exact fp32 (its own row too).
    const exact = new VectorIndex({ dim, metric: 'cosine', storage: 'f32' });
    await exact.add(ids, data.vectors);
    const exactMs = await medianMs(() => exact.searchBatch(queries, K), 1);
    const truth = await exact.searchBatch(queries, K);
    emit({ engine: 'lmrec f32 exact', ...base, mode: 'batch', threads: os.availableParallelism(), qps: (QUERIES * 1000) / exactMs, latency_ms: exactMs / QUERIES, recall10: 1, bytes_per_vector: dim * 4 + 8 });

    // lmrec int8
    const rss0 = rssMb();
    const t0 = performance.now();
    const lm = new VectorIndex({ dim, metric: 'cosine', storage: 'int8', keepOriginals: false, threads: 1 });
    await lm.add(ids, data.vectors);
    const buildS = (performance.now() - t0) / 1000;
    const lmRss = rssMb() - rss0;
    const codeBytes = Math.ceil(dim / 4) * 4 + 4; // codes + scale, what a scan reads
    for (const threads of [1, 2]) {
      const index = threads === 1 ? lm : await reloaded(lm, threads);
      // The peak probed right beside the run: on a shared machine it drifts during a benchmark.
      const peak = await native.probeInt8Peak(0.3);
      const batchMs = await medianMs(() => index.searchBatch(queries, K), QUICK ? 3 : 5);
      const batch = await index.searchBatch(queries, K);
      const qps = (QUERIES * 1000) / batchMs;
      emit({
        engine: 'lmrec int8 exact', ...base, mode: 'batch', threads, qps, latency_ms: batchMs / QUERIES,
        recall10: recallAtK(batch, truth, K), bytes_per_vector: codeBytes + 8, rss_mb: lmRss, build_s: buildS,
        frac_of_int8_peak: (qps * n * dim) / (peak * threads),
      });
      const singles = Math.min(QUERIES, n >= 1_000_000 ? 100 : 300);
      let qi = 0;
      const singleMs = await medianMs(() => {
        index.search(queries.subarray((qi % singles) * dim, ((qi % singles) + 1) * dim), K);
        qi++;
      }, singles);
      const single = Array.from({ length: singles }, (_, q) => index.search(queries.subarray(q * dim, (q + 1) * dim), K));
      const gbps = (n * codeBytes) / (singleMs / 1000) / 1e9;
      emit({
        engine: 'lmrec int8 exact', ...base, mode: 'single', threads, qps: 1000 / singleMs, latency_ms: singleMs,
        recall10: recallAtK(single, truth, K), bytes_per_vector: codeBytes + 8,
        read_gb_per_s: gbps, frac_of_bandwidth: gbps / (threads === 1 ? readGb1 : readGbAll),
      });
    }
    {
      const rescoring = new VectorIndex({ dim, metric: 'cosine', keepOriginals: true, threads: 2 });
      await rescoring.add(ids, data.vectors);
      const ms = await medianMs(() => rescoring.searchBatch(queries, K, { rescore: true }), 3);
      const r = await rescoring.searchBatch(queries, K, { rescore: true });
      emit({ engine: 'lmrec int8 + fp32 rescore', ...base, mode: 'batch', threads: 2, qps: (QUERIES * 1000) / ms, latency_ms: ms / QUERIES, recall10: recallAtK(r, truth, K), bytes_per_vector: codeBytes + 8 + dim * 4 });
    }

    await peers(n, dim, unit, unitQueries, truth, base);
  }

  const columns = ['engine', 'mode', 'n', 'dim', 'threads', 'qps', 'latency_ms', 'recall10', 'bytes_per_vector', 'frac_of_int8_peak', 'read_gb_per_s', 'frac_of_bandwidth'];
  if (!QUICK) {
    const here = path.dirname(fileURLToPath(import.meta.url));
    writeJson(path.join(here, 'results', 'knn.json'), rows);
    printTable(rows as unknown as Record<string, unknown>[], columns);
    console.log(`\nwrote bench/results/knn.json`);
  }
}

/**
 * The approximate engines beside lmrec's exact int8 scan (1 and 2 threads, batched and one
 * query at a time), on the same clustered data; rows merged into knn.json.
 */
async function approximate(kernel: string): Promise<void> {
  const configs: [number, number][] = IVF_10M ? [[10_000_000, 64]] : [[1_000_000, 128], [1_000_000, 64]].filter(([, d]) => DIMS === undefined || d === DIMS) as [number, number][];
  const fresh: Row[] = [];
  const record = (row: Row) => {
    emit(row);
    fresh.push(row);
  };
  for (const [n, dim] of configs) {
    console.error(`\n== ${n.toLocaleString()} x ${dim} (approximate; kernel ${kernel})`);
    const data = clusteredVectors({ n, dim, seed: 42 });
    const queries = clusteredQueries(data, QUERIES, dim, 43);
    const ids = Float64Array.from({ length: n }, (_, i) => i);
    const base = { n, dim };
    // truth: exact fp32, then the index dropped before the others build
    const exact = new VectorIndex({ dim, metric: 'cosine', storage: 'f32' });
    await exact.add(ids, data.vectors);
    const truth = await exact.searchBatch(queries, K);
    exact.close();
    const t0 = performance.now();
    const lm = new VectorIndex({ dim, metric: 'cosine', threads: 1 });
    await lm.add(ids, data.vectors);
    const build = (performance.now() - t0) / 1000;
    for (const threads of [1, 2]) {
      const index = threads === 1 ? lm : await reloaded(lm, threads);
      const ms = await medianMs(() => index.searchBatch(queries, K), 3);
      const r = await index.searchBatch(queries, K);
      record({ engine: 'lmrec int8 exact', ...base, mode: 'batch', threads, qps: (QUERIES * 1000) / ms, latency_ms: ms / QUERIES, recall10: recallAtK(r, truth, K), bytes_per_vector: index.memoryBytes / n, memory_vs_codes: index.memoryBytes / (n * dim), build_s: build, setting: 'scan all' });
      const times: number[] = [];
      const single: SearchResult[] = [];
      const count = n >= 10_000_000 ? 100 : 300;
      for (let q = 0; q < count; q++) {
        const t = performance.now();
        single.push(index.search(queries.subarray(q * dim, (q + 1) * dim), K));
        times.push(performance.now() - t);
      }
      const s = latencyStats(times);
      record({ engine: 'lmrec int8 exact', ...base, mode: 'single', threads, qps: 1000 / s.p50, latency_ms: s.p50, p99_ms: s.p99, recall10: recallAtK(single, truth.slice(0, count), K), setting: 'scan all', note: `${count} queries` });
      if (threads === 2) index.close();
    }
    lm.close();
    await annRows({
      n, dim, vectors: data.vectors, queries, unit: IVF_10M ? new Float32Array(0) : normalized(data.vectors, dim), unitQueries: normalized(queries, dim), truth,
      emit: record, peers: { usearch: !IVF_10M && !args.has('--no-usearch'), hnswlib: !IVF_10M && !args.has('--no-hnswlib') },
    });
  }
  const here = path.dirname(fileURLToPath(import.meta.url));
  const file = path.join(here, 'results', 'knn.json');
  const key = (r: Row) => `${r.engine}|${r.n}|${r.dim}|${r.setting ?? ''}`;
  const replaced = new Set(fresh.map(key));
  const kept = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Row[]).filter((r) => !replaced.has(key(r))) : [];
  writeJson(file, [...kept, ...fresh]);
  printTable(fresh as unknown as Record<string, unknown>[], ['engine', 'mode', 'n', 'dim', 'threads', 'setting', 'qps', 'latency_ms', 'p99_ms', 'recall10', 'bytes_per_vector', 'memory_vs_codes', 'build_s', 'refill_s']);
  console.log(`\nmerged ${fresh.length} rows into bench/results/knn.json`);
}

/** The same index with another thread count (a save and load, which also exercises them). */
async function reloaded(index: VectorIndex, threads: number): Promise<VectorIndex> {
  const file = path.join(os.tmpdir(), `lmrec-bench-${process.pid}.lmrec`);
  await index.save(file);
  try {
    return await VectorIndex.load(file, { threads });
  } finally {
    rmSync(file, { force: true });
  }
}

/** The other engines, each on the same normalized data; slow ones on a subset of queries. */
async function peers(n: number, dim: number, unit: Float32Array, unitQueries: Float32Array, truth: SearchResult[], base: { n: number; dim: number }): Promise<void> {
  const usearch = require('usearch') as Usearch;
  // usearch's exactSearch allocates n x queries x 16 bytes of scratch: 10 queries a call.
  const slowQueries = n >= 1_000_000 ? 100 : 300;
  for (const [kind, data, qs] of [
    ['f32', unit.slice(), unitQueries] as const,
    ['i8', toI8(unit), toI8(unitQueries)] as const,
  ]) {
    const found: bigint[] = [];
    const ms = await medianMs(() => {
      found.length = 0;
      for (let q = 0; q < slowQueries; q += 10) {
        const r = usearch.exactSearch(data, qs.slice(q * dim, (q + 10) * dim), dim, K, usearch.MetricKind.Cos, 1);
        found.push(...r.keys);
      }
    }, 1);
    emit({ engine: `usearch exact ${kind}`, ...base, mode: 'batch', threads: 1, qps: (slowQueries * 1000) / ms, latency_ms: ms / slowQueries, recall10: recallAtK(toResults(found, K, slowQueries), truth, K), bytes_per_vector: kind === 'f32' ? dim * 4 : dim, note: `${slowQueries} queries, 10 per call` });
  }

  if (n < 1_000_000 || HNSW_1M) {
    const rss0 = rssMb();
    const t0 = performance.now();
    const hnsw = new usearch.Index({ dimensions: dim, metric: usearch.MetricKind.Cos, quantization: usearch.ScalarKind.I8, connectivity: 16, expansion_add: 128, expansion_search: 64, multi: false });
    hnsw.add(BigUint64Array.from({ length: n }, (_, i) => BigInt(i)), unit, 2);
    const build = (performance.now() - t0) / 1000;
    const rss = rssMb() - rss0;
    for (const threads of [1, 2]) {
      const ms = await medianMs(() => hnsw.search(unitQueries, K, threads), 3);
      const r = hnsw.search(unitQueries, K, threads);
      emit({ engine: 'usearch HNSW i8', ...base, mode: 'batch', threads, qps: (QUERIES * 1000) / ms, latency_ms: ms / QUERIES, recall10: recallAtK(toResults(r.keys, K, QUERIES), truth, K), bytes_per_vector: (rss * 2 ** 20) / n, rss_mb: rss, build_s: build, note: 'M=16, ef_add=128, ef_search=64' });
    }
    let qi = 0;
    const single = await medianMs(() => hnsw.search(unitQueries.subarray((qi % QUERIES) * dim, ((qi++ % QUERIES) + 1) * dim), K, 1), 1000);
    emit({ engine: 'usearch HNSW i8', ...base, mode: 'single', threads: 1, qps: 1000 / single, latency_ms: single, recall10: recallAtK(toResults(hnsw.search(unitQueries, K, 1).keys, K, QUERIES), truth, K) });

    const { HierarchicalNSW } = require('hnswlib-node') as HnswlibNode;
    const rss1 = rssMb();
    const t1 = performance.now();
    const hl = new HierarchicalNSW('cosine', dim);
    hl.initIndex({ maxElements: n, m: 16, efConstruction: 100 });
    for (let i = 0; i < n; i++) hl.addPoint(Array.from(unit.subarray(i * dim, (i + 1) * dim)), i);
    hl.setEf(64);
    const hlBuild = (performance.now() - t1) / 1000;
    const hlRss = rssMb() - rss1;
    const qArrays = Array.from({ length: QUERIES }, (_, q) => Array.from(unitQueries.subarray(q * dim, (q + 1) * dim)));
    let hq = 0;
    const hlMs = await medianMs(() => hl.searchKnn(qArrays[hq++ % QUERIES]!, K), QUERIES);
    const hlResults = qArrays.map((q) => ({ ids: hl.searchKnn(q, K).neighbors, scores: [] }));
    emit({ engine: 'hnswlib-node', ...base, mode: 'single', threads: 1, qps: 1000 / hlMs, latency_ms: hlMs, recall10: recallAtK(hlResults, truth, K), bytes_per_vector: (hlRss * 2 ** 20) / n, rss_mb: hlRss, build_s: hlBuild, note: 'M=16, efConstruction=100, ef=64' });
  }

  try {
    require('faiss-node');
  } catch (e) {
    emit({ engine: 'faiss-node', ...base, mode: 'batch', threads: 0, qps: 0, latency_ms: 0, recall10: 0, note: `unavailable: ${(e as Error).message.split('\n')[0]}` });
  }

  // A plain JS loop over normalized fp32 vectors (what a Node user writes by hand).
  const jsQueries = n >= 1_000_000 ? 10 : 30;
  const jsResults: SearchResult[] = [];
  const jsMs = await medianMs(() => {
    jsResults.length = 0;
    for (let q = 0; q < jsQueries; q++) jsResults.push(jsSearch(unit, unitQueries.subarray(q * dim, (q + 1) * dim), dim, K));
  }, 1);
  emit({ engine: 'plain JS loop', ...base, mode: 'single', threads: 1, qps: (jsQueries * 1000) / jsMs, latency_ms: jsMs / jsQueries, recall10: recallAtK(jsResults, truth, K), bytes_per_vector: dim * 4, note: `${jsQueries} queries` });
}

function jsSearch(vectors: Float32Array, query: Float32Array, dim: number, k: number): SearchResult {
  const bestIds: number[] = [];
  const bestScores: number[] = [];
  const n = vectors.length / dim;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += vectors[i * dim + d]! * query[d]!;
    if (bestScores.length < k || s > bestScores[bestScores.length - 1]!) {
      let j = bestScores.length < k ? bestScores.length : k - 1;
      while (j > 0 && bestScores[j - 1]! < s) {
        if (j < k) {
          bestScores[j] = bestScores[j - 1]!;
          bestIds[j] = bestIds[j - 1]!;
        }
        j--;
      }
      bestScores[j] = s;
      bestIds[j] = i;
    }
  }
  return { ids: bestIds, scores: bestScores };
}

await main();
