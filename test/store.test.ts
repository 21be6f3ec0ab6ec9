/**
 * The service's store: one behavioural suite run against SQLite (always) and PostgreSQL (a
 * throwaway cluster, LMREC_TEST_PG, or skipped with a message; see helpers/postgres.ts), then
 * what only one backend has: SQLite's files, PostgreSQL's replicas, concurrency and restarts.
 */
import { mkdtempSync, openSync, rmSync, statSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LmrecError } from '../src/errors.js';
import { openStore } from '../src/serve/store/open-store.js';
import { CATALOG_CHANGE, isCatalogChange, STORE_LIMITS, type Store, type StoreOptions } from '../src/serve/store/store.js';
import { rejection } from './helpers/errors.js';
import { postgresSource, startTestPostgres, type TestPostgres } from './helpers/postgres.js';

const pgSource = postgresSource();
let server: TestPostgres | undefined;
const tmp = mkdtempSync(path.join(tmpdir(), 'lmrec-store-'));
let files = 0;

beforeAll(async () => {
  if (pgSource) server = await startTestPostgres(pgSource);
});
afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

// every store a test opens is closed after it, whatever the test did
const open: Store[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** Background errors a store reported, instead of warnings on the console. */
function quietOptions(errors: LmrecError[] = []): StoreOptions {
  return { onError: (e) => errors.push(e), pollMs: 20 };
}

async function track(store: Promise<Store>): Promise<Store> {
  const s = await store;
  open.push(s);
  return s;
}

/** Resolves once `check` holds, polling; fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The seqs a store's onEvents listener was called with. */
function listen(store: Store): number[] {
  const calls: number[] = [];
  store.onEvents((seq) => calls.push(seq));
  return calls;
}

/** UTF-8 byte order, the order items() pages in. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const backends = [
  { kind: 'sqlite', skip: false, location: async () => path.join(tmp, `store-${files++}.db`) },
  { kind: 'postgres', skip: !pgSource, location: async () => server!.database() },
] as const;

for (const backend of backends) {
  describe.skipIf(backend.skip)(`store (${backend.kind})`, () => {
    const fresh = async (errors?: LmrecError[]): Promise<Store> => track(openStore(await backend.location(), quietOptions(errors)));

    it('appends events and reads histories and the log back', async () => {
      const store = await fresh();
      expect(store.kind).toBe(backend.kind);
      expect(await store.lastSeq()).toBe(0);
      expect(await store.eventsSince(0, 10)).toEqual([]);
      expect(await store.history('a')).toEqual([]);
      expect(await store.appendEvents([])).toEqual([]);

      const before = Date.now();
      const stored = await store.appendEvents([
        { user: 'a', item: 'x', ts: 100 },
        { user: 'b', item: 'y', ts: 101.5 },
        { user: 'a', item: 'y' },
        { user: 'a', item: 'z', ts: 50 }, // older than the rest: histories still follow arrival
      ]);
      const seqs = stored.map((e) => e.seq);
      expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
      expect(stored.map((e) => [e.user, e.item])).toEqual([['a', 'x'], ['b', 'y'], ['a', 'y'], ['a', 'z']]);
      expect(stored[1]!.ts).toBe(101.5);
      expect(stored[2]!.ts).toBeGreaterThanOrEqual(before);
      expect(stored[2]!.ts).toBeLessThanOrEqual(Date.now());
      const more = await store.appendEvents([{ user: 'b', item: 'x', ts: 7 }]);

      expect(await store.lastSeq()).toBe(more[0]!.seq);
      expect(await store.history('a')).toEqual(['x', 'y', 'z']);
      expect(await store.history('a', 2)).toEqual(['y', 'z']);
      expect(await store.history('b')).toEqual(['y', 'x']);
      expect(await store.history('nobody')).toEqual([]);
      expect(await store.eventsSince(0, 100)).toEqual([...stored, ...more]);
      expect(await store.eventsSince(seqs[1]!, 2)).toEqual(stored.slice(2, 4));
      expect(await store.eventsSince(more[0]!.seq, 10)).toEqual([]);
    });

    it('refuses bad events and limits with typed errors, storing nothing of a bad batch', async () => {
      const store = await fresh();
      await store.appendEvents([{ user: 'a', item: 'x' }]);
      const cases: [unknown, string][] = [
        [[{ user: '', item: 'x' }], 'INVALID_ARGUMENT'],
        [[{ user: 'a', item: 7 }], 'INVALID_ARGUMENT'],
        [[{ user: 'a' }], 'INVALID_ARGUMENT'],
        [[null], 'INVALID_ARGUMENT'],
        [{ user: 'a', item: 'x' }, 'INVALID_ARGUMENT'],
        [[{ user: 'a', item: 'x', ts: '5' }], 'INVALID_ARGUMENT'],
        [[{ user: 'a', item: 'x', ts: Number.NaN }], 'NON_FINITE'],
        [[{ user: 'a', item: 'x', ts: Infinity }], 'NON_FINITE'],
        [[{ user: 'a\0b', item: 'x' }], 'INVALID_ARGUMENT'],
        [[{ user: 'a', item: 'x\uD800' }], 'INVALID_ARGUMENT'],
        [[{ user: 'u'.repeat(STORE_LIMITS.idLength + 1), item: 'x' }], 'INPUT_TOO_LONG'],
        [Array.from({ length: STORE_LIMITS.batch + 1 }, () => ({ user: 'a', item: 'x' })), 'REQUEST_TOO_LARGE'],
        // a good first half does not get in when the second is bad
        [[{ user: 'a', item: 'good' }, { user: 'a', item: '' }], 'INVALID_ARGUMENT'],
      ];
      for (const [events, code] of cases) {
        expect((await rejection(store.appendEvents(events as never))).code, JSON.stringify(events).slice(0, 80)).toBe(code);
      }
      expect(await store.history('a')).toEqual(['x']);
      expect(await store.lastSeq()).toBe(1);

      expect((await rejection(store.history(''))).code).toBe('INVALID_ARGUMENT');
      expect((await rejection(store.history(5 as never))).code).toBe('INVALID_ARGUMENT');
      for (const limit of [0, -1, 1.5, Number.NaN, '3']) {
        expect((await rejection(store.history('a', limit as never))).code).toBe('INVALID_ARGUMENT');
        expect((await rejection(store.eventsSince(0, limit as never))).code).toBe('INVALID_ARGUMENT');
      }
      expect((await rejection(store.history('a', STORE_LIMITS.read + 1))).code).toBe('REQUEST_TOO_LARGE');
      expect((await rejection(store.eventsSince(0, STORE_LIMITS.read + 1))).code).toBe('REQUEST_TOO_LARGE');
      for (const seq of [-1, 0.5, Number.NaN, '0', 2 ** 60]) {
        expect((await rejection(store.eventsSince(seq as never, 10))).code).toBe('INVALID_ARGUMENT');
      }
      // a position this store never handed out: the reader follows another (or a reset) store
      expect((await rejection(store.eventsSince(2, 10))).code).toBe('UNKNOWN_ID');
      expect((await rejection(store.eventsSince(1_000_000, 10))).code).toBe('UNKNOWN_ID');
    });

    it('puts, updates, deletes and pages items by id', async () => {
      const store = await fresh();
      expect(await store.putItem({ id: 'i1', fields: { title: 'Lip gloss', category: 'beauty' } })).toBe('created');
      expect(await store.putItem({ id: 'i1', fields: { title: 'Lipstick' } })).toBe('updated');
      expect(await store.item('i1')).toEqual({ id: 'i1', fields: { title: 'Lipstick' } });
      expect(await store.item('nope')).toBeUndefined();
      expect(await store.deleteItem('i1')).toBe(true);
      expect(await store.deleteItem('i1')).toBe(false);
      expect(await store.item('i1')).toBeUndefined();
      expect(await store.putItem({ id: 'i1', fields: {} })).toBe('created');
      expect(await store.item('i1')).toEqual({ id: 'i1', fields: {} });

      // mixed case, digits, accents, emoji and quoting: one order on both backends
      const ids = ['i1', 'B', 'a', 'é', 'e', '10', '9', 'Z', '😀', "o'neil", 'x y', ...Array.from({ length: 14 }, (_, i) => `item-${i}`)];
      for (const id of ids.slice(1)) await store.putItem({ id, fields: { name: `the ${id}`, quote: '"\'\\' } });
      const pages: string[][] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.items(after, 10);
        if (page.length === 0) break;
        pages.push(page.map((p) => p.id));
        after = page[page.length - 1]!.id;
      }
      expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
      expect(pages.flat()).toEqual([...ids].sort(byteOrder));
      expect((await store.items('item-5', 1))[0]).toEqual({ id: 'item-6', fields: { name: 'the item-6', quote: '"\'\\' } });
      expect(await store.items('😀', 10)).toEqual([]);
    });

    it('refuses bad items with typed errors', async () => {
      const store = await fresh();
      const manyFields = Object.fromEntries(Array.from({ length: STORE_LIMITS.fields + 1 }, (_, i) => [`f${i}`, 'v']));
      const cases: [unknown, string][] = [
        [{ id: '', fields: {} }, 'INVALID_ARGUMENT'],
        [{ id: 5, fields: {} }, 'INVALID_ARGUMENT'],
        [{ id: 'a' }, 'INVALID_ARGUMENT'],
        [{ id: 'a', fields: ['x'] }, 'INVALID_ARGUMENT'],
        [{ id: 'a', fields: { price: 5 } }, 'INVALID_ARGUMENT'],
        [{ id: 'a', fields: { tags: ['x'] } }, 'INVALID_ARGUMENT'],
        [{ id: 'a', fields: { '': 'x' } }, 'INVALID_ARGUMENT'],
        [{ id: 'a', fields: { t: 'x\0' } }, 'INVALID_ARGUMENT'],
        [{ id: 'a', fields: manyFields }, 'REQUEST_TOO_LARGE'],
        [{ id: 'a', fields: { text: 'w'.repeat(STORE_LIMITS.fieldChars) } }, 'INPUT_TOO_LONG'],
        [null, 'INVALID_ARGUMENT'],
      ];
      for (const [item, code] of cases) {
        expect((await rejection(store.putItem(item as never))).code, JSON.stringify(item)?.slice(0, 80)).toBe(code);
      }
      expect((await rejection(store.item(''))).code).toBe('INVALID_ARGUMENT');
      expect((await rejection(store.deleteItem(undefined as never))).code).toBe('INVALID_ARGUMENT');
      expect((await rejection(store.items(5 as never, 10))).code).toBe('INVALID_ARGUMENT');
      expect((await rejection(store.items(undefined, 0))).code).toBe('INVALID_ARGUMENT');
      expect((await rejection(store.items(undefined, STORE_LIMITS.read + 1))).code).toBe('REQUEST_TOO_LARGE');
      expect(await store.items(undefined, 10)).toEqual([]);
    });

    it('tells listeners about appends; a throwing listener is reported, not fatal', async () => {
      const errors: LmrecError[] = [];
      const store = await fresh(errors);
      const calls = listen(store);
      const removed: number[] = [];
      const remove = store.onEvents((seq) => removed.push(seq));
      store.onEvents(() => {
        throw new Error('consumer bug');
      });
      const first = await store.appendEvents([{ user: 'a', item: 'x' }, { user: 'a', item: 'y' }]);
      await until(() => calls.includes(first[1]!.seq));
      remove();
      const second = await store.appendEvents([{ user: 'b', item: 'x' }]);
      await until(() => calls.includes(second[0]!.seq));
      expect(removed.includes(second[0]!.seq)).toBe(false);
      expect(errors.some((e) => e.code === 'INTERNAL' && /consumer bug/.test(e.message))).toBe(true);
      expect(() => store.onEvents('no' as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    });

    it('imports a new store\'s catalog all at once, or not at all', async () => {
      const store = await fresh();
      const catalog = Array.from({ length: 30 }, (_, i) => ({ id: `c${String(i).padStart(2, '0')}`, fields: { title: `item ${i}` } }));
      // a bad item anywhere: typed error, and nothing written
      expect((await rejection(store.importCatalog([...catalog, { id: '', fields: {} }]))).code).toBe('INVALID_ARGUMENT');
      expect(await store.items(undefined, 100)).toEqual([]);
      expect(await store.importCatalog(catalog)).toBe(true);
      expect(await store.items(undefined, 100)).toEqual(catalog);
      // a store with items is not a new store: the second import writes nothing
      await store.deleteItem('c00');
      expect(await store.importCatalog(catalog)).toBe(false);
      expect((await store.items(undefined, 100)).map((it) => it.id)).toEqual(catalog.slice(1).map((it) => it.id));
      // two stores on one database importing together: exactly one does
      const location = await backend.location();
      const [a, b] = await Promise.all([track(openStore(location, quietOptions())), track(openStore(location, quietOptions()))]);
      const both = await Promise.all([a.importCatalog(catalog), b.importCatalog(catalog)]);
      expect(both.filter(Boolean)).toHaveLength(1);
      expect(await a.items(undefined, 100)).toEqual(catalog);
    });

    it('two stores on one database see each other, and their listeners wake', async () => {
      const location = await backend.location();
      const a = await track(openStore(location, quietOptions()));
      const b = await track(openStore(location, quietOptions()));
      const calls = listen(b);
      if (backend.kind === 'postgres') await until(() => calls.length > 0); // LISTEN is in effect
      const written = await a.appendEvents([{ user: 'u', item: 'i1' }, { user: 'u', item: 'i2' }]);
      await a.putItem({ id: 'i1', fields: { title: 'one' } });
      // the put is an entry of the same log, after the events: other replicas learn of it in order
      await until(() => calls.includes(written[1]!.seq + 1));
      const log = await b.eventsSince(0, 10);
      expect(log.slice(0, 2)).toEqual(written);
      expect(log[2]).toMatchObject({ seq: written[1]!.seq + 1, user: CATALOG_CHANGE, item: 'i1' });
      expect(log.map(isCatalogChange)).toEqual([false, false, true]);
      expect(await b.deleteItem('nope')).toBe(false); // nothing deleted, nothing logged
      expect(await b.deleteItem('i1')).toBe(true);
      expect((await a.eventsSince(written[1]!.seq + 1, 10)).map((e) => [e.user, e.item])).toEqual([[CATALOG_CHANGE, 'i1']]);
      await b.putItem({ id: 'i1', fields: { title: 'one' } });
      expect(await b.history('u')).toEqual(['i1', 'i2']);
      expect(await b.item('i1')).toEqual({ id: 'i1', fields: { title: 'one' } });
      const more = await b.appendEvents([{ user: 'u', item: 'i3' }]);
      expect(await a.history('u')).toEqual(['i1', 'i2', 'i3']);
      expect(await a.lastSeq()).toBe(more[0]!.seq);
    });

    it('refuses every call once closed', async () => {
      const store = await fresh();
      await store.close();
      await store.close();
      expect((await rejection(store.appendEvents([{ user: 'a', item: 'x' }]))).code).toBe('CLOSED');
      expect((await rejection(store.history('a'))).code).toBe('CLOSED');
      expect((await rejection(store.eventsSince(0, 1))).code).toBe('CLOSED');
      expect((await rejection(store.lastSeq())).code).toBe('CLOSED');
      expect((await rejection(store.item('a'))).code).toBe('CLOSED');
      expect((await rejection(store.items(undefined, 1))).code).toBe('CLOSED');
      expect(() => store.onEvents(() => undefined)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    });
  });
}

describe('store (sqlite files)', () => {
  const file = (): string => path.join(tmp, `store-${files++}.db`);

  it('refuses bad locations and options with typed errors', async () => {
    expect((await rejection(openStore(''))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(openStore(7 as never))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(openStore(path.join(tmp, 'no-such-folder', 'x.db')))).code).toBe('IO_ERROR');
    expect((await rejection(openStore(tmp))).code).toBe('IO_ERROR'); // a folder
    expect((await rejection(openStore(file(), { poolSize: 0 }))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(openStore(file(), { nonsense: 1 } as never))).code).toBe('INVALID_ARGUMENT');
  });

  it('writes in WAL mode and refuses a schema version from the future', async () => {
    const f = file();
    await (await openStore(f)).close();
    const db = new Database(f);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    db.pragma('user_version = 99');
    db.close();
    const e = await rejection(openStore(f));
    expect(e.code).toBe('UNSUPPORTED_VERSION');
    expect(e.message).toMatch(/99/);
  });

  it('refuses a damaged file with CORRUPT_FILE instead of crashing', async () => {
    const garbage = file();
    writeFileSync(garbage, Buffer.alloc(8192, 0x5a));
    expect((await rejection(openStore(garbage))).code).toBe('CORRUPT_FILE');

    // a real store whose pages after the first (the tables' own) are overwritten
    const damaged = file();
    const store = await openStore(damaged);
    await store.appendEvents(Array.from({ length: 500 }, (_, i) => ({ user: `u${i % 7}`, item: `item-${i}` })));
    await store.putItem({ id: 'a', fields: { t: 'x' } });
    await store.close(); // checkpoints the WAL into the file
    const size = statSync(damaged).size;
    expect(size).toBeGreaterThan(4096);
    const fd = openSync(damaged, 'r+');
    writeSync(fd, Buffer.alloc(size - 4096, 0xa5), 0, size - 4096, 4096);
    closeSync(fd);
    expect((await rejection(openStore(damaged))).code).toBe('CORRUPT_FILE');
  });

  it('answers BUSY when another connection holds the write lock past the busy timeout', async () => {
    const f = file();
    const store = await track(openStore(f, { busyTimeoutMs: 50 }));
    const other = new Database(f);
    other.exec('BEGIN IMMEDIATE');
    try {
      expect((await rejection(store.appendEvents([{ user: 'a', item: 'x' }]))).code).toBe('BUSY');
      expect(await store.history('a')).toEqual([]); // readers are not blocked in WAL mode
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect((await store.appendEvents([{ user: 'a', item: 'x' }])).length).toBe(1);
  });
});

describe.skipIf(!pgSource)('store (postgres replicas)', () => {
  it('creates the schema once when replicas start together, and refuses one from the future', async () => {
    const url = await server!.database();
    const stores = await Promise.all([1, 2, 3].map(() => track(openStore(url, quietOptions()))));
    await stores[0]!.appendEvents([{ user: 'a', item: 'x' }]);
    expect(await stores[2]!.history('a')).toEqual(['x']);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query("UPDATE lmrec_meta SET value = '99' WHERE key = 'schema_version'");
    await client.end();
    const e = await rejection(openStore(url, quietOptions()));
    expect(e.code).toBe('UNSUPPORTED_VERSION');
    expect(e.message).toMatch(/99/);
  });

  it('answers IO_ERROR for a server that is not there, without the password', async () => {
    const e = await rejection(openStore('postgresql://lmrec:sekret@127.0.0.1:1/x', { connectTimeoutMs: 2_000 }));
    expect(e.code).toBe('IO_ERROR');
    expect(e.message).not.toMatch(/sekret/);
    expect((await rejection(openStore('postgres://u:p@[::1'))).code).toBe('INVALID_ARGUMENT');
  });

  it('loses no event to concurrent appends from two pools: seqs commit in order', async () => {
    const url = await server!.database();
    const open3 = (): Promise<Store> => track(openStore(url, { ...quietOptions(), poolSize: 8 }));
    const [a, b, reader] = [await open3(), await open3(), await open3()];
    const writers = 2 * 40;
    const perBatch = 3;
    const seen: number[] = [];
    let done = false;
    // a follower that moves its position to the newest seq it reads, as a replica does: if a
    // lower seq committed after a higher one, it would be skipped for ever
    const follow = (async () => {
      let position = 0;
      while (!done || position < (await reader.lastSeq())) {
        const batch = await reader.eventsSince(position, 1_000);
        for (const e of batch) seen.push(e.seq);
        position = batch.length ? batch[batch.length - 1]!.seq : position;
      }
    })();
    const written = await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        (w % 2 ? a : b).appendEvents(Array.from({ length: perBatch }, (_, k) => ({ user: `w${w}`, item: `i${k}` }))),
      ),
    );
    done = true;
    await follow;
    const all = written.flat().map((e) => e.seq).sort((x, y) => x - y);
    expect(all.length).toBe(writers * perBatch);
    expect(seen).toEqual(all);
    for (let w = 0; w < writers; w++) expect(await reader.history(`w${w}`)).toEqual(['i0', 'i1', 'i2']);
  });

  it('keeps listening through a server restart, and the listener catches up', async (ctx) => {
    if (!server!.restart) ctx.skip(); // LMREC_TEST_PG's server is not ours to restart
    const url = await server!.database();
    const errors: LmrecError[] = [];
    const writer = await track(openStore(url, quietOptions()));
    const replica = await track(openStore(url, { ...quietOptions(errors), maxReconnectDelayMs: 200 }));
    const calls = listen(replica);
    await until(() => calls.length > 0);
    const before = await writer.appendEvents([{ user: 'a', item: 'before' }]);
    await until(() => calls.includes(before[0]!.seq));

    await server!.restart!();
    // the writer's pool replaces its dropped connections; the replica's LISTEN is still retrying
    let after: Awaited<ReturnType<Store['appendEvents']>> | undefined;
    await until(async () => {
      after = await writer.appendEvents([{ user: 'a', item: 'after' }]).catch(() => undefined);
      return after !== undefined;
    });
    await until(() => calls.some((s) => s >= after![0]!.seq));
    expect((await replica.eventsSince(before[0]!.seq, 10)).map((e) => e.item)).toEqual(['after']);
    expect(errors.some((e) => /notification connection dropped/.test(e.message))).toBe(true);

    // and it still hears appends made once it is back
    const later = await writer.appendEvents([{ user: 'a', item: 'later' }]);
    await until(() => calls.includes(later[0]!.seq));
    expect(await replica.history('a')).toEqual(['before', 'after', 'later']);
  });
});
