import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../src/addon/loader.js';
import { ContentIndex } from '../src/recommender/content-index.js';
import { ContentScores } from '../src/recommender/content-scores.js';
import { TfidfVectors, wordsOf } from '../src/text/tfidf.js';
import { Random } from '../src/util/random.js';
import { boundedWalk, highest, referenceRequest } from './helpers/content-reference.js';

const texts = [
  'Lego City fire truck', // 0
  'LEGO Duplo fire station', // 1
  'wooden train set', // 2
  'Brio wooden train bridge', // 3
  'lego city police car', // 4
  '', // 5: no words
  'fire fire truck toy', // 6
];

/** TF-IDF written out plainly from the definition, dense over the kept words. */
function naive(docs: string[], minDf: number, maxShare: number): { vocab: string[]; rows: number[][] } {
  const toks = docs.map(wordsOf);
  const df = new Map<string, number>();
  for (const t of toks) for (const w of new Set(t)) df.set(w, (df.get(w) ?? 0) + 1);
  const vocab = [...df.keys()].filter((w) => df.get(w)! >= minDf && df.get(w)! <= Math.max(minDf, maxShare * docs.length)).sort();
  const rows = toks.map((t) => {
    const v = vocab.map((w) => t.filter((x) => x === w).length * (Math.log((1 + docs.length) / (1 + df.get(w)!)) + 1));
    const norm = Math.hypot(...v);
    return norm > 0 ? v.map((x) => x / norm) : v;
  });
  return { vocab, rows };
}

const cosine = (a: number[], b: number[]) => {
  const na = Math.hypot(...a);
  const nb = Math.hypot(...b);
  return na && nb ? a.reduce((s, x, i) => s + x * b[i]!, 0) / (na * nb) : 0;
};

describe('TfidfVectors', () => {
  it('splits words on anything but letters and digits, lower-cased', () => {
    expect(wordsOf("Brio's  Wooden-Train 2.0 (Ästhetik)")).toEqual(['brio', 's', 'wooden', 'train', '2', '0', 'ästhetik']);
  });

  it('equals TF-IDF written from its definition', () => {
    const tf = TfidfVectors.fit(texts);
    const ref = naive(texts, 2, 0.5);
    expect([...tf.vocabulary.keys()].sort()).toEqual(ref.vocab);
    for (let i = 0; i < texts.length; i++) {
      const dense = new Array<number>(tf.words).fill(0);
      for (let p = tf.indptr[i]!; p < tf.indptr[i + 1]!; p++) dense[tf.indices[p]!] = tf.values[p]!;
      const mine = ref.vocab.map((w) => dense[tf.vocabulary.get(w)!]!);
      mine.forEach((x, j) => expect(x).toBeCloseTo(ref.rows[i]![j]!, 6));
    }
  });

  it('scores every item by cosine with the mean of the history vectors', () => {
    const tf = TfidfVectors.fit(texts, { minDf: 1, maxDfShare: 1 });
    const ref = naive(texts, 1, 1);
    const history = [0, 3];
    const profile = ref.vocab.map((_, j) => history.reduce((s, i) => s + ref.rows[i]![j]!, 0) / history.length);
    const { dense, touched } = tf.profile(history);
    const out = new Float32Array(texts.length);
    tf.addScores(dense, touched, out, 2);
    texts.forEach((_, i) => expect(out[i]).toBeCloseTo(2 * cosine(profile, ref.rows[i]!), 5));
  });

  it('keeps the vocabulary deterministic and bounded', () => {
    const a = TfidfVectors.fit(texts, { minDf: 1, maxDfShare: 1, maxWords: 3 });
    expect(a.words).toBe(3);
    // the most frequent words first, ties by the word
    expect(a.wordList()).toEqual(['fire', 'lego', 'city']);
    expect(TfidfVectors.fit([...texts].reverse(), { minDf: 1, maxDfShare: 1, maxWords: 3 }).wordList()).toEqual(a.wordList());
  });

  it('rebuilds the same vectors from a saved vocabulary, and vectorises new texts with it', () => {
    const tf = TfidfVectors.fit(texts);
    const again = TfidfVectors.withVocabulary(tf.wordList(), tf.idf, texts);
    expect(Array.from(again.indices)).toEqual(Array.from(tf.indices));
    expect(Array.from(again.values)).toEqual(Array.from(tf.values));
    const v = tf.transform('a LEGO fire engine');
    expect(Array.from(v.indices)).toEqual([tf.vocabulary.get('fire')!, tf.vocabulary.get('lego')!].sort((x, y) => x - y));
    expect(Math.hypot(...v.values)).toBeCloseTo(1, 6);
  });

  it('refuses bad options and vocabularies', () => {
    expect(() => TfidfVectors.fit(texts, { minDf: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => TfidfVectors.fit(texts, { maxDfShare: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => TfidfVectors.withVocabulary(['a', 'a'], new Float32Array([1, 1]), texts)).toThrow(expect.objectContaining({ code: 'INVALID_DATA' }));
    expect(() => TfidfVectors.withVocabulary(['a'], new Float32Array([1, 1]), texts)).toThrow(expect.objectContaining({ code: 'DIM_MISMATCH' }));
    expect(() => TfidfVectors.withVocabulary(['a'], new Float32Array([NaN]), texts)).toThrow(expect.objectContaining({ code: 'INVALID_DATA' }));
  });
});

/** The small catalog's vectors with every word kept, and the cosine of every item with a history's profile. */
const tf = TfidfVectors.fit(texts, { minDf: 1, maxDfShare: 1 });
const cosines = (history: number[]) => {
  const row = new Float32Array(texts.length);
  const { dense, touched } = tf.profile(history);
  tf.addScores(dense, touched, row);
  return row;
};

describe('ContentScores', () => {

  it('reads the last `recent` history items and adds w_i x cosine, w_i by whether item i is warm', () => {
    const c = new ContentScores(tf, 3, 10, 2);
    const warm = Uint8Array.from([1, 1, 1, 0, 1, 1]); // item 3 and item 6 (past the end) are cold
    const out = new Float32Array(texts.length).fill(1);
    c.addTo([2, 3, 0, 4], out, warm); // only 0 and 4 count
    const cos = cosines([0, 4]);
    out.forEach((x, i) => expect(x).toBeCloseTo(1 + (warm[i] ? 3 : 10) * cos[i]!, 5));
    // the scratch profile and row are cleared: a second call adds the same again
    c.addTo([2, 3, 0, 4], out, warm);
    out.forEach((x, i) => expect(x).toBeCloseTo(1 + 2 * (warm[i] ? 3 : 10) * cos[i]!, 5));
  });

  it('round-trips through its saved state, and refuses a damaged one', () => {
    const c = new ContentScores(tf, 2, 5, 7);
    const back = ContentScores.restore(JSON.parse(JSON.stringify(c.state())), texts);
    expect([back.weight, back.coldWeight, back.recent]).toEqual([2, 5, 7]);
    const warm = Uint8Array.from([1, 0, 1, 0, 1, 0, 1]);
    const a = new Float32Array(texts.length);
    const b = new Float32Array(texts.length);
    c.addTo([1, 6], a, warm);
    back.addTo([1, 6], b, warm);
    Array.from(a).forEach((x, i) => expect(b[i]).toBeCloseTo(x, 6));
    for (const bad of [null, { ...c.state(), weight: -1 }, { ...c.state(), idf: 'x' }, { ...c.state(), extra: 1 }, { ...c.state(), idf: [1] }, { ...c.state(), coldWeight: undefined }]) {
      expect(() => ContentScores.restore(bad, texts)).toThrow(expect.objectContaining({ name: 'LmrecError' }));
    }
  });

  it('keeps its vocabulary over a grown catalog, reading only the new texts, as a rebuild would', () => {
    const c = new ContentScores(tf, 1);
    const { content: grown, rows } = c.withItems(['lego fire boat']);
    expect(rows).toHaveLength(1);
    expect(grown.tfidf.items).toBe(texts.length + 1);
    expect(grown.tfidf.wordList()).toEqual(tf.wordList());
    const row = new Float32Array(texts.length + 1);
    grown.addTo([0], row, new Uint8Array(texts.length + 1));
    expect(row[texts.length]).toBeGreaterThan(0);
    // grown twice, in pieces, against the vectors built over every text at once: the same rows,
    // and the same postings order (a bounded walk reads the same ones)
    const { base, more } = grownCatalog();
    const first = new ContentScores(TfidfVectors.fit(base, { minDf: 1, maxDfShare: 1 }), 1);
    const pieces = first.withItems(more.slice(0, 25)).content.withItems(more.slice(25)).content.tfidf;
    const whole = TfidfVectors.withVocabulary(first.tfidf.wordList(), first.tfidf.idf, [...base, ...more]);
    expect([pieces.indptr, pieces.indices, pieces.values]).toEqual([whole.indptr, whole.indices, whole.values]);
    const warm = new Uint8Array(460).fill(1);
    for (const budget of [Infinity, 300, 40]) {
      const h = [3, 420, 77, 451];
      expect(referenceRequest(pieces, ONE, h, warm, [1, 2, 455], 20, budget)).toEqual(referenceRequest(whole, ONE, h, warm, [1, 2, 455], 20, budget));
    }
  });
});

const ONE = { weight: 1, coldWeight: 1, recent: 50 };

/** 3,000 items over 40 words, a few of them in most items: a profile's words reach everything; and the generator, to draw histories from. */
function bigCatalog(): { rng: Random; big: string[] } {
  const rng = new Random(4);
  const words = Array.from({ length: 40 }, (_, j) => `w${j}`);
  return { rng, big: Array.from({ length: 3000 }, () => Array.from({ length: 6 }, () => words[Math.floor(40 * rng.next() ** 2)]).join(' ')) };
}

/** 400 texts over 30 words, some far more common than others, and 60 more. */
function grownCatalog(): { base: string[]; more: string[] } {
  const rng = new Random(9);
  const words = Array.from({ length: 30 }, (_, j) => `w${j}`);
  const textOf = () => Array.from({ length: 5 }, () => words[Math.floor(30 * rng.next() ** 2)]).join(' ');
  return { base: Array.from({ length: 400 }, textOf), more: Array.from({ length: 60 }, textOf) };
}

describe('ContentIndex (the native lexical index of served requests)', () => {
  const open: ContentIndex[] = [];
  const build = async (c: ContentScores) => {
    const index = await ContentIndex.build(c);
    open.push(index);
    return index;
  };
  afterAll(async () => {
    for (const x of open) await x.close();
  });

  it('for a request: exact parts of the given items, and the best items by content part', async () => {
    const index = await build(new ContentScores(tf, 1.5, 0));
    const warm = Uint8Array.from([1, 1, 1, 1, 1, 1, 0]);
    const cos = cosines([0]);
    const all = [...cos.keys()];
    const one = index.request({ history: [0], given: all, limit: 100 }, warm);
    all.forEach((i) => expect(one.given[i]).toBeCloseTo((warm[i] ? 1.5 : 0) * cos[i]!, 6));
    // every item with a nonzero part, ascending; not item 2 (no shared word), not item 6 (cold, weight 0)
    expect(one.items).toEqual(all.filter((i) => cos[i] !== 0 && warm[i]));
    one.items.forEach((i, j) => expect(one.scores[j]).toBeCloseTo(1.5 * cos[i]!, 6));
    // the highest few (ties: the lower item), in item order
    const ones = Uint8Array.from(texts, () => 1);
    const plain = await build(new ContentScores(tf, 1));
    const every = plain.request({ history: [0, 1], given: [], limit: 100 }, ones);
    const order = every.items.map((i, j) => [i, every.scores[j]!] as const).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    for (const limit of [1, 2, 3, 100]) {
      const kept = highest(every.items, every.scores, limit);
      expect(kept.items).toEqual(order.slice(0, limit).map(([i]) => i).sort((a, b) => a - b));
      expect(plain.request({ history: [0, 1], given: [], limit }, ones).items).toEqual(kept.items);
    }
    // no history, no words: nothing reached, zero parts
    expect(plain.request({ history: [5], given: [1], limit: 5 }, ones)).toEqual({ given: new Float64Array(1), items: [], scores: [] });
  });

  it('equals the TypeScript reference bit for bit, bounded or not, one request or a batch', async () => {
    const { rng, big } = bigCatalog();
    const vectors = TfidfVectors.fit(big, { minDf: 1, maxDfShare: 1 });
    const w = { weight: 1, coldWeight: 2, recent: 3 };
    const index = await build(new ContentScores(vectors, w.weight, w.coldWeight, w.recent));
    const warm = Uint8Array.from(big, (_, i) => (i % 5 ? 1 : 0));
    const asks = Array.from({ length: 12 }, (_, u) => ({
      history: Array.from({ length: 1 + (u % 6) }, () => rng.int(big.length)),
      given: Array.from({ length: 8 }, () => rng.int(big.length)),
      limit: 5 + 4 * u,
    }));
    for (const budget of [Infinity, 4000, 500, 40]) {
      const batch = await index.requests(asks, warm, budget);
      asks.forEach((a, j) => {
        const want = referenceRequest(vectors, w, a.history, warm, a.given, a.limit, budget);
        expect(index.request(a, warm, budget)).toEqual(want);
        expect(batch[j]).toEqual(want);
      });
    }
  });

  it('bounds the postings a request reads: the heaviest first, the best found among leaders and scored exactly', async () => {
    const { rng, big } = bigCatalog();
    const vectors = TfidfVectors.fit(big, { minDf: 1, maxDfShare: 1 });
    const history = [3, 17, 99, 2500];
    const { dense, touched } = vectors.profile(history);
    const exact = new Float32Array(big.length);
    expect(boundedWalk(vectors, dense, touched, exact, new Int32Array(big.length), Infinity).complete).toBe(true);
    const partial = new Float32Array(big.length);
    const list = new Int32Array(big.length);
    const walk = boundedWalk(vectors, dense, touched, partial, list, 500);
    expect(walk.complete).toBe(false);
    expect(walk.reached).toBeLessThanOrEqual(500);
    expect(walk.reached).toBe(partial.filter((x) => x !== 0).length); // every item reached listed once
    list.subarray(0, walk.reached).forEach((i) => expect(partial[i]).toBeLessThanOrEqual(exact[i]! + 1e-6));
    for (let i = 0; i < big.length; i++) expect(vectors.dot(dense, i)).toBeCloseTo(exact[i]!, 5);

    const warm = Uint8Array.from(big, (_, i) => (i % 5 ? 1 : 0));
    const index = await build(new ContentScores(vectors, 1, 2));
    const part = (i: number) => (warm[i] ? 1 : 2) * exact[i]!;
    const rank = [...exact.keys()].sort((a, b) => part(b) - part(a) || a - b);
    const unbounded = index.request({ history, given: [5, 6, 7], limit: 20 }, warm, Infinity);
    expect(unbounded.items).toEqual(rank.slice(0, 20).sort((a, b) => a - b));
    const bounded = index.request({ history, given: [5, 6, 7], limit: 20 }, warm, 500);
    [5, 6, 7].forEach((i, j) => expect(bounded.given[j]).toBeCloseTo(part(i), 5)); // the given items: exact
    bounded.items.forEach((i, j) => expect(bounded.scores[j]).toBeCloseTo(part(i), 5)); // never a wrong score
    expect(bounded.items).toHaveLength(20);
    // reading the largest terms first keeps most of the best: over 30 histories, a quarter of
    // the postings find 85% of the exact top 20
    let found = 0;
    for (let u = 0; u < 30; u++) {
      const h = Array.from({ length: 4 }, () => rng.int(big.length));
      const want = new Set(index.request({ history: h, given: [], limit: 20 }, warm, Infinity).items);
      found += index.request({ history: h, given: [], limit: 20 }, warm, 4000).items.filter((i) => want.has(i)).length;
    }
    expect(found / (30 * 20)).toBeGreaterThanOrEqual(0.85);
  });

  it('grows by new items off the JS thread to what a rebuild over every text holds', async () => {
    const { base, more } = grownCatalog();
    const first = new ContentScores(TfidfVectors.fit(base, { minDf: 1, maxDfShare: 1 }), 1);
    const a = first.withItems(more.slice(0, 25));
    const b = a.content.withItems(more.slice(25));
    const index = await build(first);
    const grown = await (await index.withItems(a.content, a.rows)).withItems(b.content, b.rows);
    open.push(grown);
    expect(grown.items).toBe(460);
    expect(index.items).toBe(400); // the old one serves on, unchanged
    const whole = TfidfVectors.withVocabulary(first.tfidf.wordList(), first.tfidf.idf, [...base, ...more]);
    const warm = Uint8Array.from({ length: 460 }, (_, i) => (i % 3 ? 1 : 0));
    for (const budget of [Infinity, 300, 40]) {
      for (const history of [[3, 420, 77, 451], [459], [0, 1, 2]]) {
        expect(grown.request({ history, given: [1, 2, 455], limit: 20 }, warm, budget)).toEqual(referenceRequest(whole, ONE, history, warm, [1, 2, 455], 20, budget));
      }
    }
    // items the index does not hold yet (added after it was built) have no words there
    expect(index.request({ history: [455], given: [455, 1], limit: 5 }, warm).given).toEqual(new Float64Array(2));
    await grown.close();
    expect(() => grown.request({ history: [1], given: [], limit: 1 }, warm)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });

  it('refuses malformed rows and requests with typed errors', async () => {
    const addon = native.NativeLexicalIndex;
    const u32 = (...x: number[]) => Uint32Array.from(x);
    await expect(addon.build(2, u32(0, 1), u32(5), Float32Array.of(1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' }); // word past the vocabulary
    await expect(addon.build(2, u32(0, 2), u32(1), Float32Array.of(1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' }); // pointers past the entries
    await expect(addon.build(2, u32(0, 1), u32(1), Float32Array.of(Number.NaN))).rejects.toMatchObject({ code: 'NON_FINITE' });
    await expect(addon.build(2, u32(0, 1), u32(1), Float32Array.of(-1))).rejects.toMatchObject({ code: 'NON_FINITE' });
    expect(() => addon.build(2 ** 40, u32(0), u32(), new Float32Array())).toThrow(expect.objectContaining({ code: 'REQUEST_TOO_LARGE' })); // checked before any work
    const index = await addon.build(2, u32(0, 1, 2), u32(0, 1), Float32Array.of(1, 1));
    const warm = new Uint8Array(2);
    expect(() => index.query(u32(0, 1), u32(0), u32(0, 3), u32(0), u32(5), Infinity, warm, 1, 1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' })); // givenPtr past given
    expect(() => index.query(u32(0, 1), u32(0), u32(0, 0), u32(), u32(5), Infinity, warm, -1, 1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => index.query(u32(0, 1), u32(0), u32(0, 0), u32(), u32(5), Infinity, new Float32Array(2) as never, 1, 1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    await expect(index.withItems(u32(0, 1), u32(9), Float32Array.of(1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await index.close();
  });
});
