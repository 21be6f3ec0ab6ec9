/**
 * `lmrec demo`: indexes generated clustered vectors and queries them, printing timings, recall
 * against exact fp32 search, and bytes per vector; then embeds a few item titles with the
 * bundled default LM (no download) and finds each one's nearest neighbour in that index's kind.
 * The main job until the recommender lands.
 */
import { SingleBar, Presets } from 'cli-progress';
import { clusteredQueries, clusteredVectors } from '../data/clustered-vectors.js';
import { LanguageModel } from '../lm/language-model.js';
import { DEFAULT_MODEL_DIR } from '../pretrain/pretrain.js';
import { VectorIndex, type SearchResult } from '../vector-index/vector-index.js';
import { recallAtK } from '../vector-index/recall.js';

export interface DemoOptions {
  n: number;
  dim: number;
  queries: number;
  k: number;
  threads?: number | undefined;
}

const CHUNK = 100_000;

async function addWithProgress(index: VectorIndex, vectors: Float32Array, dim: number, label: string): Promise<void> {
  const n = vectors.length / dim;
  const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total}`, hideCursor: true }, Presets.shades_classic);
  bar.start(n, 0);
  for (let i = 0; i < n; i += CHUNK) {
    const m = Math.min(CHUNK, n - i);
    const ids = Float64Array.from({ length: m }, (_, j) => i + j);
    await index.add(ids, vectors.subarray(i * dim, (i + m) * dim));
    bar.update(i + m);
  }
  bar.stop();
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

export async function runDemo(o: DemoOptions): Promise<void> {
  const log = (s: string) => process.stdout.write(`${s}\n`);
  log(`lmrec demo: ${o.n.toLocaleString()} clustered vectors of dim ${o.dim}, ${o.queries} queries, top-${o.k}`);
  const gen = await timed(() => clusteredVectors({ n: o.n, dim: o.dim, seed: 1 }));
  const queries = clusteredQueries(gen.value, o.queries, o.dim);
  log(`generated data in ${(gen.ms / 1000).toFixed(1)} s`);

  const int8 = new VectorIndex({ dim: o.dim, storage: 'int8', keepOriginals: true, threads: o.threads });
  const exact = new VectorIndex({ dim: o.dim, storage: 'f32', threads: o.threads });
  const build = await timed(() => addWithProgress(int8, gen.value.vectors, o.dim, 'int8 index'));
  await addWithProgress(exact, gen.value.vectors, o.dim, 'fp32 index');
  log(`indexed in ${(build.ms / 1000).toFixed(2)} s with kernel ${int8.kernel}`);

  const truth = await timed(() => exact.searchBatch(queries, o.k));
  const rows: { mode: string; ms: number; qps: number; recall: number }[] = [];
  const record = (mode: string, ms: number, count: number, results: SearchResult[]) =>
    rows.push({ mode, ms: ms / count, qps: (count * 1000) / ms, recall: recallAtK(results, truth.value.slice(0, results.length), o.k) });

  const batch = await timed(() => int8.searchBatch(queries, o.k));
  record('int8, batched', batch.ms, o.queries, batch.value);
  const rescored = await timed(() => int8.searchBatch(queries, o.k, { rescore: true }));
  record('int8 + fp32 rescore, batched', rescored.ms, o.queries, rescored.value);
  const singles = Math.min(o.queries, 100);
  const one = await timed(() =>
    Array.from({ length: singles }, (_, i) => int8.search(queries.subarray(i * o.dim, (i + 1) * o.dim), o.k)),
  );
  record('int8, one query at a time', one.ms, singles, one.value);
  record('fp32 exact, batched (reference)', truth.ms, o.queries, truth.value);

  log('');
  log(`${'mode'.padEnd(34)}${'ms/query'.padStart(10)}${'queries/s'.padStart(12)}${`recall@${o.k}`.padStart(12)}`);
  for (const r of rows) {
    log(`${r.mode.padEnd(34)}${r.ms.toFixed(3).padStart(10)}${r.qps.toFixed(0).padStart(12)}${r.recall.toFixed(4).padStart(12)}`);
  }
  const codeBytes = o.dim + 4; // int8 codes + scale; ids and originals are extra
  log('');
  log(`int8 codes: ${codeBytes} bytes/vector (fp32: ${o.dim * 4}); index memory with fp32 originals: ${(int8.memoryBytes / 2 ** 20).toFixed(0)} MiB`);
  await titlesDemo(log);
}

const TITLES = [
  'lip gloss', 'lipstick', 'running shoes', 'sneakers', 'coffee maker', 'espresso machine',
  'acoustic guitar', 'violin', 'dog food', 'cat food', 'garden hose', 'lawn mower',
];

/** Item titles embedded by the default LM (mean of a middle layer's states) and searched in an int8 index. */
async function titlesDemo(log: (s: string) => void): Promise<void> {
  const t0 = performance.now();
  const lm = await LanguageModel.load(DEFAULT_MODEL_DIR);
  try {
    const vectors = await lm.encode(TITLES, { layer: 2, pooling: 'mean', normalize: true });
    const dim = vectors[0]!.length;
    const index = new VectorIndex({ dim, storage: 'int8' });
    await index.add(Float64Array.from(TITLES, (_, i) => i), Float32Array.from(vectors.flatMap((v) => [...v])));
    log('');
    log(`default LM (${DEFAULT_MODEL_DIR}): ${TITLES.length} titles embedded in ${((performance.now() - t0) / 1000).toFixed(1)} s; nearest other title:`);
    for (let i = 0; i < TITLES.length; i++) {
      const r = index.search(vectors[i]!, 2);
      const other = r.ids[0] === i ? r.ids[1]! : r.ids[0]!;
      log(`  ${TITLES[i]!.padEnd(18)} -> ${TITLES[other]}`);
    }
    index.close();
  } finally {
    await lm.close();
  }
}
