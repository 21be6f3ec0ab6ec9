/**
 * The Recommender end to end on a small synthetic catalog with the bundled default model:
 * fit (sweep, joint compression + SRM), recommend with filters applied before top-k and
 * scores equal to the SRM's, the popularity fallback, similar, cold items recommendable from
 * their text, addItems / addEvents, save / load (atomic, checksummed), the LM stage (rerank
 * with late interaction, or with a model pretrained and tuned on the catalog), and bad input.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LmrecError } from '../src/errors.js';
import { writeSynthetic, type SyntheticData } from '../src/data/synthetic.js';
import { LateInteraction } from '../src/lm/late-interaction.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { readItems, type ItemRecord } from '../src/data/records.js';
import { DEFAULT_MODEL_DIR } from '../src/lm/default-model.js';
import { pretrain } from '../src/pretrain/pretrain.js';
import { LmRanker } from '../src/recommender/lm-ranker.js';
import { Recommender } from '../src/recommender/recommender.js';
import { TfidfVectors } from '../src/text/tfidf.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-rec-'));
const items = path.join(dir, 'items.jsonl');
const events = path.join(dir, 'events.jsonl');
let data: SyntheticData;
let rec: Recommender;
const COLD = ['i3', 'i17', 'i40'];
const CONTENT = 0.5;

/** The Recommender's score of every item, written out: SRM score + CONTENT x TF-IDF cosine with the last 50 history items' mean. */
function expectedScores(h: string[]): Float32Array {
  const nums = h.map((id) => Number(id.slice(1)));
  const scores = rec.srm.score(nums, Array.from({ length: 150 }, (_, i) => i)).scores;
  const tf = TfidfVectors.fit(data.items.map((it) => it.title));
  const vec = (i: number) => {
    const v = new Map<number, number>();
    for (let p = tf.indptr[i]!; p < tf.indptr[i + 1]!; p++) v.set(tf.indices[p]!, tf.values[p]!);
    return v;
  };
  const profile = new Map<number, number>();
  for (const i of nums.slice(-50)) for (const [w, x] of vec(i)) profile.set(w, (profile.get(w) ?? 0) + x);
  const norm = Math.hypot(...profile.values());
  for (let i = 0; i < 150; i++) {
    let dot = 0;
    for (const [w, x] of vec(i)) dot += x * (profile.get(w) ?? 0);
    scores[i]! += norm > 0 ? (CONTENT * dot) / norm : 0;
  }
  return scores;
}

beforeAll(async () => {
  data = writeSynthetic(dir, { items: 150, users: 300, topics: 6, eventsPerUser: [4, 14], seed: 2 });
  // a fixed content weight, so every serving path below runs with the lexical part
  rec = await Recommender.fit({ items, events, sweepLayers: [1, 4], dim: 16, epochs: 8, seed: 1, coldItems: COLD, content: CONTENT, srm: { dim: 32, maxLen: 20 } });
}, 120_000);
afterAll(async () => {
  await rec?.close();
  rmSync(dir, { recursive: true, force: true });
});

const history = (user: string) => data.events.filter((e) => e.user === user).map((e) => e.item);

describe('Recommender', () => {
  it('fits: sweeps the layers, reports validation and test metrics, keeps cold items code-only', () => {
    const r = rec.report;
    expect(r.items).toBe(150);
    expect(r.users).toBe(300);
    expect(r.sweep.map((s) => s.layer)).toEqual([1, 4]);
    expect([1, 4]).toContain(r.layer);
    const best = Math.max(...r.sweep.map((s) => s.valid['NDCG@10']!));
    expect(r.sweep.find((s) => s.layer === r.layer)!.valid['NDCG@10']).toBe(best);
    expect(r.test['NDCG@10']).toBeGreaterThan(0.1); // popularity among 150 items is far below
    expect(r.coldItems).toBeGreaterThanOrEqual(COLD.length);
    const mask = rec.srm.idMask();
    for (const id of COLD) expect(mask[Number(id.slice(1))]).toBe(0);
  });

  it('recommend: k best by the SRM score plus the content part, seen items left out, scores exact', async () => {
    expect(rec.report.contentWeight).toBe(CONTENT);
    const h = history('u5');
    const out = rec.recommend({ user: 'u5', k: 10 });
    expect(out.items).toHaveLength(10);
    expect(out.fallback).toBeNull();
    expect(out.items.some((x) => h.includes(x.id))).toBe(false);
    // the same ranking as the full fused scores over unseen items
    const nums = h.map((id) => Number(id.slice(1)));
    const scores = expectedScores(h);
    // the evaluation's scorer ranks as recommend() does
    const row = await rec.scorer()([{ user: 0, history: Int32Array.from(nums), target: 0 }]);
    row.forEach((x, i) => expect(x).toBeCloseTo(scores[i]!, 4));
    const want = Array.from({ length: 150 }, (_, i) => i)
      .filter((i) => !nums.includes(i))
      .sort((a, b) => scores[b]! - scores[a]! || a - b)
      .slice(0, 10);
    expect(out.items.map((x) => Number(x.id.slice(1)))).toEqual(want);
    out.items.forEach((x) => expect(x.score).toBeCloseTo(scores[Number(x.id.slice(1))]!, 4));
    for (let i = 1; i < out.items.length; i++) expect(out.items[i - 1]!.score).toBeGreaterThanOrEqual(out.items[i]!.score);
    // seen items come back when asked
    expect(rec.recommend({ user: 'u5', k: 150, excludeSeen: false }).items).toHaveLength(150);
  });

  it('filters apply before top-k: exclude lists, field filters and predicates', () => {
    const base = rec.recommend({ user: 'u7', k: 5 });
    const without = rec.recommend({ user: 'u7', k: 5, exclude: base.items.slice(0, 3).map((x) => x.id) });
    expect(without.items).toHaveLength(5);
    expect(without.items.map((x) => x.id)).toEqual(expect.not.arrayContaining(base.items.slice(0, 3).map((x) => x.id)));
    expect(without.items.slice(0, 2).map((x) => x.id)).toEqual(base.items.slice(3, 5).map((x) => x.id));
    const cat = data.items[0]!.category;
    const inCat = new Set(data.items.filter((it) => it.category === cat).map((it) => it.id));
    const filtered = rec.recommend({ user: 'u7', k: 8, filter: { category: cat } });
    expect(filtered.items.length).toBe(Math.min(8, [...inCat].filter((id) => !history('u7').includes(id)).length));
    expect(filtered.items.every((x) => inCat.has(x.id))).toBe(true);
    const pred = rec.recommend({ user: 'u7', k: 4, filter: (it) => it.id.endsWith('7') });
    expect(pred.items.every((x) => x.id.endsWith('7'))).toBe(true);
    expect(rec.recommend({ user: 'u7', k: 4, filter: { category: 'no such category' } }).items).toHaveLength(0);
  });

  it('anonymous histories and unknown users: SRM on the session, else popularity (and says so)', () => {
    const anon = rec.recommend({ history: ['i1', 'i2', 'nope'], k: 3 });
    expect(anon.fallback).toBeNull();
    expect(anon.ignored).toBe(1);
    // a plain object: JSON keeps the ranking and what it says about the request
    expect(JSON.parse(JSON.stringify(anon))).toEqual({ items: anon.items, fallback: null, ignored: 1 });
    const unknown = rec.recommend({ user: 'stranger', k: 5 });
    expect(unknown.fallback).toBe('popularity');
    expect(unknown.items).toHaveLength(5);
    for (let i = 1; i < 5; i++) expect(unknown.items[i - 1]!.score).toBeGreaterThanOrEqual(unknown.items[i]!.score);
    const empty = rec.recommend({ history: [], k: 2, filter: { category: data.items[1]!.category } });
    expect(empty.fallback).toBe('popularity');
    expect(empty.items.every((x) => data.items.find((it) => it.id === x.id)!.category === data.items[1]!.category)).toBe(true);
  });

  it('cold items are recommendable by their code alone', () => {
    // some user whose history is in a cold item's topic ranks it above most of the catalog
    const cold = COLD[0]!;
    const topic = data.items.find((it) => it.id === cold)!.category;
    const all = rec.recommend({ history: data.items.filter((it) => it.category === topic && !COLD.includes(it.id)).slice(0, 5).map((it) => it.id), k: 150 });
    const rank = all.items.findIndex((x) => x.id === cold);
    expect(rank).toBeGreaterThanOrEqual(0);
    expect(rank).toBeLessThan(75);
  });

  it('similar: cosine neighbours, the item itself left out; unknown item is UNKNOWN_ID', () => {
    const s = rec.similar('i10', { k: 5 });
    expect(s).toHaveLength(5);
    expect(s.map((x) => x.id)).not.toContain('i10');
    for (const x of s) expect(x.score).toBeLessThanOrEqual(1.0001);
    expect(() => rec.similar('zzz', { k: 3 })).toThrow(expect.objectContaining({ code: 'UNKNOWN_ID' }));
    // warm items compare by behaviour, cold ones by content (their codes), unless asked
    expect(rec.similar('i10', { k: 5 })).toEqual(rec.similar('i10', { k: 5, by: 'behaviour' }));
    expect(rec.similar(COLD[0]!, { k: 5 })).toEqual(rec.similar(COLD[0]!, { k: 5, by: 'content' }));
    expect(rec.similar(COLD[0]!, { k: 5, by: 'behaviour' })).not.toEqual(rec.similar(COLD[0]!, { k: 5, by: 'content' }));
    expect(() => rec.similar('i10', { k: 3, by: 'taste' as 'content' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('bad requests are typed errors', () => {
    expect(() => rec.recommend({ user: 'u1', k: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_K' }));
    expect(() => rec.recommend({ user: 'u1', k: 1e6 })).toThrow(expect.objectContaining({ code: 'REQUEST_TOO_LARGE' }));
    expect(() => rec.recommend({ user: 'u1', history: 'i1' as unknown as string[] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => rec.recommend({ user: 'u1', filter: 3 as unknown as Record<string, string> })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('saves atomically, loads with checksums, and serves the same answers; damage is detected', async () => {
    const out = path.join(dir, 'saved');
    await rec.save(out);
    expect(readdirSync(dir).filter((n) => n.startsWith('saved.'))).toEqual([]);
    const loaded = await Recommender.load(out);
    expect(loaded.recommend({ user: 'u5', k: 10 })).toEqual(rec.recommend({ user: 'u5', k: 10 }));
    expect(loaded.similar('i10', { k: 5 })).toEqual(rec.similar('i10', { k: 5 }));
    expect(loaded.report.layer).toBe(rec.report.layer);
    await loaded.close();
    expect(() => loaded.recommend({ user: 'u5' })).toThrow(expect.objectContaining({ code: 'CLOSED' }));

    const damaged = path.join(dir, 'damaged');
    await rec.save(damaged);
    const file = path.join(damaged, 'histories.jsonl');
    const bytes = readFileSync(file);
    bytes[10]! ^= 1;
    writeFileSync(file, bytes);
    await expect(Recommender.load(damaged)).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
    writeFileSync(file, bytes.subarray(0, 20));
    await expect(Recommender.load(damaged)).rejects.toMatchObject({ code: 'TRUNCATED_FILE' });
    await expect(Recommender.load(path.join(dir, 'nowhere'))).rejects.toMatchObject({ code: 'IO_ERROR' });
    await expect(Recommender.load(dir)).rejects.toMatchObject({ code: 'NOT_A_MODEL' });
    const manifest = path.join(out, 'manifest.json');
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { version: number };
    writeFileSync(manifest, JSON.stringify({ ...m, version: 99 }));
    await expect(Recommender.load(out)).rejects.toMatchObject({ code: 'UNSUPPORTED_VERSION' });
  });

  it('a save that cannot be written leaves the previous save intact and no litter', async () => {
    const out = path.join(dir, 'kept');
    await rec.save(out);
    const before = readFileSync(path.join(out, 'manifest.json'), 'utf8');
    // a part failing mid-save (a full disk)
    const spy = vi.spyOn(rec.srm, 'save').mockRejectedValueOnce(new LmrecError('no space left on device', 'IO_ERROR'));
    await expect(rec.save(out)).rejects.toMatchObject({ code: 'IO_ERROR' });
    spy.mockRestore();
    expect(readFileSync(path.join(out, 'manifest.json'), 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((n) => n.startsWith('kept.'))).toEqual([]);
    const reread = await Recommender.load(out);
    expect(reread.items).toBe(150);
    await reread.close();
    if (process.getuid?.() === 0) return; // root writes anywhere: the permission case needs a user
    chmodSync(dir, 0o555);
    try {
      await expect(rec.save(out)).rejects.toMatchObject({ code: 'IO_ERROR' });
    } finally {
      chmodSync(dir, 0o755);
    }
    expect(readFileSync(path.join(out, 'manifest.json'), 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((n) => n.startsWith('kept.'))).toEqual([]);
  });

  it('refuses to save over a directory that is not a saved recommender', async () => {
    const other = path.join(dir, 'other');
    writeSynthetic(other, { items: 3, users: 1, seed: 1 });
    await expect(rec.save(other)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(existsSync(path.join(other, 'items.jsonl'))).toBe(true);
  });

  it('addItems: new items are encoded, compressed and recommendable at once; duplicates refused', async () => {
    const loaded = await Recommender.load(path.join(dir, 'kept'));
    const twin = data.items[20]!;
    const popularBefore = loaded.recommend({ user: 'nobody', k: 151 }).items;
    const added = await loaded.addItems([{ id: 'brand-new', fields: { title: twin.title, category: twin.category } }]);
    // the kept popularity order grows by the new item (no events: last) as a fresh sort would put it
    expect(loaded.recommend({ user: 'nobody', k: 151 }).items).toEqual([...popularBefore, { id: 'brand-new', score: 0 }]);
    expect(added).toEqual(['brand-new']);
    expect(loaded.items).toBe(151);
    const sim = loaded.similar('brand-new', { k: 10 }).map((x) => x.id);
    expect(sim).toContain(twin.id); // the same title: (nearly) the same code
    expect(loaded.recommend({ history: [twin.id], k: 151, excludeSeen: false }).items.map((x) => x.id)).toContain('brand-new');
    await expect(loaded.addItems([{ id: 'i1', fields: { title: 'x' } }])).rejects.toMatchObject({ code: 'DUPLICATE_ID' });
    expect(loaded.items).toBe(151);
    await loaded.close();
  });

  it('addEvents: histories change at once, the SRM updates in the background', async () => {
    const loaded = await Recommender.load(path.join(dir, 'kept'));
    const before = loaded.recommend({ user: 'newcomer', k: 3 });
    expect(before.fallback).toBe('popularity');
    const r = loaded.addEvents([
      { user: 'newcomer', item: 'i8' },
      { user: 'newcomer', item: 'i9' },
      { user: 'u1', item: 'not-an-item' },
    ]);
    expect(r).toEqual({ accepted: 2, unknownItems: 1, newUsers: 1 });
    const now = loaded.recommend({ user: 'newcomer', k: 3 });
    expect(now.fallback).toBeNull();
    expect(now.items.map((x) => x.id)).not.toContain('i8');
    const steps = loaded.srm.info.steps;
    await loaded.flush();
    expect(loaded.srm.info.steps).toBeGreaterThan(steps);
    // a cold item with events gets its ID embedding
    loaded.addEvents([{ user: 'newcomer', item: COLD[1]! }]);
    await loaded.flush();
    expect(loaded.srm.idMask()[Number(COLD[1]!.slice(1))]).toBe(1);
    await loaded.close();
  });

  it('background updates re-index the embeddings and keep the content index; added items extend it', async () => {
    const loaded = await Recommender.load(path.join(dir, 'kept'));
    const all = Array.from({ length: 150 }, (_, i) => i);
    const seen = history('u5').map((id) => Number(id.slice(1)));
    // after each update (the second reuses the first's vector array) answers are the model's own scores
    const scoresMatch = async () => {
      const out = loaded.recommend({ user: 'u5', k: 10 });
      const scores = await loaded.scorer()([{ user: 0, history: Int32Array.from(seen), target: 0 }]);
      const want = all.filter((i) => !seen.includes(i)).sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, 10);
      // the same top 10 by score (two items a rounding apart may swap: fp32 rows against fp64 sums)
      out.items.forEach((x, j) => {
        expect(x.score).toBeCloseTo(scores[Number(x.id.slice(1))]!, 4);
        expect(x.score).toBeCloseTo(scores[want[j]!]!, 4);
      });
      expect(new Set(out.items.map((x) => Number(x.id.slice(1))))).toEqual(new Set(want));
    };
    const byContent = loaded.similar(COLD[0]!, { k: 8, by: 'content' });
    const byBehaviour = loaded.similar('i10', { k: 8, by: 'behaviour' });
    for (let round = 0; round < 3; round++) {
      loaded.addEvents(['u5', 'u6', 'u7'].map((user, j) => ({ user, item: `i${round * 7 + j * 3 + 50}` })));
      seen.push(round * 7 + 50);
      await loaded.flush();
      await scoresMatch();
      expect(loaded.similar(COLD[0]!, { k: 8, by: 'content' })).toEqual(byContent); // codes do not change with updates
    }
    expect(loaded.similar('i10', { k: 8, by: 'behaviour' })).not.toEqual(byBehaviour); // the embeddings did
    const twin = data.items[30]!;
    await loaded.addItems([{ id: 'late-item', fields: { title: twin.title, category: twin.category } }]);
    expect(loaded.similar('late-item', { k: 5, by: 'content' }).map((x) => x.id)).toContain(twin.id);
    expect(loaded.similar(twin.id, { k: 5, by: 'content' }).map((x) => x.id)).toContain('late-item');
    loaded.addEvents([{ user: 'u5', item: 'late-item' }]);
    await loaded.flush();
    expect(loaded.similar(twin.id, { k: 5, by: 'content' }).map((x) => x.id)).toContain('late-item');
    expect(loaded.recommend({ history: [twin.id], k: 151, excludeSeen: false }).items.map((x) => x.id)).toContain('late-item');
    await loaded.close();
  });

  it("index 'partitioned': the nearest partitions scanned, scores still the SRM's, refilled in the same partitions after updates", async () => {
    const exact = await Recommender.load(path.join(dir, 'kept'));
    const part = await Recommender.load(path.join(dir, 'kept'), { index: { partitions: 4 } }); // 150 items: trains (4 x 32)
    expect(exact.indexInfo).toMatchObject({ kind: 'exact', partitions: 1 });
    expect(part.indexInfo).toMatchObject({ kind: 'partitioned', partitions: 4 });
    expect(part.indexInfo.bytes).toBeGreaterThan(0);
    const check = async () => {
      let hit = 0;
      const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
      for (const user of users) {
        const got = part.recommend({ user, k: 10 });
        const want = new Map(exact.recommend({ user, k: 10 }).items.map((x) => [x.id, x.score]));
        // what it returns is scored exactly (the pool is rescored in fp32), best first, seen items left out
        for (const x of got.items) if (want.has(x.id)) expect(x.score).toBeCloseTo(want.get(x.id)!, 4);
        for (let i = 1; i < got.items.length; i++) expect(got.items[i - 1]!.score).toBeGreaterThanOrEqual(got.items[i]!.score);
        expect(got.items.some((x) => history(user).includes(x.id))).toBe(false);
        hit += got.items.filter((x) => want.has(x.id)).length;
      }
      return hit / (users.length * 10);
    };
    expect(await check()).toBeGreaterThanOrEqual(0.9); // recall@10 against the exact scan (probed for 0.95)
    // batched answers are the single ones; filters give k admitted items
    const many = await part.recommendMany([{ user: 'u3', k: 5 }, { user: 'u4', k: 5 }]);
    expect(many[0]!.items.map((x) => x.id)).toEqual(part.recommend({ user: 'u3', k: 5 }).items.map((x) => x.id));
    const cat = data.items[0]!.category;
    const filtered = part.recommend({ user: 'u4', k: 8, filter: { category: cat } });
    expect(filtered.items).toHaveLength(8);
    for (const x of filtered.items) expect(part.item(x.id)!.fields.category).toBe(cat);
    expect(part.similar('i10', { k: 5, by: 'behaviour' })).toHaveLength(5);
    // an update refills the same partitions (no new k-means) and answers stay the SRM's
    for (const r of [exact, part]) {
      r.addEvents([{ user: 'u9', item: 'i77' }, { user: 'u11', item: 'i78' }]);
      await r.flush();
    }
    expect(part.indexInfo.partitions).toBe(4);
    expect(await check()).toBeGreaterThanOrEqual(0.9);
    await exact.close();
    await part.close();
    await expect(Recommender.load(path.join(dir, 'kept'), { index: 'fast' as 'exact' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(Recommender.load(path.join(dir, 'kept'), { index: { partitions: 0 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('bad fit input: typed errors', async () => {
    await expect(Recommender.fit({ items, events: path.join(dir, 'missing.jsonl') })).rejects.toMatchObject({ code: 'IO_ERROR' });
    await expect(Recommender.fit({ items, events: [{ user: 'a', item: 'nope' }] })).rejects.toMatchObject({ code: 'INVALID_DATA' });
    await expect(Recommender.fit({ items, events, model: dir })).rejects.toMatchObject({ code: 'IO_ERROR' }); // no config.json
    await expect(Recommender.fit({ items, events, layer: 99 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(Recommender.fit({ items, events, budget: 'soon' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(Recommender.fit({ items, events, dim: 3 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(Recommender.fit({ items: [{ id: 'a', fields: { title: '' } }], events: [{ user: 'u', item: 'a' }] })).rejects.toMatchObject({ code: 'INVALID_DATA' });
  });

  it('recommendMany answers a batch as recommend() answers each request', async () => {
    const requests = [
      ...Array.from({ length: 40 }, (_, i) => ({ user: `u${i * 7}`, k: 5 + (i % 7) })),
      { user: 'u5', k: 8, excludeSeen: false },
      { history: ['i3', 'i17', 'nope'], k: 6 },
      { user: 'u9', k: 4, filter: { category: data.items[0]!.category } },
      { user: 'u11', k: 5, exclude: ['i1', 'i2', 'i3'] },
      { user: 'nobody', k: 3 },
    ];
    const many = await rec.recommendMany(requests);
    expect(many).toHaveLength(requests.length);
    requests.forEach((r, i) => {
      const one = rec.recommend(r);
      expect(many[i]!.items.map((x) => x.id), JSON.stringify(r)).toEqual(one.items.map((x) => x.id));
      many[i]!.items.forEach((x, j) => expect(x.score).toBeCloseTo(one.items[j]!.score, 4));
      expect(many[i]!.fallback).toBe(one.fallback);
      expect(many[i]!.ignored).toBe(one.ignored);
    });
    await expect(rec.recommendMany([{ user: 'u1', k: 0 }])).rejects.toMatchObject({ code: 'INVALID_K' });
  });

  it('rerank: the LM reads the history as text; weight 0 is recommend(), else SRM + weight x LM log-probability', async () => {
    const lm = await LanguageModel.load(DEFAULT_MODEL_DIR, { blockSize: 2, threads: 1 });
    const li = new LateInteraction(lm, { splitLayer: 2 });
    try {
      const plain = rec.recommend({ user: 'u5', k: 5 });
      expect(await rec.rerank({ user: 'u5', k: 5 }, { model: li, weight: 0, candidates: 20 })).toEqual(plain);
      const fused = await rec.rerank({ user: 'u5', k: 5 }, { model: li, weight: 2, candidates: 20, events: 4 });
      expect(fused.items).toHaveLength(5);
      expect(fused.fallback).toBeNull();
      const srmTop = rec.recommend({ user: 'u5', k: 20 });
      const title = (id: string) => rec.item(id)!.fields.title!;
      const texts = history('u5').slice(-4).map(title);
      const lmScores = await li.score(texts, fused.items.map((x) => title(x.id)));
      fused.items.forEach((x, i) => expect(x.score).toBeCloseTo(srmTop.items.find((y) => y.id === x.id)!.score + 2 * lmScores[i]!, 3));
      for (let i = 1; i < fused.items.length; i++) expect(fused.items[i - 1]!.score).toBeGreaterThanOrEqual(fused.items[i]!.score);
      expect((await rec.rerank({ user: 'nobody', k: 3 }, { model: li })).fallback).toBe('popularity');
      await expect(rec.rerank({ user: 'u5', k: 5 }, { model: li, candidates: 2 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      li.close();
      await lm.close();
    }
  });

  it('rerank with an LmRanker: SRM + weight x the tuned model item-head score after the history', async () => {
    const full = path.join(dir, 'lm-full');
    const tuned = path.join(dir, 'lm-tuned');
    const small = { dim: 32, layers: 4, heads: 2, kvHeads: 1, ffn: 64, vocabSize: 300, context: 96, batchTokens: 1024, threads: 1 };
    await pretrain({ ...small, items, events, out: full, template: '{title}', steps: 20, lr: 1e-2 });
    await pretrain({ items, events, out: tuned, model: full, localLayers: 2, freezeLayers: 2, steps: 10, lr: 1e-2, threads: 1 });
    const records: ItemRecord[] = [];
    for await (const it of readItems(items)) records.push(it);
    const ranker = await LmRanker.load(tuned, records, { threads: 1 });
    try {
      expect(ranker.splitLayer).toBe(2); // from lmrec.json
      // fused = SRM + 0.5 x head score; a cold candidate (no training events) gets the warm ones' mean head score
      const warm = rec.srm.idMask();
      const number = new Map(records.map((it, i) => [it.id, i]));
      let coldSeen = 0;
      for (const request of [{ user: 'u5' }, ...COLD.map((id) => ({ history: [id] }))]) {
        const fused = await rec.rerank({ ...request, k: 20 }, { model: ranker, weight: 0.5, candidates: 20, events: 6 }); // every candidate's fused score
        const srmTop = rec.recommend({ ...request, k: 20 }).items;
        const lm = await ranker.scores(('user' in request ? history('u5') : request.history).slice(-6), srmTop.map((x) => x.id));
        const isWarm = srmTop.map((x) => warm[number.get(x.id)!] === 1);
        coldSeen += isWarm.filter((w) => !w).length;
        const mean = lm.reduce((a, v, j) => a + (isWarm[j] ? v : 0), 0) / isWarm.filter(Boolean).length;
        const want = srmTop.map((x, j) => ({ id: x.id, score: x.score + 0.5 * (isWarm[j] ? lm[j]! : mean) })).sort((a, b) => b.score - a.score);
        expect(fused.items.map((x) => x.id)).toEqual(want.map((x) => x.id));
        fused.items.forEach((x, i) => expect(x.score).toBeCloseTo(want[i]!.score, 3));
      }
      expect(coldSeen).toBeGreaterThan(0); // the rule was exercised
      const all = await ranker.scores(history('u5'));
      expect(all.length).toBe(ranker.items.length);
      expect(await ranker.scores(history('u5'))).toEqual(all); // a second time, from the texts' kept tokens
      await expect(ranker.scores(['nope'])).rejects.toMatchObject({ code: 'UNKNOWN_ID' });
      await expect(ranker.scores([])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(LmRanker.load(full, records)).rejects.toMatchObject({ code: 'UNSUPPORTED' }); // not tuned, no split given
      await expect(LmRanker.load(tuned, records, { splitLayer: 4 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(LmRanker.load(tuned, records, { precision: 'fp8' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(LmRanker.load(tuned, records, { thread: 1 } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' }); // unknown option
      // int8 matrix products: the same ranking up to the quantisation's small moves
      const int8 = await LmRanker.load(tuned, records, { threads: 1, precision: 'int8' });
      try {
        const a = await ranker.scores(history('u5'));
        const b = await int8.scores(history('u5'));
        const spread = Math.max(...a) - Math.min(...a);
        a.forEach((x, i) => expect(Math.abs(b[i]! - x)).toBeLessThan(0.1 * spread + 1e-6));
      } finally {
        await int8.close();
      }
    } finally {
      await ranker.close();
    }
  });

  it('a fit aborted after its first epoch returns the best model so far; before it, ABORTED', async () => {
    const ctl = new AbortController();
    const base = { items, events, sweepLayers: [0, 1, 2], dim: 16, epochs: 5, srm: { dim: 16, maxLen: 10 } };
    const fitted = await Recommender.fit({ ...base, signal: ctl.signal, onProgress: (p) => p.stage === 'training' && p.done >= 1 && ctl.abort() });
    expect(fitted.report.sweep).toHaveLength(3); // the probe ran before training
    expect(fitted.report.stopReason).toBe('aborted');
    expect(fitted.srm.history.filter((e) => !e.partial).length).toBeGreaterThanOrEqual(1);
    expect(fitted.recommend({ user: 'u2', k: 3 }).items).toHaveLength(3);
    await fitted.close();
    const early = new AbortController();
    await expect(Recommender.fit({ ...base, signal: early.signal, onProgress: (p) => p.stage === 'sweep' && early.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('a budget shorter than one epoch still trains one (the smallest budget works)', async () => {
    const fitted = await Recommender.fit({ items, events, layer: 1, dim: 16, epochs: 50, budget: 0.001, srm: { dim: 16, maxLen: 10 } });
    expect(fitted.srm.history.filter((e) => !e.partial).length).toBeGreaterThanOrEqual(1);
    expect(fitted.report.stopReason).not.toBe('aborted');
    expect(fitted.recommend({ user: 'u2', k: 3 }).items).toHaveLength(3);
    await fitted.close();
  });
});
