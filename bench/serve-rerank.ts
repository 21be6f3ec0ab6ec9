/**
 * npm run bench:serve-rerank -- --models M --data DIR [--weight 1] [--events 20] [--precision fp32] [--seconds 20] [--tag T]
 *
 * `lmrec serve` under load with the LM stage on (`--rerank`) against the same server without it,
 * one after the other on this machine (server in its own process, autocannon in this one):
 *  - M holds the models `npm run bench:lm-stage -- --data DIR … --models M` trained (rec, tuned);
 *    DIR the set they were trained on (items.jsonl, events.jsonl);
 *  - each request is POST /v1/recommend with a test user's history (their events before the
 *    last; 2,000 users in turn), k 10;
 *  - per server: `--seconds` of requests from 1, 4 and 16 connections: requests/s, latency p50 /
 *    p99, errors, and the server's event-loop delay p99 over the run (the stage's LM runs on a
 *    worker thread, so a busy stage should queue requests, not stall the loop).
 * Writes bench/results/serve-rerank-<DIR's name>[-T].json and prints a table.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { readCatalogIds, readInteractions } from '../src/data/interactions.js';
import { leaveOneOut } from '../src/eval/leave-one-out.js';
import { startChildServer } from '../src/serve/child-server.js';
import { eventLoopP99Ms, printTable, writeJson } from './measure.js';
import { arg, argOr } from './args.js';

const MODELS = arg('models');
const DATA = arg('data');
if (!MODELS || !DATA) throw new Error('--models M (from bench:lm-stage --models) and --data DIR (the set they learned) are required');
const WEIGHT = argOr('weight', '1');
const EVENTS = argOr('events', '20');
const PRECISION = argOr('precision', 'fp32');
const SECONDS = Number(argOr('seconds', '20'));
const TAG = arg('tag');
const CONNECTIONS = [1, 4, 16];
const here = path.dirname(fileURLToPath(import.meta.url));
const name = path.basename(path.resolve(DATA));
const log = (line: string) => console.error(`[bench:serve-rerank ${name}] ${line}`);

const catalog = await readCatalogIds(path.join(DATA, 'items.jsonl'));
const split = leaveOneOut((await readInteractions(path.join(DATA, 'events.jsonl'), { items: catalog })).sequences);
const bodies = split.test.slice(0, 2000).map((s) => JSON.stringify({ history: Array.from(s.history.subarray(-50), (i) => catalog.name(i)), k: 10 }));

async function load(url: string, connections: number, seconds: number) {
  let n = 0;
  const r = await autocannon({
    url,
    duration: seconds,
    connections,
    requests: [{ method: 'POST', path: '/v1/recommend', headers: { 'content-type': 'application/json' }, setupRequest: (req) => ({ ...req, body: bodies[n++ % bodies.length]! }) }],
  });
  return { connections, requestsPerSecond: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx };
}

/** One server (with `extra` options), loaded from each connection count in turn. */
async function measure(what: string, extra: string[]) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-bench-serve-rerank-'));
  let server: ChildProcess | undefined;
  try {
    log(`${what}: starting the server`);
    const started = await startChildServer({ cli: path.join(here, '..', 'dist', 'cli', 'main.js'), model: path.join(MODELS!, 'rec'), store: path.join(dir, 'store.db'), extra });
    server = started.child;
    await load(started.url, 4, 3); // warm-up: the segment cache, the JIT
    const rows = [];
    for (const c of CONNECTIONS) {
      await eventLoopP99Ms(started.url); // resets the histogram
      const r = await load(started.url, c, SECONDS);
      rows.push({ ...r, eventLoopP99Ms: await eventLoopP99Ms(started.url) });
      log(`${what}, ${c} connections: ${r.requestsPerSecond.toFixed(0)} requests/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`);
    }
    return rows;
  } finally {
    server?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    rmSync(dir, { recursive: true, force: true });
  }
}

const alone = await measure('recommend() alone', []);
const stage = await measure(`the LM stage (w ${WEIGHT}, m ${EVENTS}, ${PRECISION})`, ['--rerank', path.join(MODELS, 'tuned'), '--rerank-weight', WEIGHT, '--rerank-events', EVENTS, '--rerank-precision', PRECISION]);
const rows = CONNECTIONS.map((c, j) => ({ connections: c, alone: alone[j]!, stage: stage[j]!, throughputRatio: stage[j]!.requestsPerSecond / alone[j]!.requestsPerSecond }));
writeJson(path.join('bench', 'results', `serve-rerank-${name}${TAG ? `-${TAG}` : ''}.json`), { date: new Date().toISOString(), data: name, weight: Number(WEIGHT), events: Number(EVENTS), precision: PRECISION, seconds: SECONDS, rows });
console.log(`\nlmrec serve, POST /v1/recommend with test users' histories (${name}), ${SECONDS} s per row:`);
printTable(
  rows.flatMap((r) => [
    { server: 'recommend() alone', connections: r.connections, 'req/s': r.alone.requestsPerSecond.toFixed(0), p50Ms: r.alone.p50Ms, p99Ms: r.alone.p99Ms, loopP99Ms: r.alone.eventLoopP99Ms.toFixed(1), errors: r.alone.errors + r.alone.non2xx },
    { server: `--rerank (${PRECISION})`, connections: r.connections, 'req/s': `${r.stage.requestsPerSecond.toFixed(0)} (${(100 * r.throughputRatio).toFixed(0)}%)`, p50Ms: r.stage.p50Ms, p99Ms: r.stage.p99Ms, loopP99Ms: r.stage.eventLoopP99Ms.toFixed(1), errors: r.stage.errors + r.stage.non2xx },
  ]),
  ['server', 'connections', 'req/s', 'p50Ms', 'p99Ms', 'loopP99Ms', 'errors'],
);
