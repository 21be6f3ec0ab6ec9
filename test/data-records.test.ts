import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCatalogIds, readInteractions } from '../src/data/interactions.js';
import { readEvents, readItems } from '../src/data/records.js';
import { rejection } from './helpers/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};
const collect = async <T>(it: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

describe('data files', () => {
  it('reads items and events from JSON lines and CSV alike', async () => {
    const itemsJsonl = file('items.jsonl', '{"id":"i1","title":"Red ball","tags":["toy","red"],"price":3}\n\n{"id":2,"title":"Blue car"}\n');
    expect(await collect(readItems(itemsJsonl))).toEqual([
      { id: 'i1', fields: { title: 'Red ball', tags: 'toy, red', price: '3' } },
      { id: '2', fields: { title: 'Blue car' } },
    ]);
    const itemsCsv = file('items.csv', '\uFEFFid,title,text\ni1,"Red, round ball","says ""hi""\nand more"\n2,Blue car,\n');
    expect(await collect(readItems(itemsCsv))).toEqual([
      { id: 'i1', fields: { title: 'Red, round ball', text: 'says "hi"\nand more' } },
      { id: '2', fields: { title: 'Blue car', text: '' } },
    ]);
    const eventsCsv = file('events.csv', 'user,item,ts\nu1,i1,100\nu1,2,50\n');
    expect(await collect(readEvents(eventsCsv))).toEqual([
      { user: 'u1', item: 'i1', ts: 100 },
      { user: 'u1', item: '2', ts: 50 },
    ]);
  });

  it('names the file, line and field of malformed records', async () => {
    const cases: [string, string, RegExp][] = [
      ['bad.jsonl', '{"user":"u","item":"i","ts":1}\n{"user":"u",\n', /bad\.jsonl:2: not valid JSON/],
      ['array.jsonl', '[1,2]\n', /array\.jsonl:1: not a JSON object/],
      ['nouser.jsonl', '{"item":"i","ts":1}\n', /nouser\.jsonl:1: missing 'user'/],
      ['badts.jsonl', '{"user":"u","item":"i","ts":"soon"}\n', /badts\.jsonl:1: 'ts' must be a number/],
      ['nots.csv', 'user,item,ts\nu,i,1\nu,i,\n', /nots\.csv:3: missing 'ts'/],
      ['quote.csv', 'user,item,ts\nu,"i,1\n', /quote\.csv:\d+:/],
    ];
    for (const [name, content, message] of cases) {
      const e = await rejection(collect(readEvents(file(name, content))));
      expect(e.code).toBe('INVALID_DATA');
      expect(e.message).toMatch(message);
    }
    expect((await rejection(collect(readEvents(file('x.parquet', ''))))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(collect(readItems(file('noid.jsonl', '{"title":"x"}\n'))))).message).toMatch(/noid\.jsonl:1: missing 'id'/);
  });

  it('orders each user by time, keeps ties in file order, and counts unknown items', async () => {
    const events = file(
      'events.jsonl',
      ['{"user":"a","item":"x","ts":30}', '{"user":"b","item":"y","ts":5}', '{"user":"a","item":"y","ts":10}',
        '{"user":"a","item":"z","ts":30}', '{"user":"a","item":"ghost","ts":1}'].join('\n'),
    );
    const open = await readInteractions(events);
    expect(open.users.size).toBe(2);
    expect(open.items.size).toBe(4);
    expect(Array.from(open.sequences[0]!, (i) => open.items.name(i))).toEqual(['ghost', 'y', 'x', 'z']);
    const catalog = await readCatalogIds(file('catalog.jsonl', '{"id":"x"}\n{"id":"y"}\n{"id":"z"}\n'));
    const closed = await readInteractions(events, { items: catalog });
    expect(closed.unknownItems).toBe(1);
    expect(closed.events).toBe(4);
    expect(Array.from(closed.sequences[closed.users.get('a')!]!, (i) => catalog.name(i))).toEqual(['y', 'x', 'z']);
  });
});
