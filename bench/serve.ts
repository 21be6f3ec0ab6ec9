/**
 * npm run bench:serve [-- --quick] [-- --soak-seconds N] [-- --index exact|partitioned|N]
 *
 * `lmrec serve` under load on this machine, the server in its own process (node dist/cli),
 * the load generator (autocannon) in this one, over loopback:
 *  - a recommender fit on a 100k-item synthetic catalog (50k users; 2 minutes of training:
 *    quality is not the point here; --quick: 20k items, 30 s);
 *  - throughput: 30 s of GET /v1/users/:id/recommendations?k=10 for random users from 32
 *    connections: requests/s, latency p50/p99, errors and non-2xx answers;
 *  - memory: 5 minutes (--quick: 1) of recommendations at 300 requests/s while events arrive
 *    at 500/s (100 batches of 5 a second, random users and items): the server's RSS sampled
 *    every 5 s (and every second for the lows and highs of each 30 s), its growth from the
 *    first minute to the end, and the errors. `--soak-seconds N` runs it for N seconds
 *    instead (a longer run tells the allocator's plateau from a leak).
 *  - event loop: the server's event-loop delay p99 (prom-client's, from /metrics) over 30 s of
 *    recommendations at 300/s, then the same with an item PUT a second (each one's text encoded
 *    by the LM, off the JS thread): target p99 <= 20 ms.
 * Writes bench/results/serve.json (serve-quick.json with --quick; serve-soak-Ns.json with
 * --soak-seconds N; -<index> appended with --index, the server's `--index`) and prints a table.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { writeSynthetic } from '../src/data/synthetic.js';
import { Recommender } from '../src/recommender/recommender.js';
import { startChildServer } from '../src/serve/child-server.js';
import { eventLoopP99Ms, printTable, writeJson } from './measure.js';

const QUICK = process.argv.includes('--quick');
const here = path.dirname(fileURLToPath(import.meta.url));
const ITEMS = QUICK ? 20_000 : 100_000;
const USERS = QUICK ? 10_000 : 50_000;
const LOAD_SECONDS = QUICK ? 10 : 30;
const indexArg = process.argv.indexOf('--index');
const INDEX = indexArg > 0 ? process.argv[indexArg + 1]! : 'auto';
const soakArg = process.argv.indexOf('--soak-seconds');
const SOAK_SECONDS = soakArg > 0 ? Number(process.argv[soakArg + 1]) : QUICK ? 60 : 300;
if (!(Number.isInteger(SOAK_SECONDS) && SOAK_SECONDS >= 60)) throw new Error('--soak-seconds needs a whole number of seconds, at least 60');

const log = (line: string) => console.error(`[bench:serve] ${line}`);

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Least-squares slope of (seconds, MB) points, in MB per minute. */
function slopePerMinute(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const sxy = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const sxx = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return (sxy / sxx) * 60;
}

let seed = 12345;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
};

function recommendations(url: string, o: { duration: number; connections: number; overallRate?: number }): Promise<autocannon.Result> {
  return autocannon({
    url,
    duration: o.duration,
    connections: o.connections,
    ...(o.overallRate ? { overallRate: o.overallRate } : {}),
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/v1/users/u${rand(USERS)}/recommendations?k=10` }) }],
  });
}

function events(url: string, duration: number): Promise<autocannon.Result> {
  return autocannon({
    url,
    duration,
    connections: 4,
    overallRate: 100, // batches of 5: 500 events a second
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({
          ...req,
          path: '/v1/events',
          body: JSON.stringify({ events: Array.from({ length: 5 }, () => ({ user: `u${rand(USERS)}`, item: `i${rand(ITEMS)}` })) }),
        }),
      },
    ],
  });
}

/** One item a second, PUT with a new id and a title (each is encoded by the LM on the server). */
function itemPuts(url: string, duration: number): Promise<autocannon.Result> {
  let n = 0;
  return autocannon({
    url,
    duration,
    connections: 1,
    overallRate: 1,
    requests: [
      {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({
          ...req,
          path: `/v1/items/added-${++n}`,
          body: JSON.stringify({ fields: { title: `wooden toy train number ${n} with ${rand(40) + 2} carriages and a bridge`, category: `c${rand(200)}` } }),
        }),
      },
    ],
  });
}

const summary = (r: autocannon.Result) => ({
  requests: r.requests.total,
  requestsPerSecond: r.requests.average,
  p50Ms: r.latency.p50,
  p99Ms: r.latency.p99,
  maxMs: r.latency.max,
  errors: r.errors,
  timeouts: r.timeouts,
  non2xx: r.non2xx,
});

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-bench-serve-'));
  let server: ChildProcess | undefined;
  try {
    log(`generating ${ITEMS} items, ${USERS} users`);
    writeSynthetic(dir, { items: ITEMS, users: USERS, topics: 200, eventsPerUser: [5, 35], seed: 3 });
    log('fitting (the index, not the quality, is what is measured)');
    const t0 = performance.now();
    const rec = await Recommender.fit({ items: path.join(dir, 'items.jsonl'), events: path.join(dir, 'events.jsonl'), layer: 1, budget: QUICK ? 30 : 120, seed: 1 });
    await rec.save(path.join(dir, 'rec'));
    await rec.close();
    const fitSeconds = (performance.now() - t0) / 1000;
    log('starting the server (it copies the catalog into a new SQLite store)');
    const started = await startChildServer({ cli: path.join(here, '..', 'dist', 'cli', 'main.js'), model: path.join(dir, 'rec'), store: path.join(dir, 'rec.db'), extra: ['--index', INDEX] });
    server = started.child;
    const { url } = started;
    await recommendations(url, { duration: 3, connections: 8 }); // warm-up
    log(`throughput: ${LOAD_SECONDS} s, 32 connections`);
    const load = summary(await recommendations(url, { duration: LOAD_SECONDS, connections: 32 }));
    log(`memory: ${SOAK_SECONDS} s of 300 recommendations/s and 500 events/s`);
    const samples: { s: number; rssMb: number; heapUsedMb: number; externalMb: number; nativeInUseMb: number; nativeHeldMb: number }[] = [];
    const start = performance.now();
    // RSS every second as well: each background update swings it by a few hundred MB (training
    // and the new indexes, then freed), so the trend is also read from each 30 s window's
    // lowest RSS (what the server holds between updates) and highest (at the height of one)
    const everySecond: [number, number][] = [];
    const fine = setInterval(() => everySecond.push([(performance.now() - start) / 1000, rssMb(server!.pid!)]), 1000);
    const timer = setInterval(() => {
      const s = (performance.now() - start) / 1000;
      const rss = rssMb(server!.pid!);
      void fetch(`${url}/metrics`)
        .then((r) => r.text())
        .then((m) => {
          const mb = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(m)?.[1]) / 2 ** 20;
          samples.push({
            s,
            rssMb: rss,
            heapUsedMb: mb('lmrec_nodejs_heap_size_used_bytes'),
            externalMb: mb('lmrec_nodejs_external_memory_bytes'),
            nativeInUseMb: mb('lmrec_native_heap_in_use_bytes'),
            nativeHeldMb: mb('lmrec_native_heap_held_bytes'),
          });
        });
    }, 5000);
    const [soakRecs, soakEvents] = await Promise.all([recommendations(url, { duration: SOAK_SECONDS, connections: 8, overallRate: 300 }), events(url, SOAK_SECONDS)]);
    clearInterval(timer);
    clearInterval(fine);
    const windows = Array.from({ length: Math.ceil(SOAK_SECONDS / 30) }, (_, w) => {
      const rss = everySecond.filter(([t]) => t >= w * 30 && t < (w + 1) * 30).map(([, mb]) => mb);
      return { s: w * 30, minMb: Math.min(...rss), maxMb: Math.max(...rss) };
    }).filter((w) => Number.isFinite(w.minMb));
    const afterMinute = samples.find((x) => x.s >= 60) ?? samples[0]!;
    // least-squares trend of one sampled figure from the first minute on
    const trend = (key: 'rssMb' | 'heapUsedMb' | 'nativeInUseMb' | 'nativeHeldMb') =>
      slopePerMinute(samples.filter((x) => x.s >= afterMinute.s).map((x) => [x.s, x[key]]));
    const end = samples.at(-1)!;
    const soak = {
      seconds: SOAK_SECONDS,
      recommendations: summary(soakRecs),
      events: { ...summary(soakEvents), eventsPerSecond: (soakEvents.requests.total * 5) / SOAK_SECONDS },
      rssMbAfterFirstMinute: afterMinute.rssMb,
      rssMbAtEnd: end.rssMb,
      // least-squares slope after the first minute: two samples alone swing with each reindex
      rssGrowthMbPerMinute: trend('rssMb'),
      heapGrowthMbPerMinute: trend('heapUsedMb'),
      nativeInUseGrowthMbPerMinute: trend('nativeInUseMb'),
      nativeHeldGrowthMbPerMinute: trend('nativeHeldMb'),
      rssMbRange: [Math.min(...samples.map((x) => x.rssMb)), Math.max(...samples.map((x) => x.rssMb))],
      // the same after the first minute, from each 30 s window's lowest and highest RSS (sampled every second)
      rssFloorGrowthMbPerMinute: slopePerMinute(windows.filter((w) => w.s >= 60).map((w) => [w.s + 15, w.minMb])),
      rssPeakGrowthMbPerMinute: slopePerMinute(windows.filter((w) => w.s >= 60).map((w) => [w.s + 15, w.maxMb])),
      rssWindows: windows,
      samples,
    };
    // the event loop while items are added under load: each PUT encodes its text with the LM,
    // which must run off the JS thread (target: event-loop delay p99 <= 20 ms); the same load
    // without PUTs is the baseline
    log(`event loop: ${LOAD_SECONDS} s of 300 recommendations/s, then the same with an item PUT every second`);
    await eventLoopP99Ms(url);
    const quiet = summary(await recommendations(url, { duration: LOAD_SECONDS, connections: 8, overallRate: 300 }));
    const quietLagMs = await eventLoopP99Ms(url);
    const [busyRecs, puts] = await Promise.all([recommendations(url, { duration: LOAD_SECONDS, connections: 8, overallRate: 300 }), itemPuts(url, LOAD_SECONDS)]);
    const busyLagMs = await eventLoopP99Ms(url);
    const eventLoop = {
      recommendationsOnly: { ...quiet, eventLoopP99Ms: quietLagMs },
      withItemPuts: { ...summary(busyRecs), eventLoopP99Ms: busyLagMs },
      itemPuts: summary(puts),
    };
    console.log(`\nlmrec serve on ${ITEMS} items (server process and load generator share this machine's 2 cores):`);
    printTable(
      [
        { phase: `recommendations, 32 connections, ${LOAD_SECONDS} s`, ...load },
        { phase: `soak: recommendations at 300/s, ${SOAK_SECONDS} s`, ...soak.recommendations },
        { phase: `soak: events at 500/s (batches of 5)`, ...soak.events },
        { phase: `recommendations at 300/s, ${LOAD_SECONDS} s`, ...eventLoop.recommendationsOnly },
        { phase: `the same, with an item PUT every second`, ...eventLoop.withItemPuts },
        { phase: `item PUTs (LM encoding on the server)`, ...eventLoop.itemPuts },
      ],
      ['phase', 'requests', 'requestsPerSecond', 'p50Ms', 'p99Ms', 'errors', 'timeouts', 'non2xx', 'eventLoopP99Ms'],
    );
    console.log(
      `server RSS: ${soak.rssMbAfterFirstMinute.toFixed(0)} MB after the first minute, ${soak.rssMbAtEnd.toFixed(0)} MB at the end, ${soak.rssMbRange[0]!.toFixed(0)}–${soak.rssMbRange[1]!.toFixed(0)} MB over the run; ` +
        (Number.isFinite(soak.rssGrowthMbPerMinute)
          ? `trend ${soak.rssGrowthMbPerMinute.toFixed(1)} MB/min (JS heap ${soak.heapGrowthMbPerMinute.toFixed(2)} MB/min, C heap in use ${soak.nativeInUseGrowthMbPerMinute.toFixed(1)}, held ${soak.nativeHeldGrowthMbPerMinute.toFixed(1)}); 30 s lows ${soak.rssFloorGrowthMbPerMinute.toFixed(1)} MB/min, highs ${soak.rssPeakGrowthMbPerMinute.toFixed(1)} MB/min`
          : 'no trends: they are read after the first minute, and this soak is too short for two samples there'),
    );
    const name = QUICK ? 'serve-quick' : soakArg > 0 ? `serve-soak-${SOAK_SECONDS}s` : 'serve';
    writeJson(path.join(here, 'results', `${name}${INDEX === 'auto' ? '' : `-${INDEX}`}.json`), {
      date: new Date().toISOString(),
      machine: { cores: 2 },
      items: ITEMS,
      users: USERS,
      index: INDEX,
      fitSeconds,
      load,
      soak,
      eventLoop,
    });
  } finally {
    server?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
