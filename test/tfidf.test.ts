import { describe, expect, it } from 'vitest';
import { ContentScores, highest, scoreOf } from '../src/recommender/content-scores.js';
import { TfidfVectors, wordsOf } from '../src/text/tfidf.js';

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

describe('ContentScores', () => {
  const tf = TfidfVectors.fit(texts, { minDf: 1, maxDfShare: 1 });
  const cosines = (history: number[]) => {
    const row = new Float32Array(texts.length);
    const { dense, touched } = tf.profile(history);
    tf.addScores(dense, touched, row);
    return row;
  };

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

  it('lists as candidates exactly the items with a nonzero content part', () => {
    const c = new ContentScores(tf, 1.5, 0);
    const warm = Uint8Array.from([1, 1, 1, 1, 1, 1, 0]);
    const cos = cosines([0]);
    const { items, scores } = c.candidates([0], warm);
    expect(items).toEqual([...cos.keys()].filter((i) => cos[i] !== 0 && warm[i]));
    items.forEach((i, j) => expect(scores[j]).toBeCloseTo(1.5 * cos[i]!, 6));
    expect(items).not.toContain(2); // shares no word with item 0
    expect(items).not.toContain(6); // cold, and the cold weight is 0
    expect(new ContentScores(tf, 0, 0).candidates([0], warm).items).toEqual([]);
    // the highest few (ties: the lower item), in item order; a score looked up by item
    const all = new ContentScores(tf, 1).candidates([0, 1], Uint8Array.from(texts, () => 1));
    const order = all.items.map((i, j) => [i, all.scores[j]!] as const).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    for (const limit of [1, 2, 3, 100]) {
      const kept = highest(all.items, all.scores, limit);
      expect(kept.items).toEqual(order.slice(0, limit).map(([i]) => i).sort((a, b) => a - b));
      kept.items.forEach((i, j) => expect(kept.scores[j]).toBe(scoreOf(all.items, all.scores, i)));
    }
    expect(scoreOf(all.items, all.scores, 2)).toBe(0);
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

  it('keeps its vocabulary over a grown catalog', () => {
    const c = new ContentScores(tf, 1);
    const grown = c.withTexts([...texts, 'lego fire boat']);
    expect(grown.tfidf.items).toBe(texts.length + 1);
    expect(grown.tfidf.wordList()).toEqual(tf.wordList());
    const row = new Float32Array(texts.length + 1);
    grown.addTo([0], row, new Uint8Array(texts.length + 1));
    expect(row[texts.length]).toBeGreaterThan(0);
  });
});
