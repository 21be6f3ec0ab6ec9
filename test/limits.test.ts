/**
 * One set of input limits wherever data enters (src/data/limits.ts): what the service's store
 * refuses (and with it `lmrec serve`'s catalog import), the readers, Recommender.fit (files or
 * arrays), addItems and addEvents refuse too, with the same codes for the limits. A model that
 * `fit` made is always one that `serve` can import.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INPUT_LIMITS } from '../src/data/limits.js';
import { readEvents, readItems, type EventRecord, type ItemRecord } from '../src/data/records.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { LmrecErrorCode } from '../src/errors.js';
import { Recommender } from '../src/recommender/recommender.js';
import { openStore } from '../src/serve/store/open-store.js';
import { STORE_LIMITS, type Store } from '../src/serve/store/store.js';
import { rejection, thrown } from './helpers/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-limits-'));
const syn = generateSynthetic({ items: 30, users: 40, topics: 3, eventsPerUser: [3, 6], seed: 1 });
const TINY = { layer: 1, dim: 16, epochs: 1, srm: { dim: 16, maxLen: 10 } } as const;
let store: Store;
let rec: Recommender;

beforeAll(async () => {
  store = await openStore(path.join(dir, 'store.db'));
  rec = await Recommender.fit({ items: syn.items, events: syn.events, ...TINY });
}, 120_000);
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
const jsonl = (records: unknown[]) => {
  const p = path.join(dir, `${files++}.jsonl`);
  writeFileSync(p, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
};
const collect = async <T>(it: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};
const good = syn.items[0]!;
const long = (n: number) => 'w'.repeat(n);

// [what, the item, the code of data (readers, fit, addItems), the code of the store]
const BAD_ITEMS: [string, ItemRecord, LmrecErrorCode, LmrecErrorCode][] = [
  ['an id of 1,025 characters', { id: long(1_025), fields: { title: 't' } }, 'INPUT_TOO_LONG', 'INPUT_TOO_LONG'],
  ['a text of 65,536 characters (names and values pass 65,536)', { id: 'big', fields: { title: 't', text: long(65_536) } }, 'INPUT_TOO_LONG', 'INPUT_TOO_LONG'],
  ['257 fields', { id: 'wide', fields: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`f${i}`, 'v'])) }, 'REQUEST_TOO_LARGE', 'REQUEST_TOO_LARGE'],
  ['a NUL in the id', { id: 'a\0b', fields: { title: 't' } }, 'INVALID_DATA', 'INVALID_ARGUMENT'],
  ['an unpaired surrogate in the id', { id: 'a\uD800', fields: { title: 't' } }, 'INVALID_DATA', 'INVALID_ARGUMENT'],
  ['an unpaired surrogate in a value', { id: 'lone', fields: { title: 'x\uDC00y' } }, 'INVALID_DATA', 'INVALID_ARGUMENT'],
  ['a NUL in a value', { id: 'nul', fields: { title: 'x\0' } }, 'INVALID_DATA', 'INVALID_ARGUMENT'],
  ['an empty field name', { id: 'blank', fields: { title: 't', '': 'x' } }, 'INVALID_DATA', 'INVALID_ARGUMENT'],
];

const BAD_EVENTS: [string, EventRecord, LmrecErrorCode, LmrecErrorCode][] = [
  ['a user id of 1,025 characters', { user: long(1_025), item: 'i1' }, 'INPUT_TOO_LONG', 'INPUT_TOO_LONG'],
  ['an item id of 1,025 characters', { user: 'u1', item: long(1_025) }, 'INPUT_TOO_LONG', 'INPUT_TOO_LONG'],
  ['a NUL in the user id', { user: 'u\0', item: 'i1' }, 'INVALID_DATA', 'INVALID_ARGUMENT'],
  ['an unpaired surrogate in the item id', { user: 'u1', item: 'i\uD83D' }, 'INVALID_DATA', 'INVALID_ARGUMENT'],
];

describe('input limits', () => {
  it('are the store limits', () => {
    expect(STORE_LIMITS).toMatchObject(INPUT_LIMITS);
    expect(INPUT_LIMITS).toEqual({ idLength: 1_024, fields: 256, fieldChars: 65_536 });
  });

  describe.each(BAD_ITEMS)('an item with %s', (_what, bad, code, storeCode) => {
    it('is refused by the store, as `lmrec serve` imports the catalog', async () => {
      expect((await rejection(store.putItem(bad))).code).toBe(storeCode);
      expect((await rejection(store.importCatalog([good, bad]))).code).toBe(storeCode);
    });

    it('is refused by readItems, naming the file and line', async () => {
      const file = jsonl([{ id: good.id, ...good.fields }, { id: bad.id, ...bad.fields }]);
      const e = await rejection(collect(readItems(file)));
      expect(e.code).toBe(code);
      expect(e.message).toContain(`${file}:2: `);
    });

    it('is refused by Recommender.fit, from a file and from an array', async () => {
      const file = jsonl([...syn.items.map((it) => ({ id: it.id, ...it.fields })), { id: bad.id, ...bad.fields }]);
      expect((await rejection(Recommender.fit({ items: file, events: syn.events, ...TINY }))).code).toBe(code);
      expect((await rejection(Recommender.fit({ items: [...syn.items, bad], events: syn.events, ...TINY }))).code).toBe(code);
    });

    it('is refused by addItems, with the catalog unchanged', async () => {
      const before = rec.recommend({ history: [], k: 1_000 }).items.length;
      expect((await rejection(rec.addItems([{ id: 'fine', fields: { title: 'a fine item' } }, bad]))).code).toBe(code);
      expect(rec.recommend({ history: [], k: 1_000 }).items.length).toBe(before);
    });
  });

  describe.each(BAD_EVENTS)('an event with %s', (_what, bad, code, storeCode) => {
    it('is refused by the store', async () => {
      expect((await rejection(store.appendEvents([bad]))).code).toBe(storeCode);
    });

    it('is refused by readEvents, naming the file and line', async () => {
      const file = jsonl([{ user: 'u1', item: 'i1' }, bad]);
      const e = await rejection(collect(readEvents(file)));
      expect(e.code).toBe(code);
      expect(e.message).toContain(`${file}:2: `);
    });

    it('is refused by Recommender.fit, from a file and from an array', async () => {
      const events = syn.events.map(({ user, item }) => ({ user, item }));
      expect((await rejection(Recommender.fit({ items: syn.items, events: jsonl([...events, bad]), ...TINY }))).code).toBe(code);
      expect((await rejection(Recommender.fit({ items: syn.items, events: [...events, bad], ...TINY }))).code).toBe(code);
    });

    it('is refused by addEvents, which takes none of the batch', () => {
      expect(thrown(() => rec.addEvents([{ user: 'newcomer', item: 'i1' }, bad])).code).toBe(code);
      expect(rec.hasUser('newcomer')).toBe(false);
    });
  });

  it('take what is just within them everywhere', async () => {
    // a surrogate pair is one code point, storable; 'text' + 'title' + the values: 65,536 characters
    const edge: ItemRecord = { id: 'é'.repeat(INPUT_LIMITS.idLength), fields: { text: long(INPUT_LIMITS.fieldChars - 4 - 5 - 3), title: 'w😀' } };
    expect(Object.entries(edge.fields).reduce((n, [k, v]) => n + k.length + v.length, 0)).toBe(INPUT_LIMITS.fieldChars);
    expect(await store.putItem(edge)).toBe('created');
    expect(await collect(readItems(jsonl([{ id: edge.id, ...edge.fields }])))).toEqual([edge]);
    const user = 'u'.repeat(INPUT_LIMITS.idLength);
    expect(await collect(readEvents(jsonl([{ user, item: edge.id }])))).toEqual([{ user, item: edge.id }]);
    expect(rec.addEvents([{ user, item: 'i1' }])).toMatchObject({ accepted: 1, newUsers: 1 });
    await rec.flush();
  });
});
