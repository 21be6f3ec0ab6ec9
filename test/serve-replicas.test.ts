/**
 * Several `lmrec serve` replicas on one PostgreSQL, each a process of its own on loopback:
 * events sent to one reach the other's histories (LISTEN/NOTIFY wakes it, the events table is
 * the log); a replica killed with kill -9 while events arrive and started again catches up on
 * every event acknowledged meanwhile; the database restarted under load loses no acknowledged
 * event (requests during the restart are refused with 503, not answered wrongly).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresSource, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { fitServedModel } from './helpers/served-model.js';

const source = postgresSource();
// the CLI from its sources (tsx, as the tests run them): no build needed first
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-replicas-'));
let model: string;
let pg: TestPostgres;
const replicas: ChildProcess[] = [];

interface Replica {
  child: ChildProcess;
  url: string;
}

async function replica(store: string): Promise<Replica> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--model', model, '--store', store, '--port', '0', '--log-level', 'silent'], { stdio: ['ignore', 'ignore', 'pipe'] });
  replicas.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /at (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`the replica exited (${code}): ${err}`)));
  });
  return { child, url };
}

const post = (r: Replica, events: { user: string; item: string }[]) =>
  fetch(`${r.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) }).then(
    (res) => res.status,
    () => 0,
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
    expect(await post(a, [{ user: 'wanderer', item: 'i1' }, { user: 'wanderer', item: 'i2' }])).toBe(200);
    // b learns of them from the database, not from a
    await eventually(async () => {
      const r = (await (await fetch(`${b.url}/v1/users/wanderer/recommendations?k=3`)).json()) as { fallback: unknown };
      return r.fallback === null;
    });
    let acknowledged = 2;
    const sending = (async () => {
      for (let i = 0; i < 150; i++) if ((await post(a, [{ user: `busy${i % 7}`, item: `i${i % 100}` }])) === 200) acknowledged++;
    })();
    await new Promise((r) => setTimeout(r, 150));
    b.child.kill('SIGKILL');
    await sending;
    b = await replica(store);
    await eventually(async () => (await appliedSeq(b)) >= acknowledged && (await appliedSeq(a)) >= acknowledged);
    expect(await appliedSeq(a)).toBe(acknowledged);
    expect(await appliedSeq(b)).toBe(acknowledged);
    for (const r of [a, b]) r.child.kill('SIGTERM');
  }, 60_000);

  it.skipIf(!('bin' in (source ?? {})))('a database restarted under load loses no acknowledged event', async () => {
    const store = await pg.database();
    const a = await replica(store);
    const statuses: number[] = [];
    const sending = (async () => {
      for (let i = 0; i < 200; i++) {
        statuses.push(await post(a, [{ user: `r${i % 5}`, item: `i${i % 100}` }]));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    await pg.restart!();
    await sending;
    const acknowledged = statuses.filter((s) => s === 200).length;
    // refused while the database was down, never answered wrongly
    for (const s of statuses) expect([200, 503]).toContain(s);
    expect(acknowledged).toBeGreaterThan(100);
    await eventually(async () => (await appliedSeq(a)) >= acknowledged);
    expect(await appliedSeq(a)).toBe(acknowledged);
    a.child.kill('SIGTERM');
  }, 60_000);
});
