/**
 * The service never stalls: the language model runs off the JS thread (items being encoded
 * leave the event loop free), a failed background SRM update is reported at once (log,
 * /healthz degraded, a metric) while the last good model keeps serving, a SQLite write lock
 * held by another connection stalls neither /healthz nor the reads held in memory, and SIGTERM
 * under load answers every request already sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyntheticData } from '../src/data/synthetic.js';
import { LmrecError } from '../src/errors.js';
import { Recommender } from '../src/recommender/recommender.js';
import { startChildServer } from '../src/serve/child-server.js';
import { createServer, type ServerOptions } from '../src/serve/server.js';
import { RecommendationService, type ServiceOptions } from '../src/serve/service.js';
import { fitServedModel } from './helpers/served-model.js';

// the CLI from its sources (tsx, as the tests run them): no build needed first
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-stalls-'));
const model = path.join(dir, 'rec');
let data: SyntheticData;

beforeAll(async () => {
  ({ data } = await fitServedModel(dir));
}, 120_000);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let stores = 0;
async function start(o: ServerOptions = {}, so: Partial<ServiceOptions> = {}): Promise<{ app: FastifyInstance; service: RecommendationService; store: string }> {
  const store = path.join(dir, `store-${++stores}.db`);
  const service = await RecommendationService.open({ model, store, ...so });
  return { app: await createServer(service, o), service, store };
}

const post = (url: string, body: unknown) => ({ method: 'POST' as const, url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

/** Runs `work` while the event loop's delay is sampled every 5 ms; the delays' p99 and max (ms) and the work's duration. */
async function lagDuring(work: () => Promise<unknown>): Promise<{ p99: number; max: number; ms: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t = performance.now();
  await work();
  const ms = performance.now() - t;
  h.disable();
  return { p99: h.percentile(99) / 1e6, max: h.max / 1e6, ms };
}

describe('the language model runs off the JS thread', () => {
  it('addItems of a large batch leaves the event loop free (p99 lag <= 50 ms)', async () => {
    const rec = await Recommender.load(model);
    try {
      const items = Array.from({ length: 240 }, (_, i) => ({ id: `added-${i}`, fields: { title: `${data.items[i % data.items.length]!.title} ${data.items[(i + 1) % data.items.length]!.title}` } }));
      const lag = await lagDuring(() => rec.addItems(items));
      // long enough that runs on the JS thread show (~1 s here; with them there, p99 was 115-330 ms)
      expect(lag.ms).toBeGreaterThan(300);
      expect(lag.p99, JSON.stringify(lag)).toBeLessThanOrEqual(50);
      expect(rec.item('added-7')).toBeDefined();
      expect(rec.recommend({ history: ['added-7'], k: 3 }).items).toHaveLength(3);
    } finally {
      await rec.close();
    }
  });
});

describe('a background SRM update that fails', () => {
  it('is logged at once, makes /healthz degraded (200) and counts in the metrics; the last good model keeps serving', async () => {
    const reported: unknown[] = [];
    const lines: string[] = [];
    const logs = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    // the server logs what the service reports when no onError was given: once, through its logger
    const { app, service } = await start({ logger: { level: 'error', stream: logs } }, { updateIntervalMs: 0 });
    const quiet = await start({}, { updateIntervalMs: 0, onError: (e) => reported.push(e) });
    try {
      const before = (await app.inject({ method: 'GET', url: '/v1/users/u5/recommendations?k=5' })).json() as unknown;
      expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
      for (const s of [service, quiet.service]) {
        const srm = s.recommender.srm;
        srm.update = () => Promise.reject(new LmrecError('injected update failure', 'INTERNAL'));
      }
      expect((await app.inject(post('/v1/events', { events: [{ user: 'u9', item: 'i3' }, { user: 'u9', item: 'i4' }] }))).statusCode).toBe(200);
      expect((await quiet.app.inject(post('/v1/events', { events: [{ user: 'u9', item: 'i3' }] }))).statusCode).toBe(200);
      await service.recommender.whenIdle(); // the update ran and failed; nobody called flush()
      await quiet.service.recommender.whenIdle();
      // told at once: the service's hook, or the server's logger
      expect(reported).toEqual([expect.objectContaining({ code: 'INTERNAL', message: 'injected update failure' })]);
      expect(lines.join('')).toMatch(/injected update failure/);
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(200); // alive and serving: a load balancer keeps sending reads
      expect(health.json()).toEqual({ status: 'degraded', error: { code: 'INTERNAL', message: expect.stringContaining('injected update failure') } });
      expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^lmrec_background_errors_total 1$/m);
      // the serving model is the last good one: u5's answer is as before
      expect((await app.inject({ method: 'GET', url: '/v1/users/u5/recommendations?k=5' })).json()).toEqual(before);
      // a later update that succeeds ends the degraded state; the count stays
      delete (service.recommender.srm as { update?: unknown }).update;
      expect((await app.inject(post('/v1/events', { events: [{ user: 'u9', item: 'i5' }] }))).statusCode).toBe(200);
      await service.recommender.whenIdle();
      expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
      expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^lmrec_background_errors_total 1$/m);
    } finally {
      // closing reports nothing again: the failure was told when it happened
      await app.close();
      await quiet.app.close();
    }
  });
});

describe("another connection's SQLite write lock", () => {
  for (const begin of ['BEGIN IMMEDIATE', 'BEGIN EXCLUSIVE']) {
    it(`(${begin}) stalls neither /healthz nor reads held in memory; writes wait for it without blocking`, async () => {
      const { app, store } = await start();
      const other = new Database(store);
      try {
        const want = (await app.inject({ method: 'GET', url: '/v1/users/u5/recommendations?k=5' })).json() as unknown;
        other.exec(begin);
        const t0 = performance.now();
        // writes find the lock and wait for it (up to the store's busy timeout)...
        const posted = app.inject(post('/v1/events', { events: [{ user: 'locked-out', item: 'i3' }] }));
        const put = app.inject({ method: 'PUT', url: '/v1/items/while-locked', payload: JSON.stringify({ fields: { title: data.items[4]!.title } }), headers: { 'content-type': 'application/json' } });
        await new Promise((resolve) => setTimeout(resolve, 100));
        // ...while everything else is answered at once
        const health = await app.inject({ method: 'GET', url: '/healthz' });
        const user = await app.inject({ method: 'GET', url: '/v1/users/u5/recommendations?k=5' });
        const anonymous = await app.inject(post('/v1/recommend', { history: ['i3', 'i17'], k: 4 }));
        const item = await app.inject({ method: 'GET', url: '/v1/items/i3' });
        const answered = performance.now() - t0;
        expect(health.json()).toEqual({ status: 'ok' });
        expect(user.json()).toEqual(want);
        expect(anonymous.statusCode).toBe(200);
        expect(item.statusCode).toBe(200);
        expect(answered).toBeLessThan(1_000); // the busy timeout is 5 s: a blocked loop answers after it
        other.exec('COMMIT');
        // the writes went through once the lock was gone, not refused
        expect((await posted).statusCode).toBe(200);
        expect((await put).statusCode).toBe(201);
        expect((await app.inject({ method: 'GET', url: '/v1/users/locked-out/recommendations?k=2' })).json()).toMatchObject({ fallback: null });
      } finally {
        if (other.inTransaction) other.exec('ROLLBACK');
        other.close();
        await app.close();
      }
    });
  }
});

describe('SIGTERM under load', () => {
  it('answers every request sent before the signal (200, or 503 in the API shape), resets none, then exits 0', async () => {
    const { child, url } = await startChildServer({ cli, model, store: path.join(dir, 'sigterm.db'), nodeArgs: ['--import', 'tsx'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const { port } = new URL(url);
      const request = (i: number): string => {
        if (i % 5 === 0) {
          const body = JSON.stringify({ fields: { title: `${data.items[i]!.title} ${data.items[i + 1]!.title}` } });
          return `PUT /v1/items/sigterm-${i} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        }
        if (i % 5 === 1) {
          const body = JSON.stringify({ events: [{ user: `sigterm-${i}`, item: `i${i}` }] });
          return `POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        }
        return `GET /v1/users/u${i}/recommendations?k=5 HTTP/1.1\r\nhost: x\r\n\r\n`;
      };
      // raw connections: each request is known to have left before the signal
      const sent = Array.from({ length: 50 }, (_, i) =>
        new Promise<{ written: Promise<void>; answer: Promise<{ raw: string; error?: string }> }>((resolve) => {
          const socket = connect(Number(port), '127.0.0.1');
          let raw = '';
          const answer = new Promise<{ raw: string; error?: string }>((done) => {
            // complete: the headers and as many bytes of body as they announce
            socket.on('data', (d) => {
              raw += d;
              const end = raw.indexOf('\r\n\r\n');
              const length = /content-length: (\d+)/i.exec(raw.slice(0, end))?.[1];
              if (end >= 0 && length !== undefined && Buffer.byteLength(raw.slice(end + 4)) >= Number(length)) done({ raw });
            });
            socket.on('error', (e: NodeJS.ErrnoException) => done({ raw, error: e.code ?? e.message }));
            socket.on('close', () => done({ raw }));
          });
          const written = new Promise<void>((w) => socket.write(request(i), () => w()));
          resolve({ written, answer });
        }),
      );
      const requests = await Promise.all(sent);
      await Promise.all(requests.map((r) => r.written));
      child.kill('SIGTERM');
      const answers = await Promise.all(requests.map((r) => r.answer));
      const statuses = answers.map((a) => (a.error ? a.error : /^HTTP\/1\.1 (\d+)/.exec(a.raw)?.[1] ?? `no answer: '${a.raw.slice(0, 40)}'`));
      for (const s of statuses) expect(['200', '201', '503'], statuses.join(' ')).toContain(s);
      for (const a of answers.filter((x) => /^HTTP\/1\.1 503/.test(x.raw))) {
        expect(JSON.parse(a.raw.slice(a.raw.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'CLOSED', message: expect.any(String) } });
      }
      // and it exits once they are answered (not after a keep-alive timeout)
      expect(await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 15 s'), 15_000))])).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
