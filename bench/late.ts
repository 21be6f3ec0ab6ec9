/**
 * npm run bench:late [-- --quick] [-- --part speed|quality]
 *
 * Speed (--part speed) and quality (--part quality, bench/late-quality.ts: late interaction,
 * tuning and early exit on a model lmrec trains on the synthetic benchmark); both by default.
 * A part run alone replaces only its own keys of the results file.
 *
 * Late interaction (M6-Rec) at serving speed, on random weights of Qwen2.5-0.5B's shape
 * (24 layers, 896 wide; --quick: 6 layers, 256 wide). A user with 50 past events (8 tokens
 * each) adds one event; the user's state is computed by
 *  - full recompute: every layer over the 51 events (408 tokens), full causal attention;
 *  - late interaction at split s: each event's bottom s layers from a warm segment cache
 *    (catalog items are encoded once for every user), the top layers over the concatenation.
 * Fidelity: 50 candidates ranked by their dot product with the user state, against the full
 * recompute's ranking (top-10 overlap, Kendall τ) — on random weights this measures what the
 * split changes, not quality.
 * Early exit above the lowest split: heads fitted on 40 users, thresholds on 25 for an NDCG@10
 * loss of at most 1% against the late-interaction ranking without exit; 15 test users give the
 * mean latency against no exit, the realised loss and the exit-depth histogram.
 * Cache traffic: the synthetic benchmark's users (1,000 items, 2,000 users) request their state
 * from their last 20 events through the bundled default model (split 2 of 4) with a cache that
 * holds about half the catalog: hit rate, evictions, bytes against the budget.
 * Writes bench/results/late.json and prints tables.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDecoderCheckpoint } from '../src/lm/checkpoint-writer.js';
import type { DecoderConfig } from '../src/lm/config.js';
import { EarlyExit, ndcgAgainst } from '../src/lm/early-exit.js';
import { LateInteraction } from '../src/lm/late-interaction.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { SegmentCache } from '../src/lm/segment-cache.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { DEFAULT_MODEL_DIR } from '../src/lm/default-model.js';
import { Random } from '../src/util/random.js';
import { lateQuality } from './late-quality.js';
import { latencyStats, printTable, writeJson } from './measure.js';
import { initSource } from './random-weights.js';

const QUICK = process.argv.includes('--quick');
const PART = process.argv.includes('--part') ? process.argv[process.argv.indexOf('--part') + 1] : 'all';
if (!['speed', 'quality', 'all'].includes(PART!)) throw new Error(`--part must be speed or quality, got ${PART}`);
const THREADS = 2;
const SHAPE = QUICK
  ? { name: 'decoder-6x256 (quick)', layers: 6, hidden: 256, heads: 8, kvHeads: 2, intermediate: 704, vocab: 4000, splits: [5, 4, 3] }
  : { name: 'qwen2.5-0.5b-like', layers: 24, hidden: 896, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 32000, splits: [21, 18, 12] };
const EVENTS = 50;
const TOKENS = 8;
const CANDIDATES = 50;
const here = path.dirname(fileURLToPath(import.meta.url));

function stats(ms: number[]): { runs: number; p50: number; p99: number; mean: number } {
  const { calls, p50, p99, mean } = latencyStats(ms);
  return { runs: calls, p50, p99, mean };
}

function ranking(user: Float32Array, cands: Float32Array[]): number[] {
  const scores = cands.map((c) => c.reduce((a, x, i) => a + x * user[i]!, 0));
  return scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

function kendallTau(a: number[], b: number[]): number {
  const pos = new Map(b.map((x, i) => [x, i]));
  let concordant = 0;
  let discordant = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      if (pos.get(a[i]!)! < pos.get(a[j]!)!) concordant++;
      else discordant++;
    }
  }
  return (concordant - discordant) / (concordant + discordant);
}

async function main(): Promise<void> {
  const file = path.join(here, 'results', QUICK ? 'late-quick.json' : 'late.json');
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const speed = PART === 'quality' ? undefined : await speedPart();
  const quality = PART === 'speed' ? undefined : await qualityPart();
  writeJson(file, { ...previous, date: new Date().toISOString(), ...speed, ...(quality ? { quality } : {}) });
}

async function qualityPart() {
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-bench-late-q-'));
  try {
    const q = await lateQuality(dir, QUICK, THREADS);
    console.log(`\nquality on the synthetic benchmark (${q.data.items} items, ${q.data.users} users, ${q.data.testUsers} test users), ${q.model.layers}x${q.model.dim} model:`);
    printTable(q.rows as unknown as Record<string, unknown>[], ['model', 'testNdcg10', 'testHr10', 'weight', 'p50Ms', 'seconds']);
    const e = q.earlyExit;
    console.log(`\nearly exit on the tuned split-${e.split} model (exits ${e.exits.join(', ')}; ${e.testUsers} test users, full catalog):`);
    console.log(`  mean ms ${e.meanMs.toFixed(2)} against ${e.baselineMeanMs.toFixed(2)} without exit (${e.speedup.toFixed(2)}x); exit depths ${JSON.stringify(e.histogram)}`);
    console.log(`  test NDCG@10 ${e.testNdcg10.toFixed(4)} with exit, ${e.testNdcg10WithoutExit.toFixed(4)} without (loss ${(e.testNdcgLoss * 100).toFixed(2)}%); NDCG@10 against the final top 10 ${(100 - e.ndcgLossAgainstFinal * 100).toFixed(1)}%`);
    return q;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function speedPart() {
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-bench-late-'));
  try {
    const { layers, hidden, heads, kvHeads, intermediate, vocab } = SHAPE;
    const config: DecoderConfig = {
      family: 'decoder', modelType: 'qwen2', hidden, intermediate, layers, heads, kvHeads, headDim: hidden / heads, vocab,
      eps: 1e-6, ropeTheta: 1000000, tiedEmbeddings: true, qkvBias: true, maxPositions: 32768,
    };
    console.error(`writing ${SHAPE.name}`);
    writeDecoderCheckpoint(dir, config, initSource());
    // the split points must be block boundaries: 3 divides 12, 18 and 21
    const lm = await LanguageModel.load(dir, { blockSize: QUICK ? 1 : 3, cacheDir: false });
    const rng = new Random(3);
    const segment = () => Array.from({ length: TOKENS }, () => 1 + rng.int(vocab - 1));
    const history = Array.from({ length: EVENTS + 1 }, segment); // the last one is the new event
    const candidates = Array.from({ length: CANDIDATES }, segment);
    const candVectors = await lm.encode(candidates, { layer: layers, pooling: 'last' });
    const flat = history.flat();

    const full = async () => {
      const [states] = await lm.hiddenStates(flat, { layers: [layers] });
      return states!.slice((flat.length - 1) * hidden);
    };
    console.error('full recompute');
    const fullVector = await full();
    const fullMs: number[] = [];
    for (let i = 0; i < (QUICK ? 10 : 5); i++) {
      const t0 = performance.now();
      await full();
      fullMs.push(performance.now() - t0);
    }
    const fullStats = stats(fullMs);
    const fullRank = ranking(fullVector, candVectors);
    const rows: Record<string, unknown>[] = [{ method: 'full recompute', ...fullStats, speedup: 1, top10_overlap: 1, kendall_tau: 1 }];

    for (const split of SHAPE.splits) {
      const cache = new SegmentCache({ budgetBytes: 512 * 2 ** 20 });
      const li = new LateInteraction(lm, { splitLayer: split, cache });
      console.error(`late interaction, split ${split}: warming the cache`);
      await li.encodeUser(history); // every event's bottom layers, once for all users
      const ms: number[] = [];
      let vector: Float32Array | undefined;
      for (let i = 0; i < (QUICK ? 20 : 10); i++) {
        const t0 = performance.now();
        vector = await li.encodeUser(history);
        ms.push(performance.now() - t0);
      }
      const s = stats(ms);
      const rank = ranking(vector!, candVectors);
      const top = new Set(fullRank.slice(0, 10));
      rows.push({
        method: `late interaction, split ${split} (warm cache)`,
        ...s,
        speedup: fullStats.p50 / s.p50,
        top10_overlap: rank.slice(0, 10).filter((x) => top.has(x)).length / 10,
        kendall_tau: kendallTau(fullRank, rank),
        cache_hit_rate: cache.stats.hits / (cache.stats.hits + cache.stats.misses),
        cache_mib: cache.stats.bytes / 2 ** 20,
      });
      li.close();
    }
    const earlyExit = await earlyExitRows(lm, segment, candVectors);
    await lm.close();
    console.log(`\n${SHAPE.name}: a user of ${EVENTS} events adds one (${(EVENTS + 1) * TOKENS} tokens), ms per user state:`);
    printTable(rows, ['method', 'runs', 'p50', 'p99', 'speedup', 'top10_overlap', 'kendall_tau', 'cache_hit_rate']);
    console.log(`\nearly exit above split ${earlyExit.split} (exits ${earlyExit.exits.join(', ')}; ${earlyExit.testUsers} test users):`);
    console.log(`  mean ms: ${earlyExit.meanMs.toFixed(1)} against ${earlyExit.baselineMeanMs.toFixed(1)} without exit (${earlyExit.speedup.toFixed(2)}x); NDCG@10 loss ${(earlyExit.ndcgLoss * 100).toFixed(2)}%`);
    console.log(`  exit depths: ${JSON.stringify(earlyExit.histogram)}`);
    const traffic = await cacheTraffic();
    console.log(`\nsegment cache on the synthetic benchmark's traffic (2,000 users' last 20 events, default model, split 2, fp16):`);
    for (const t of traffic) {
      console.log(`  budget ${(t.budgetBytes / 2 ** 20).toFixed(1)} MiB: hit rate ${t.hitRate.toFixed(3)} (${t.hits} hits, ${t.misses} misses), ${t.evictions} evictions, ${t.entries} entries, ${(t.bytes / 2 ** 20).toFixed(2)} MiB held`);
    }
    return { model: SHAPE, events: EVENTS, tokensPerEvent: TOKENS, candidates: CANDIDATES, rows, earlyExit, traffic };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The segment cache under the synthetic benchmark's users, with the bundled default model. */
async function cacheTraffic() {
  const data = generateSynthetic({ items: 1000, users: 2000, seed: 1 });
  const title = new Map(data.items.map((it) => [it.id, it.title]));
  const byUser = new Map<string, string[]>();
  for (const e of data.events) (byUser.get(e.user) ?? byUser.set(e.user, []).get(e.user)!).push(title.get(e.item)!);
  const lm = await LanguageModel.load(DEFAULT_MODEL_DIR, { blockSize: 2 });
  const out = [];
  // a title's entry is about 7 KB (13 tokens x 256 x 2 bytes): a quarter of the catalog, then all of it
  for (const budgetBytes of [1.5 * 2 ** 20, 8 * 2 ** 20]) {
    const cache = new SegmentCache({ budgetBytes });
    const li = new LateInteraction(lm, { splitLayer: 2, cache });
    console.error(`cache traffic: 2,000 users, budget ${budgetBytes / 2 ** 20} MiB`);
    for (const history of byUser.values()) await li.encodeUser(history.slice(-20));
    const s = cache.stats;
    li.close();
    out.push({ requests: byUser.size, budgetBytes, hits: s.hits, misses: s.misses, hitRate: s.hits / (s.hits + s.misses), evictions: s.evictions, entries: s.entries, bytes: s.bytes });
  }
  await lm.close();
  return out;
}

/** Early exit above the lowest split, against the same late interaction without exit. */
async function earlyExitRows(lm: LanguageModel, segment: () => number[], candidates: Float32Array[]) {
  const split = Math.min(...SHAPE.splits);
  const L = SHAPE.layers;
  const exits = QUICK ? [split + 1, split + 2] : [15, 18, 21].filter((e) => e > split && e < L);
  const li = new LateInteraction(lm, { splitLayer: split, cache: new SegmentCache({ budgetBytes: 1024 * 2 ** 20 }) });
  const user = () => Array.from({ length: 20 }, segment);
  const train = Array.from({ length: 40 }, user);
  const valid = Array.from({ length: 25 }, user);
  const test = Array.from({ length: 15 }, user);
  console.error(`early exit: fitting heads at ${exits.join(', ')}`);
  const ee = await EarlyExit.fit(li, L, train, valid, candidates, { exits, targetLoss: 0.01 });
  let base = 0;
  let exit = 0;
  let loss = 0;
  for (const h of test) {
    await li.encodeUser(h); // warm the cache: both paths read the same bottoms
    let t0 = performance.now();
    const full = (await li.encodeUserAt(h, [L])).get(L)!;
    base += performance.now() - t0;
    t0 = performance.now();
    const r = await ee.rank(h, candidates);
    exit += performance.now() - t0;
    loss += 1 - ndcgAgainst(Array.from(r.scores.keys()).sort((a, b) => r.scores[b]! - r.scores[a]! || a - b), ranking(full, candidates), 10);
  }
  li.close();
  return { split, exits, thresholds: ee.thresholds, testUsers: test.length, meanMs: exit / test.length, baselineMeanMs: base / test.length, speedup: base / exit, ndcgLoss: loss / test.length, histogram: ee.histogram };
}

await main();
