/**
 * The approximate rows of `npm run bench:knn` (large catalogs): lmrec's partitioned int8 index
 * (IVF) at several probes against usearch HNSW (f32 and i8) and hnswlib-node at several ef, on
 * the data, queries and exact fp32 truth of the run. Every engine builds on one thread (timed);
 * searches run batched on one and two threads and one query at a time (p50/p99 of 1,000 calls).
 * Memory: lmrec counts its own bytes (memoryBytes); usearch, the size of its saved index (its
 * vectors and graph); hnswlib-node, the growth of the process's RSS while it builds.
 */
import { rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { VectorIndex, type SearchResult } from '../src/index.js';
import { recallAtK } from '../src/vector-index/recall.js';
import type { Row } from './knn-row.js';
import type { HnswlibNode, Usearch } from './peers.js';
import { latencyStats, medianMs, rssMb } from './measure.js';

const require = createRequire(import.meta.url);
const K = 10;

export interface AnnInput {
  n: number;
  dim: number;
  vectors: Float32Array;
  queries: Float32Array;
  /** Unit-length copies, for the peers (cosine on unit vectors). */
  unit: Float32Array;
  unitQueries: Float32Array;
  truth: SearchResult[];
  emit: (row: Row) => void;
  /** Which peers to run (the HNSW builds take minutes at 1M). */
  peers: { usearch: boolean; hnswlib: boolean };
}

const PROBES = [1, 2, 4, 8, 16, 32, 64];
const EFS = [16, 32, 64, 128, 256];

const toResults = (ids: ArrayLike<number | bigint>, count: number): SearchResult[] =>
  Array.from({ length: count }, (_, q) => ({ ids: Array.from({ length: K }, (_, j) => Number(ids[q * K + j]!)), scores: [] }));

/** p50/p99 of one query at a time over every query, and the results. */
function singles(count: number, one: (q: number) => SearchResult): { p50: number; p99: number; results: SearchResult[] } {
  const ms: number[] = [];
  const results: SearchResult[] = [];
  for (let q = 0; q < Math.min(50, count); q++) one(q); // warm-up
  for (let q = 0; q < count; q++) {
    const t = performance.now();
    results.push(one(q));
    ms.push(performance.now() - t);
  }
  const s = latencyStats(ms);
  return { p50: s.p50, p99: s.p99, results };
}

export async function annRows(o: AnnInput): Promise<void> {
  const { n, dim, truth, emit } = o;
  const nq = truth.length;
  const base = { n, dim };
  const codes = n * dim;

  // lmrec IVF, built on one thread
  const ids = Float64Array.from({ length: n }, (_, i) => i);
  const t0 = performance.now();
  const ivf1 = new VectorIndex({ dim, metric: 'cosine', partitions: 'auto', threads: 1 });
  await ivf1.add(ids, o.vectors);
  const build = (performance.now() - t0) / 1000;
  const bytes = ivf1.memoryBytes / n;
  const { count: partitions, calibration } = ivf1.partitions;
  // a rebuild in the trained partitions (what the Recommender does after a model update)
  const copy = ivf1.emptyCopy();
  const t1 = performance.now();
  await copy.add(ids, o.vectors);
  const refill = (performance.now() - t1) / 1000;
  copy.close();
  const file = path.join(os.tmpdir(), `lmrec-ann-${process.pid}.lmrec`);
  await ivf1.save(file);
  const ivf2 = await VectorIndex.load(file, { threads: 2 });
  rmSync(file, { force: true });
  const settings: { label: string; search: { probe?: number; recall?: number } }[] = [
    ...PROBES.filter((p) => p <= partitions).map((probe) => ({ label: `probe ${probe}`, search: { probe } })),
    ...[0.9, 0.95, 0.99].map((recall) => ({ label: `recall ${recall} (probe ${calibratedProbe(calibration, recall, partitions)})`, search: { recall } })),
  ];
  for (const { label, search } of settings) {
    for (const [threads, index] of [[1, ivf1], [2, ivf2]] as const) {
      const ms = await medianMs(() => index.searchBatch(o.queries, K, search), 3);
      const r = await index.searchBatch(o.queries, K, search);
      emit({ engine: 'lmrec IVF int8', ...base, mode: 'batch', threads, qps: (nq * 1000) / ms, latency_ms: ms / nq, recall10: recallAtK(r, truth, K), bytes_per_vector: bytes, memory_vs_codes: (bytes * n) / codes, build_s: build, refill_s: refill, setting: label, note: `${partitions} partitions` });
    }
    const s = singles(nq, (q) => ivf1.search(o.queries.subarray(q * dim, (q + 1) * dim), K, search));
    emit({ engine: 'lmrec IVF int8', ...base, mode: 'single', threads: 1, qps: 1000 / s.p50, latency_ms: s.p50, p99_ms: s.p99, recall10: recallAtK(s.results, truth, K), bytes_per_vector: bytes, memory_vs_codes: (bytes * n) / codes, build_s: build, refill_s: refill, setting: label });
  }
  ivf1.close();
  ivf2.close();

  if (o.peers.usearch) {
    const usearch = require('usearch') as Usearch;
    const keys = BigUint64Array.from({ length: n }, (_, i) => BigInt(i));
    for (const [kind, scalar] of [['f32', usearch.ScalarKind.F32], ['i8', usearch.ScalarKind.I8]] as const) {
      const config = { dimensions: dim, metric: usearch.MetricKind.Cos, quantization: scalar, connectivity: 16, expansion_add: 128, multi: false };
      const t1 = performance.now();
      const built = new usearch.Index({ ...config, expansion_search: 64 });
      built.add(keys, o.unit, 1);
      const hBuild = (performance.now() - t1) / 1000;
      const saved = path.join(os.tmpdir(), `lmrec-ann-usearch-${process.pid}.usearch`);
      built.save(saved);
      const hBytes = statSync(saved).size / n;
      for (const ef of EFS) {
        const index = new usearch.Index({ ...config, expansion_search: ef });
        index.load(saved);
        for (const threads of [1, 2]) {
          const ms = await medianMs(() => index.search(o.unitQueries, K, threads), 3);
          const r = toResults(index.search(o.unitQueries, K, threads).keys, nq);
          emit({ engine: `usearch HNSW ${kind}`, ...base, mode: 'batch', threads, qps: (nq * 1000) / ms, latency_ms: ms / nq, recall10: recallAtK(r, truth, K), bytes_per_vector: hBytes, memory_vs_codes: (hBytes * n) / codes, build_s: hBuild, setting: `ef ${ef}`, note: 'M=16, ef_add=128; bytes: saved index' });
        }
        const s = singles(nq, (q) => toResults(index.search(o.unitQueries.subarray(q * dim, (q + 1) * dim), K, 1).keys, 1)[0]!);
        emit({ engine: `usearch HNSW ${kind}`, ...base, mode: 'single', threads: 1, qps: 1000 / s.p50, latency_ms: s.p50, p99_ms: s.p99, recall10: recallAtK(s.results, truth, K), bytes_per_vector: hBytes, memory_vs_codes: (hBytes * n) / codes, build_s: hBuild, setting: `ef ${ef}` });
      }
      rmSync(saved, { force: true });
    }
  }

  if (o.peers.hnswlib) {
    const { HierarchicalNSW } = require('hnswlib-node') as HnswlibNode;
    const rss0 = rssMb();
    const t2 = performance.now();
    const hl = new HierarchicalNSW('cosine', dim);
    hl.initIndex({ maxElements: n, m: 16, efConstruction: 100 });
    for (let i = 0; i < n; i++) hl.addPoint(Array.from(o.unit.subarray(i * dim, (i + 1) * dim)), i);
    const hlBuild = (performance.now() - t2) / 1000;
    const hlBytes = ((rssMb() - rss0) * 2 ** 20) / n;
    const qArrays = Array.from({ length: nq }, (_, q) => Array.from(o.unitQueries.subarray(q * dim, (q + 1) * dim)));
    for (const ef of EFS) {
      hl.setEf(ef);
      const s = singles(nq, (q) => ({ ids: hl.searchKnn(qArrays[q]!, K).neighbors, scores: [] }));
      emit({ engine: 'hnswlib-node', ...base, mode: 'single', threads: 1, qps: 1000 / s.p50, latency_ms: s.p50, p99_ms: s.p99, recall10: recallAtK(s.results, truth, K), bytes_per_vector: hlBytes, memory_vs_codes: (hlBytes * n) / codes, build_s: hlBuild, setting: `ef ${ef}`, note: 'M=16, efConstruction=100; bytes: RSS growth' });
    }
  }
}

function calibratedProbe(curve: { probe: number; recall: number }[], recall: number, all: number): number {
  return curve.find((c) => c.recall >= recall)?.probe ?? all;
}
