import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCatalogIds, readInteractions } from '../src/data/interactions.js';
import { generateSynthetic, writeSynthetic } from '../src/data/synthetic.js';
import { Recommender } from '../src/recommender/recommender.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-synth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('synthetic data', () => {
  const options = { items: 2000, users: 400, topics: 20, seed: 5 };
  const data = generateSynthetic(options);

  it('is deterministic under a seed and writes files the readers accept', async () => {
    expect(generateSynthetic(options)).toEqual(data);
    expect(generateSynthetic({ ...options, seed: 6 }).events).not.toEqual(data.events);
    writeSynthetic(dir, options);
    const catalog = await readCatalogIds(path.join(dir, 'items.jsonl'));
    const log = await readInteractions(path.join(dir, 'events.jsonl'), { items: catalog });
    expect(catalog.size).toBe(2000);
    expect(log.users.size).toBe(400);
    expect(log.unknownItems).toBe(0);
    expect(log.events).toBe(data.events.length);
    expect(readFileSync(path.join(dir, 'items.jsonl'), 'utf8').split('\n')[0]).toMatch(/^\{"id":"i0","title":"[a-z ]+","text":"[a-z ]+","category":"c\d+"\}$/);
    expect(readdirSync(dir).sort()).toEqual(['events.jsonl', 'items.jsonl']); // no temp files left
  });

  it('rejects a directory it cannot create with IO_ERROR', () => {
    const plain = path.join(dir, 'plain-file');
    writeFileSync(plain, 'not a directory');
    expect(() => writeSynthetic(path.join(plain, 'data'), { items: 10, users: 2 })).toThrow(expect.objectContaining({ code: 'IO_ERROR' }));
  });

  it('puts signal in the text: items of one topic share words far more than items of two', () => {
    const words = data.items.map((it) => new Set(`${it.title} ${it.text}`.split(' ')));
    const overlap = (a: number, b: number) => [...words[a]!].filter((w) => words[b]!.has(w)).length;
    let same = 0;
    let sameN = 0;
    let other = 0;
    let otherN = 0;
    for (let a = 0; a < 300; a++) {
      for (let b = a + 1; b < 300; b++) {
        if (data.itemTopic[a] === data.itemTopic[b]) (same += overlap(a, b)), sameN++;
        else (other += overlap(a, b)), otherN++;
      }
    }
    expect(same / sameN).toBeGreaterThan(4 * (other / otherN));
  });

  it('gives users topic habits and skewed popularity', () => {
    const topicOf = new Map(data.items.map((it, i) => [it.id, data.itemTopic[i]!]));
    let stays = 0;
    let steps = 0;
    for (let i = 1; i < data.events.length; i++) {
      if (data.events[i]!.user !== data.events[i - 1]!.user) continue;
      steps++;
      if (topicOf.get(data.events[i]!.item) === topicOf.get(data.events[i - 1]!.item)) stays++;
    }
    expect(stays / steps).toBeGreaterThan(0.6); // 1/20 if topics were random
    const counts = new Map<string, number>();
    for (const e of data.events) counts.set(e.item, (counts.get(e.item) ?? 0) + 1);
    const sorted = [...counts.values()].sort((a, b) => b - a);
    const top = sorted.slice(0, 200).reduce((a, b) => a + b, 0); // the top 10% of the catalog
    expect(top / data.events.length).toBeGreaterThan(0.35);
    for (let i = 1; i < data.events.length; i++) {
      if (data.events[i]!.user === data.events[i - 1]!.user) expect(data.events[i]!.ts).toBeGreaterThan(data.events[i - 1]!.ts);
    }
  });

  it('gives item records that Recommender.fit takes as they are', async () => {
    const small = generateSynthetic({ items: 30, users: 40, topics: 3, eventsPerUser: [3, 6], seed: 1 });
    expect({ ...small.items[0] }).toEqual({ id: 'i0', fields: { title: small.items[0]!.title, text: small.items[0]!.text, category: 'c' + small.itemTopic[0] } });
    expect(JSON.parse(JSON.stringify(small.items[0]))).toEqual({ id: 'i0', fields: small.items[0]!.fields });
    const rec = await Recommender.fit({ items: small.items, events: small.events, layer: 1, dim: 16, epochs: 1, srm: { dim: 16, maxLen: 10 } });
    expect(rec.recommend({ user: 'u0', k: 3 }).items).toHaveLength(3);
    expect(rec.recommend({ history: [], k: 5, filter: { category: small.items[0]!.category } }).items.length).toBeGreaterThan(0);
  }, 60_000);

  it('an item without fields is refused with the shape fit wants', async () => {
    const small = generateSynthetic({ items: 5, users: 4, seed: 1 });
    const flat = small.items.map((it) => ({ id: it.id, title: it.title, text: it.text }));
    await expect(Recommender.fit({ items: flat as never, events: small.events })).rejects.toMatchObject({
      code: 'INVALID_DATA',
      message: expect.stringMatching(/^item 'i0' has no 'fields': an item is \{ id: 'i1', fields: \{ title: .*\} \} \(put 'title', 'text' in 'fields'\)$/),
    });
  });

  it('rejects bad sizes', () => {
    expect(() => generateSynthetic({ items: 0, users: 1 })).toThrow(/items/);
    expect(() => generateSynthetic({ items: 5, users: 1, eventsPerUser: [5, 2] })).toThrow(/eventsPerUser/);
  });
});
