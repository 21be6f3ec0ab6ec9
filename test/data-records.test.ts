import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectInteractions, IdMap, readCatalogIds, readInteractions } from '../src/data/interactions.js';
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
      ['nots.csv', 'user,item,ts\nu,i,1\nu,i,\n', /nots\.csv:3: missing 'ts' \(line 2 has one\)/],
      ['latets.jsonl', '{"user":"u","item":"i"}\n\n{"user":"u","item":"j","ts":5}\n', /latets\.jsonl:3: 'ts' given, but line 1 has none/],
      ['quote.csv', 'user,item,ts\nu,"i,1\n', /quote\.csv:\d+:/],
    ];
    for (const [name, content, message] of cases) {
      const e = await rejection(collect(readEvents(file(name, content))));
      expect(e.code).toBe('INVALID_DATA');
      expect(e.message).toMatch(message);
    }
    expect((await rejection(collect(readEvents(file('x.parquet', ''))))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(collect(readEvents(file('nullts.jsonl', '{"user":"u","item":"i","ts":1}\n{"user":"u","item":"i","ts":null}\n'))))).message).toMatch(
      /nullts\.jsonl:2: missing 'ts'/,
    );
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

  it('reports a bad CSV record at the line where it starts, not at the end of the file', async () => {
    const lines = ['user,item,ts', ...Array.from({ length: 300 }, (_, i) => `u${i % 7},i${i},${i}`)];
    const withLine = (n: number, text: string) => lines.map((l, i) => (i === n - 1 ? text : l)).join('\n') + '\n';
    const cases: [string, string, RegExp][] = [
      ['unclosed.csv', withLine(120, 'u1,"i120,120'), /unclosed\.csv:120: a quoted field starting in this record is never closed/],
      ['columns.csv', withLine(150, 'u1,i150,150,extra'), /columns\.csv:150: Invalid Record Length/],
      // a quoted field over two lines and blank lines before the bad record
      ['multiline.csv', 'user,item,ts\nu,"a\nb",1\n\n\nu,i,2\nu,"x\ny",3,4\n', /multiline\.csv:7: Invalid Record Length/],
    ];
    for (const [name, content, message] of cases) {
      const e = await rejection(collect(readEvents(file(name, content))));
      expect(e.code).toBe('INVALID_DATA');
      expect(e.message).toMatch(message);
    }
  });

  it('rejects missing or unreadable files with IO_ERROR', async () => {
    for (const name of ['missing.csv', 'missing.jsonl']) {
      for (const records of [readEvents(path.join(dir, name)), readItems(path.join(dir, name))]) {
        const e = await rejection(collect<unknown>(records));
        expect(e.code).toBe('IO_ERROR');
        expect(e.message).toContain(name);
      }
    }
    const folder = path.join(dir, 'folder.csv');
    mkdirSync(folder);
    expect((await rejection(collect(readEvents(folder)))).code).toBe('IO_ERROR');
    await expect(readInteractions(path.join(dir, 'missing.jsonl'))).rejects.toMatchObject({ code: 'IO_ERROR' });
  });

  it('reads events without timestamps in file order per user', async () => {
    const csv = file('untimed.csv', 'user,item\na,x\nb,y\na,z\na,y\n');
    expect(await collect(readEvents(csv))).toEqual([
      { user: 'a', item: 'x' },
      { user: 'b', item: 'y' },
      { user: 'a', item: 'z' },
      { user: 'a', item: 'y' },
    ]);
    const jsonl = file('untimed.jsonl', '{"user":"a","item":"x"}\n{"user":"b","item":"y"}\n{"user":"a","item":"z"}\n{"user":"a","item":"y"}\n');
    for (const f of [csv, jsonl]) {
      const log = await readInteractions(f);
      expect(Array.from(log.sequences[log.users.get('a')!]!, (i) => log.items.name(i))).toEqual(['x', 'z', 'y']);
    }
    await expect(collectInteractions([{ user: 'a', item: 'x', ts: 1 }, { user: 'a', item: 'y' }])).rejects.toMatchObject({ code: 'INVALID_DATA' });
    await expect(collectInteractions([{ user: 'a', item: 'x' }, { user: 'a', item: 'y', ts: 1 }])).rejects.toMatchObject({ code: 'INVALID_DATA' });
    await expect(collectInteractions([{ user: 'a', item: 'x', ts: Number.NaN }])).rejects.toMatchObject({ code: 'INVALID_DATA' });
  });

  it('reads a JSON lines file that starts with a UTF-8 byte order mark, as CSV', async () => {
    const jsonl = file('bom.jsonl', '\uFEFF{"user":"u1","item":"i1"}\n{"user":"u2","item":"i2"}\n');
    expect(await collect(readEvents(jsonl))).toEqual([
      { user: 'u1', item: 'i1' },
      { user: 'u2', item: 'i2' },
    ]);
  });

  it('refuses bytes that are not UTF-8 (decoding would merge distinct ids into one), naming the line', async () => {
    const bytes = (name: string, ...parts: (string | number[])[]) => {
      const p = path.join(dir, name);
      writeFileSync(p, Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.from(x)))));
      return p;
    };
    // u0\xff\xfe and u0\xfe\xff: different bytes, the same text once each byte becomes U+FFFD
    const jsonl = bytes('latin.jsonl', '{"user":"u1","item":"i1"}\n{"user":"u0', [0xff, 0xfe], '","item":"i1"}\n{"user":"u0', [0xfe, 0xff], '","item":"i2"}\n');
    const csv = bytes('latin.csv', 'user,item\nu1,i1\nu0', [0xff, 0xfe], ',i1\nu0', [0xfe, 0xff], ',i2\n');
    for (const [f, line] of [
      [jsonl, 2],
      [csv, 3],
    ] as const) {
      const e = await rejection(collect(readEvents(f)));
      expect(e.code).toBe('INVALID_DATA');
      expect(e.message).toContain(`${f}:${line}:`);
      expect(e.message).toMatch(/UTF-8/);
    }
    // a multi-byte character split between two reads (64 KiB each: a longer line, 80,000 bytes) is fine
    const long = file('long.jsonl', `{"id":"i1","text":"${'é'.repeat(40_000)}"}\n{"id":"i2","text":"ü"}\n`);
    expect((await collect(readItems(long))).map((it) => it.fields.text!.length)).toEqual([40_000, 1]);
  });

  it('refuses a CSV header that names a column twice (the second would overwrite the first)', async () => {
    const csv = file('twice.csv', 'id,title,title\ni1,Red ball,Blue car\n');
    const e = await rejection(collect(readItems(csv)));
    expect(e.code).toBe('INVALID_DATA');
    expect(e.message).toContain(`${csv}:1:`);
    expect(e.message).toContain("'title'");
  });

  it('answers an unknown id number with UNKNOWN_ID', () => {
    const ids = new IdMap();
    ids.add('x');
    expect(ids.name(0)).toBe('x');
    for (const i of [1, -1, 0.5]) expect(() => ids.name(i)).toThrow(expect.objectContaining({ code: 'UNKNOWN_ID' }));
  });
});
