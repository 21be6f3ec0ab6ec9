/**
 * `lmrec serve`'s API on a small fitted recommender and a SQLite store: every route against
 * the library's own answers, events changing histories before the reply and surviving a
 * restart, items added (encoded and indexed), removed and restored, and the faults — bad JSON,
 * oversized bodies, unknown users, items and routes, schema violations (bodies never coerced),
 * over-long ids, malformed HTTP, a missing or wrong token, a rate limit, requests while closing
 * — each a typed JSON error with its status; metrics and the OpenAPI document; a shutdown
 * under load that answers every request it accepted and loses no event.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyntheticData } from '../src/data/synthetic.js';
import { pretrain } from '../src/pretrain/pretrain.js';
import { LmRanker } from '../src/recommender/lm-ranker.js';
import { Recommender } from '../src/recommender/recommender.js';
import { createServer, type ServerOptions } from '../src/serve/server.js';
import { RecommendationService } from '../src/serve/service.js';
import { STORE_LIMITS } from '../src/serve/store/store.js';
import { INPUT_LIMITS } from '../src/data/limits.js';
import { fitServedModel } from './helpers/served-model.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-serve-'));
const model = path.join(dir, 'rec');
let data: SyntheticData;
let reference: Recommender;

beforeAll(async () => {
  ({ data } = await fitServedModel(dir));
  reference = await Recommender.load(model);
}, 120_000);
afterAll(async () => {
  await reference.close();
  rmSync(dir, { recursive: true, force: true });
});

let stores = 0;
async function start(o: ServerOptions = {}, store = path.join(dir, `store-${++stores}.db`)): Promise<{ app: FastifyInstance; service: RecommendationService; store: string }> {
  const service = await RecommendationService.open({ model, store });
  return { app: await createServer(service, o), service, store };
}

const json = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) => ({
  method,
  url,
  ...(payload !== undefined ? { payload: JSON.stringify(payload), headers: { 'content-type': 'application/json', ...headers } } : { headers }),
});

describe('lmrec serve', () => {
  it('answers as the library does: user and anonymous recommendations, filters, similar, candidates', async () => {
    const { app } = await start();
    try {
      const r = await app.inject(json('GET', '/v1/users/u5/recommendations?k=5'));
      expect(r.statusCode).toBe(200);
      const want = reference.recommend({ user: 'u5', k: 5 });
      expect(r.json()).toEqual({ items: want.items.map((x) => ({ id: x.id, score: expect.closeTo(x.score, 5) })), fallback: null, ignored: 0 });
      const c3 = (await app.inject(json('GET', '/v1/users/u5/recommendations?k=5&category=c3'))).json() as { items: { id: string }[] };
      expect(c3.items.length).toBeGreaterThan(0);
      for (const x of c3.items) expect(reference.item(x.id)!.fields.category).toBe('c3');
      const seen = new Set(data.events.filter((e) => e.user === 'u5').map((e) => e.item));
      const all = (await app.inject(json('GET', '/v1/users/u5/recommendations?k=100&exclude_seen=false'))).json() as { items: { id: string }[] };
      expect(all.items.some((x) => seen.has(x.id))).toBe(true);
      // an unknown user is a cold start: popular items, said so
      const cold = (await app.inject(json('GET', '/v1/users/nobody/recommendations?k=3'))).json() as { fallback: string; items: unknown[] };
      expect(cold).toMatchObject({ fallback: 'popularity' });
      expect(cold.items).toHaveLength(3);
      const anon = await app.inject(json('POST', '/v1/recommend', { history: ['i3', 'i17', 'unknown'], k: 4 }));
      expect(anon.json()).toMatchObject({ fallback: null, ignored: 1 });
      expect((anon.json() as { items: { id: string }[] }).items.map((x) => x.id)).toEqual(reference.recommend({ history: ['i3', 'i17'], k: 4 }).items.map((x) => x.id));
      const sim = (await app.inject(json('GET', '/v1/items/i3/similar?k=4'))).json() as { items: { id: string }[] };
      expect(sim.items.map((x) => x.id)).toEqual(reference.similar('i3', { k: 4 }).map((x) => x.id));
      const cand = (await app.inject(json('POST', '/v1/candidates', { history: ['i3', 'i17'], n: 7 }))).json() as { candidates: { id: string; rank: number }[] };
      expect(cand.candidates.map((x) => x.rank)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect((await app.inject(json('GET', '/v1/items/i3'))).json()).toEqual({ id: 'i3', fields: reference.item('i3')!.fields });
    } finally {
      await app.close();
    }
  });

  it('with the LM stage (--rerank): every recommendation is Recommender.rerank with the tuned model; bad settings refused before it loads', async () => {
    const items = path.join(dir, 'items.jsonl');
    const events = path.join(dir, 'events.jsonl');
    const full = path.join(dir, 'lm-full');
    const tuned = path.join(dir, 'lm-tuned');
    await pretrain({ dim: 32, layers: 4, heads: 2, kvHeads: 1, ffn: 64, vocabSize: 300, context: 96, batchTokens: 1024, threads: 1, items, events, out: full, steps: 20, lr: 1e-2 });
    await pretrain({ items, events, out: tuned, model: full, localLayers: 2, freezeLayers: 2, steps: 10, lr: 1e-2, threads: 1 });
    const settings = { weight: 0.5, candidates: 20, events: 6 };
    const service = await RecommendationService.open({ model, store: path.join(dir, `store-${++stores}.db`), rerank: { model: tuned, ...settings } });
    const app = await createServer(service);
    const ranker = await LmRanker.load(tuned, [...reference.listItems()], { threads: 1 });
    try {
      const stage = { model: ranker, ...settings };
      const want = await reference.rerank({ user: 'u5', k: 5 }, stage);
      expect(want.items.map((x) => x.id)).not.toEqual(reference.recommend({ user: 'u5', k: 5 }).items.map((x) => x.id)); // the stage changes the answer
      const got = (await app.inject(json('GET', '/v1/users/u5/recommendations?k=5'))).json() as { items: { id: string; score: number }[] };
      expect(got).toEqual({ items: want.items.map((x) => ({ id: x.id, score: expect.closeTo(x.score, 4) })), fallback: null, ignored: 0 });
      const anon = (await app.inject(json('POST', '/v1/recommend', { history: ['i3', 'i17'], k: 4 }))).json() as { items: { id: string }[] };
      expect(anon.items.map((x) => x.id)).toEqual((await reference.rerank({ history: ['i3', 'i17'], k: 4 }, stage)).items.map((x) => x.id));
      // k above the stage's candidates: the candidates grow to k
      const many = (await app.inject(json('GET', '/v1/users/u5/recommendations?k=30'))).json() as { items: { id: string }[] };
      expect(many.items.map((x) => x.id)).toEqual((await reference.rerank({ user: 'u5', k: 30 }, { ...stage, candidates: 30 })).items.map((x) => x.id));
      expect((await app.inject(json('GET', '/v1/users/nobody/recommendations?k=3'))).json()).toMatchObject({ fallback: 'popularity' });
    } finally {
      await ranker.close();
      await app.close();
    }
    const open = (rerank: object) => RecommendationService.open({ model, store: path.join(dir, `store-${++stores}.db`), rerank: rerank as never });
    await expect(open({ model: tuned, weight: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(open({ model: tuned, events: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(open({ model: full })).rejects.toMatchObject({ code: 'UNSUPPORTED' }); // not tuned for late interaction
  }, 120_000);

  it('events change histories before the reply and are replayed after a restart', async () => {
    const first = await start();
    const items = ['i1', 'i2', 'i7'];
    const r = await first.app.inject(json('POST', '/v1/events', { events: [...items.map((item) => ({ user: 'newbie', item })), { user: 'newbie', item: 'no-such-item' }] }));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ stored: 4, unknownItems: 1 });
    const before = (await first.app.inject(json('GET', '/v1/users/newbie/recommendations?k=5'))).json() as { fallback: unknown };
    expect(before.fallback).toBeNull(); // the history is there at once
    await first.service.recommender.flush(); // the SRM's background update, so both answers read one model
    const after = (await first.app.inject(json('GET', '/v1/users/newbie/recommendations?k=5'))).json() as { fallback: unknown; items: { id: string }[] };
    expect(after.items.map((x) => x.id)).toEqual(first.service.recommender.recommend({ history: items, k: 5 }).items.map((x) => x.id));
    expect((await first.app.inject(json('POST', '/v1/events', { events: [] }))).json()).toMatchObject({ stored: 0 });
    await first.app.close();
    const second = await start({}, first.store);
    try {
      expect((await second.app.inject(json('GET', '/readyz'))).statusCode).toBe(200);
      await second.service.recommender.flush(); // the same update on the same events
      const again = (await second.app.inject(json('GET', '/v1/users/newbie/recommendations?k=5'))).json() as { items: { id: string }[] };
      expect(again.items.map((x) => x.id)).toEqual(after.items.map((x) => x.id));
    } finally {
      await second.app.close();
    }
  });

  it('items: added and recommendable at once, removed from every answer, restored; the store keeps the catalog', async () => {
    const first = await start();
    const fields = { title: data.items[3]!.title, text: data.items[3]!.text, category: 'c9' };
    let r = await first.app.inject(json('PUT', '/v1/items/fresh', { fields }));
    expect(r.statusCode).toBe(201);
    expect((await first.app.inject(json('GET', '/v1/items/fresh'))).json()).toEqual({ id: 'fresh', fields });
    const only = (await first.app.inject(json('GET', '/v1/users/u5/recommendations?k=3&category=c9'))).json() as { items: { id: string }[] };
    expect(only.items.map((x) => x.id)).toEqual(['fresh']);
    expect((await first.app.inject(json('GET', '/v1/items/fresh/similar?k=3'))).statusCode).toBe(200);
    r = await first.app.inject(json('PUT', '/v1/items/fresh', { fields: { ...fields, title: 'renamed', category: 'c8' } }));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ id: 'fresh', status: 'updated' });
    // the new fields are what answers and filters read
    expect((await first.app.inject(json('GET', '/v1/items/fresh'))).json()).toMatchObject({ fields: { title: 'renamed', category: 'c8' } });
    expect(((await first.app.inject(json('GET', '/v1/users/u5/recommendations?k=3&category=c9'))).json() as { items: unknown[] }).items).toEqual([]);
    expect(((await first.app.inject(json('GET', '/v1/users/u5/recommendations?k=3&category=c8'))).json() as { items: { id: string }[] }).items.map((x) => x.id)).toEqual(['fresh']);
    expect((await first.app.inject(json('DELETE', '/v1/items/i3'))).statusCode).toBe(204);
    expect((await first.app.inject(json('DELETE', '/v1/items/i3'))).statusCode).toBe(404);
    expect((await first.app.inject(json('GET', '/v1/items/i3'))).statusCode).toBe(404);
    expect((await first.app.inject(json('GET', '/v1/items/i3/similar'))).json()).toMatchObject({ error: { code: 'UNKNOWN_ID' } });
    const without = (await first.app.inject(json('GET', '/v1/users/u5/recommendations?k=120&exclude_seen=false'))).json() as { items: { id: string }[] };
    expect(without.items.map((x) => x.id)).not.toContain('i3');
    await first.app.close();
    // the store is the catalog's truth: a restart keeps i3 out and 'fresh' in
    const second = await start({}, first.store);
    try {
      expect((await second.app.inject(json('GET', '/v1/items/i3'))).statusCode).toBe(404);
      expect((await second.app.inject(json('GET', '/v1/items/fresh'))).json()).toMatchObject({ fields: { title: 'renamed', category: 'c8' } });
      expect((await second.app.inject(json('PUT', '/v1/items/i3', { fields: reference.item('i3')!.fields }))).statusCode).toBe(201);
      const back = (await second.app.inject(json('GET', '/v1/users/u5/recommendations?k=121&exclude_seen=false'))).json() as { items: { id: string }[] };
      expect(back.items.map((x) => x.id)).toContain('i3');
    } finally {
      await second.app.close();
    }
  });

  it('faults are typed JSON errors with their status', async () => {
    const { app } = await start({ bodyLimit: 4096 });
    try {
      const bad = await app.inject({ method: 'POST', url: '/v1/recommend', payload: '{"history": [', headers: { 'content-type': 'application/json' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
      const big = await app.inject(json('POST', '/v1/recommend', { history: Array.from({ length: 900 }, (_, i) => `item-${i}`) }));
      expect(big.statusCode).toBe(413);
      expect(big.json()).toMatchObject({ error: { code: 'REQUEST_TOO_LARGE' } });
      for (const [req, code] of [
        [json('GET', '/v1/users/u5/recommendations?k=0'), 400],
        [json('GET', '/v1/users/u5/recommendations?k=ten'), 400],
        [json('GET', '/v1/users/u5/recommendations?colour=red'), 400],
        [json('POST', '/v1/candidates', { history: [] }), 400],
        [json('POST', '/v1/candidates', { history: ['i1'], n: 0 }), 400],
        [json('POST', '/v1/events', { events: [{ user: 'u1' }] }), 400],
        [json('POST', '/v1/events', { events: [{ user: '', item: 'i1' }] }), 400],
        [json('PUT', '/v1/items/x', { fields: { title: { nested: 'text' } } }), 400],
        [json('GET', '/v1/items/nope/similar'), 404],
        [json('GET', '/v2/anything'), 404],
      ] as const) {
        const r = await app.inject(req);
        expect(r.statusCode, `${req.method} ${req.url}`).toBe(code);
        expect((r.json() as { error: { code: string } }).error.code).toMatch(/^[A-Z_]+$/);
      }
    } finally {
      await app.close();
    }
  });

  it('an item over the input limits is refused by PUT with the code fit and the readers give', async () => {
    const { app } = await start();
    try {
      const long = await app.inject(json('PUT', '/v1/items/long', { fields: { title: 'x'.repeat(INPUT_LIMITS.fieldChars + 1) } }));
      expect(long.statusCode).toBeGreaterThanOrEqual(400);
      expect(long.statusCode).toBeLessThan(500);
      expect(long.json()).toMatchObject({ error: { code: 'INPUT_TOO_LONG' } });
      const fields = Object.fromEntries(Array.from({ length: INPUT_LIMITS.fields + 1 }, (_, j) => [`f${j}`, 'v']));
      expect((await app.inject(json('PUT', '/v1/items/wide', { fields }))).json()).toMatchObject({ error: { code: 'REQUEST_TOO_LARGE' } });
      expect((await app.inject(json('GET', '/v1/items/long/similar'))).statusCode).toBe(404); // nothing was added
    } finally {
      await app.close();
    }
  });

  it('request bodies are validated as sent, never coerced; query strings still parse numbers and booleans', async () => {
    const { app } = await start();
    try {
      for (const [method, url, body] of [
        ['POST', '/v1/recommend', { history: ['i3'], k: true }],
        ['POST', '/v1/recommend', { history: 'i3' }],
        ['POST', '/v1/recommend', { history: ['i3'], k: '4' }],
        ['POST', '/v1/recommend', { history: ['i3'], exclude_seen: 'false' }],
        ['POST', '/v1/recommend', { history: [3] }],
        ['POST', '/v1/candidates', { history: ['i3'], n: '5' }],
        ['POST', '/v1/events', { events: [{ user: 'u1', item: 'i1', ts: '5' }] }],
        ['POST', '/v1/events', { events: [{ user: 1, item: 'i1' }] }],
        ['POST', '/v1/events', { events: { user: 'u1', item: 'i1' } }],
        ['PUT', '/v1/items/x', { fields: { title: 5 } }],
      ] as const) {
        const r = await app.inject(json(method, url, body));
        expect(r.statusCode, JSON.stringify(body)).toBe(400);
        expect(r.json(), JSON.stringify(body)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
      }
      const r = await app.inject(json('GET', '/v1/users/u5/recommendations?k=3&exclude_seen=false'));
      expect(r.statusCode).toBe(200);
      expect((r.json() as { items: unknown[] }).items).toHaveLength(3);
      expect((await app.inject(json('POST', '/v1/recommend', { history: ['i3'], k: 2, exclude_seen: false }))).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('ids as long as the store takes work in paths; longer path parts and bad URLs are API errors', async () => {
    const { app } = await start();
    try {
      for (const user of ['u'.repeat(STORE_LIMITS.idLength), 'é'.repeat(STORE_LIMITS.idLength)]) {
        const posted = await app.inject(json('POST', '/v1/events', { events: [{ user, item: 'i3' }] }));
        expect(posted.statusCode).toBe(200);
        const r = await app.inject(json('GET', `/v1/users/${encodeURIComponent(user)}/recommendations?k=2`));
        expect(r.statusCode).toBe(200);
        expect(r.json()).toMatchObject({ fallback: null });
      }
      const long = await app.inject(json('GET', `/v1/users/${'u'.repeat(STORE_LIMITS.idLength + 1)}/recommendations`));
      expect(long.statusCode).toBe(414);
      expect(long.json()).toEqual({ error: { code: 'INPUT_TOO_LONG', message: expect.stringContaining(`${STORE_LIMITS.idLength}`) } });
      const bad = await app.inject(json('GET', '/v1/items/%E0%A4%A'));
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toEqual({ error: { code: 'INVALID_ARGUMENT', message: expect.any(String) } });
    } finally {
      await app.close();
    }
  });

  it('malformed HTTP and requests arriving while the server closes are answered in the API error shape', async () => {
    const { app, service } = await start();
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const port = Number(new URL(address).port);
    /** A connection, and everything the server sends on it until it closes. */
    const open = () => {
      const socket = connect(port, '127.0.0.1');
      let raw = '';
      socket.on('data', (d) => (raw += d));
      const ended = new Promise<string>((resolve) => socket.on('close', () => resolve(raw)));
      return { socket, ended };
    };
    const bad = open();
    bad.socket.write('NOT HTTP AT ALL\r\n\r\n');
    const malformed = await bad.ended;
    expect(malformed).toMatch(/^HTTP\/1\.1 400/);
    expect(JSON.parse(malformed.slice(malformed.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'INVALID_ARGUMENT', message: expect.any(String) } });

    // a request held in its handler keeps the connection busy; a second one sent on it after
    // the close began is refused, in order, after the first is answered
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const recommendForUser = service.recommendForUser.bind(service);
    service.recommendForUser = async (...args) => {
      entered();
      await released;
      return recommendForUser(...args);
    };
    const get = (url: string) => `GET ${url} HTTP/1.1\r\nhost: localhost\r\n\r\n`;
    const { socket, ended } = open();
    socket.write(get('/v1/users/u5/recommendations?k=2'));
    await inHandler;
    const closed = app.close();
    while (app.server.listening) await new Promise((resolve) => setTimeout(resolve, 5));
    socket.write(get('/v1/users/u6/recommendations?k=2'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    await closed;
    const answers = (await ended).split(/(?=HTTP\/1\.1 )/);
    expect(answers.map((a) => Number(a.split(' ')[1]))).toEqual([200, 503]);
    expect(JSON.parse(answers[1]!.slice(answers[1]!.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'CLOSED', message: expect.any(String) } });
  });

  it('a bearer token guards every route but the health checks; a rate limit answers 429', async () => {
    const { app } = await start({ token: 's3cret', rateLimit: 5 });
    try {
      expect((await app.inject(json('GET', '/healthz'))).statusCode).toBe(200);
      expect((await app.inject(json('GET', '/v1/users/u5/recommendations'))).statusCode).toBe(401);
      expect((await app.inject(json('GET', '/v1/users/u5/recommendations', undefined, { authorization: 'Bearer wrong' }))).statusCode).toBe(401);
      const ok = { authorization: 'Bearer s3cret' };
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push((await app.inject(json('GET', '/v1/users/u5/recommendations', undefined, ok))).statusCode);
      expect(codes.filter((c) => c === 200).length).toBeGreaterThan(0);
      expect(codes.at(-1)).toBe(429);
      expect((await app.inject(json('GET', '/healthz'))).statusCode).toBe(200); // never limited
    } finally {
      await app.close();
    }
  });

  it('metrics in Prometheus text and an OpenAPI document of every route', async () => {
    const { app } = await start();
    try {
      await app.inject(json('GET', '/v1/users/u5/recommendations'));
      const m = await app.inject(json('GET', '/metrics'));
      expect(m.headers['content-type']).toContain('text/plain');
      expect(m.body).toMatch(/lmrec_http_requests_total\{route="\/v1\/users\/:id\/recommendations",method="GET",status="200"\} 1/);
      expect(m.body).toMatch(/lmrec_http_request_duration_seconds_bucket/);
      expect(m.body).toMatch(/lmrec_index_items 120/);
      expect(m.body).toMatch(/lmrec_srm_update_lag_seconds/);
      expect(m.body).toMatch(/lmrec_index_partitions 1\n/); // 120 items: the exact index
      expect(Number(/^lmrec_index_bytes (\S+)/m.exec(m.body)?.[1])).toBeGreaterThan(120 * 16);
      const inUse = Number(/^lmrec_native_heap_in_use_bytes (\S+)/m.exec(m.body)?.[1]);
      const held = Number(/^lmrec_native_heap_held_bytes (\S+)/m.exec(m.body)?.[1]);
      expect(inUse === -1 || (inUse > 0 && held >= inUse)).toBe(true);
      const doc = (await app.inject(json('GET', '/openapi.json'))).json() as { openapi: string; paths: Record<string, unknown> };
      expect(doc.openapi).toMatch(/^3\./);
      for (const p of ['/v1/users/{id}/recommendations', '/v1/recommend', '/v1/items/{id}/similar', '/v1/events', '/v1/items/{id}', '/v1/candidates']) expect(doc.paths).toHaveProperty([p]);
    } finally {
      await app.close();
    }
  });

  it('shutting down under load answers every request it took and keeps every stored event', async () => {
    const { app, store } = await start();
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const sent = Array.from({ length: 60 }, (_, i) =>
      fetch(`${address}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events: [{ user: 'loaded', item: `i${i % 100}` }] }) }).then(
        async (r) => ({ status: r.status, body: (await r.json()) as { stored?: number } }),
        (e: Error) => ({ status: 0, body: { error: e.message } }),
      ),
    );
    await Promise.race(sent); // the server is busy with the rest
    await app.close();
    const replies = await Promise.all(sent);
    // each request was answered (stored, or refused as the server closed), none dropped mid-way
    for (const r of replies) expect([200, 503, 0]).toContain(r.status);
    const stored = replies.filter((r) => r.status === 200).length;
    expect(stored).toBeGreaterThan(0);
    const again = await start({}, store);
    try {
      const s = await again.service.stats();
      expect(s.appliedSeq).toBe(stored); // every acknowledged event is in the log, and nothing else
    } finally {
      await again.app.close();
    }
  });
});
