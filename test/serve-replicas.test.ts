/**
 * Several `lmrec serve` replicas on one PostgreSQL, each a process of its own on loopback:
 * events sent to one reach the other's histories (LISTEN/NOTIFY wakes it, the events table is
 * the log), and so do items put and deleted through it; a replica killed with kill -9 while events arrive and started again catches up on
 * every event acknowledged meanwhile; the database restarted under load loses no acknowledged
 * event (requests during the restart are refused with 503, not answered wrongly).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildServer, type ChildServer } from '../src/serve/child-server.js';
import { postgresSource, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { fitServedModel } from './helpers/served-model.js';

const source = postgresSource();
// the CLI from its sources (tsx, as the tests run them): no build needed first
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-replicas-'));
let model: string;
let pg: TestPostgres;
const replicas: ChildProcess[] = [];

type Replica = ChildServer;

async function replica(store: string): Promise<Replica> {
  const r = await startChildServer({ cli, model, store, nodeArgs: ['--import', 'tsx'] });
  replicas.push(r.child);
  return r;
}

/** Posts events; the status and, when stored, the log position of the last one. */
const post = (r: Replica, events: { user: string; item: string }[]) =>
  fetch(`${r.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) }).then(
    async (res) => ({ status: res.status, seq: res.status === 200 ? ((await res.json()) as { seq: number }).seq : 0 }),
    () => ({ status: 0, seq: 0 }),
  );

async function appliedSeq(r: Replica): Promise<number> {
  const text = await (await fetch(`${r.url}/metrics`)).text();
  return Number(/^lmrec_events_applied_seq (\d+)/m.exec(text)![1]);
}

/** Polls until `ok` holds (replicas converge asynchronously). */
async function eventually(ok: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('timed out waiting for the replicas to converge');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!source)('replicas on PostgreSQL', () => {
  beforeAll(async () => {
    ({ model } = await fitServedModel(dir));
    pg = await startTestPostgres(source!);
  }, 180_000);
  afterAll(async () => {
    for (const c of replicas) c.kill('SIGKILL');
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('events fan out to every replica; a replica killed with kill -9 catches up on what it missed', async () => {
    const store = await pg.database();
    const a = await replica(store);
    let b = await replica(store);
    expect((await post(a, [{ user: 'wanderer', item: 'i1' }, { user: 'wanderer', item: 'i2' }])).status).toBe(200);
    // b learns of them from the database, not from a
    await eventually(async () => {
      const r = (await (await fetch(`${b.url}/v1/users/wanderer/recommendations?k=3`)).json()) as { fallback: unknown };
      return r.fallback === null;
    });
    // item changes travel the same log: an item put on a is recommended by b, then removed from it
    const put = await fetch(`${a.url}/v1/items/late-arrival`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fields: { title: 'kalo mine', category: 'c77' } }) });
    expect(put.status).toBe(201);
    const inCategory = async () => ((await (await fetch(`${b.url}/v1/users/wanderer/recommendations?k=3&category=c77`)).json()) as { items: { id: string }[] }).items.map((x) => x.id);
    await eventually(async () => (await inCategory()).includes('late-arrival'));
    expect((await fetch(`${a.url}/v1/items/late-arrival`, { method: 'DELETE' })).status).toBe(204);
    await eventually(async () => (await fetch(`${b.url}/v1/items/late-arrival`)).status === 404);
    expect(await inCategory()).toEqual([]);
    let acknowledged = 2;
    let lastSeq = await appliedSeq(a);
    const sending = (async () => {
      for (let i = 0; i < 150; i++) {
        const r = await post(a, [{ user: `busy${i % 7}`, item: `i${i % 100}` }]);
        if (r.status === 200) (acknowledged++, (lastSeq = Math.max(lastSeq, r.seq)));
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    b.child.kill('SIGKILL');
    await sending;
    b = await replica(store);
    expect(acknowledged).toBe(152); // a only lost its peer: every post was stored
    await eventually(async () => (await appliedSeq(b)) >= lastSeq && (await appliedSeq(a)) >= lastSeq);
    // one log, contiguous here: both replicas applied exactly the acknowledged events
    expect(await appliedSeq(a)).toBe(lastSeq);
    expect(await appliedSeq(b)).toBe(lastSeq);
    for (const r of [a, b]) r.child.kill('SIGTERM');
  }, 60_000);

  it.skipIf(!('bin' in (source ?? {})))('a database restarted under load loses no acknowledged event', async () => {
    const store = await pg.database();
    const a = await replica(store);
    const statuses: number[] = [];
    let lastSeq = 0;
    const sending = (async () => {
      const end = Date.now() + 30_000;
      // until 150 are acknowledged: the restart's length does not decide the test
      for (let i = 0; statuses.filter((x) => x === 200).length < 150 && Date.now() < end; i++) {
        const r = await post(a, [{ user: `r${i % 5}`, item: `i${i % 100}` }]);
        statuses.push(r.status);
        lastSeq = Math.max(lastSeq, r.seq);
        await new Promise((res) => setTimeout(res, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    await pg.restart!();
    await sending;
    // refused while the database was down, never answered wrongly
    for (const s of statuses) expect([200, 503]).toContain(s);
    expect(statuses.filter((x) => x === 200).length).toBe(150);
    // every acknowledged event is in the log and applied (a refused append may leave a gap in seq)
    await eventually(async () => (await appliedSeq(a)) >= lastSeq);
    a.child.kill('SIGTERM');
  }, 60_000);
});
