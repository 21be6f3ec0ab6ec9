/**
 * TF-IDF item vectors: the lexical signal a small language model lacks (brands, product kinds,
 * film titles are words it never saw) and the content baseline every quality table shows.
 *
 *   word     = a maximal run of letters and digits, lower-cased
 *   tfidf_iw = count_iw · (ln((1 + n) / (1 + df_w)) + 1)      (scikit-learn's smooth idf)
 *   x_i      = tfidf_i / ‖tfidf_i‖                             (items without words: zero)
 *
 * Vectors are sparse (CSR) with an inverted index, so a profile scores the whole catalog in
 * time proportional to the postings of its words.
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { parseOptions } from '../util/options.js';

const WORD = /[\p{L}\p{N}]+/gu;

/** The words of a text, lower-cased, in order. */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

const optionsSchema = z.strictObject({
  minDf: z.number().int().min(1).default(2),
  maxDfShare: z.number().gt(0).max(1).default(0.5),
  maxWords: z.number().int().min(1).default(200_000),
});

export interface TfidfOptions {
  /** Words in fewer items are left out (they cannot relate two items). Default 2. */
  minDf?: number;
  /** Words in more than this share of items are left out (they say nothing). Default 0.5. */
  maxDfShare?: number;
  /** Most words kept, the most frequent first. Default 200,000. */
  maxWords?: number;
}

/** A sparse vector: word numbers (ascending) and their weights. */
export interface SparseVector {
  indices: Uint32Array;
  values: Float32Array;
}

export class TfidfVectors {
  /** word -> word number. */
  readonly vocabulary: ReadonlyMap<string, number>;
  /** Per word number: its idf. */
  readonly idf: Float32Array;
  /** Item i's words are indices[indptr[i] .. indptr[i+1]), with weights in values (L2-normalised). */
  readonly indptr: Uint32Array;
  readonly indices: Uint32Array;
  readonly values: Float32Array;
  // inverted index: word w's items are postItems[postPtr[w] .. postPtr[w+1]) with weights postValues
  readonly #postPtr: Uint32Array;
  readonly #postItems: Uint32Array;
  readonly #postValues: Float32Array;

  private constructor(vocabulary: Map<string, number>, idf: Float32Array, csr: Csr, postings?: Csr) {
    this.vocabulary = vocabulary;
    this.idf = idf;
    this.indptr = csr.ptr;
    this.indices = csr.index;
    this.values = csr.value;
    const p = postings ?? invert(csr, idf.length);
    this.#postPtr = p.ptr;
    this.#postItems = p.index;
    this.#postValues = p.value;
  }

  static #fromRows(vocabulary: Map<string, number>, idf: Float32Array, rows: readonly SparseVector[]): TfidfVectors {
    return new TfidfVectors(vocabulary, idf, rowsToCsr(rows));
  }

  /**
   * The same vocabulary and idf over the catalog grown by items with the vectors `rows` (from
   * transform(), numbered after the present items). No text is re-read: the rows are copied and
   * each word's postings merged with the new items' (they stay heaviest first), so adding an item
   * costs time in the postings, not in re-reading every item's text.
   */
  withRows(rows: readonly SparseVector[]): TfidfVectors {
    const added = rowsToCsr(rows);
    const n = this.items;
    const nnz = this.indices.length;
    const extra = added.index.length;
    const ptr = new Uint32Array(n + rows.length + 1);
    ptr.set(this.indptr);
    for (let i = 1; i <= rows.length; i++) ptr[n + i] = nnz + added.ptr[i]!;
    const index = new Uint32Array(nnz + extra);
    index.set(this.indices);
    index.set(added.index, nnz);
    const value = new Float32Array(nnz + extra);
    value.set(this.values);
    value.set(added.value, nnz);
    // the new items' postings, heaviest first, merged into each word's
    const fresh = invert(added, this.words);
    const V = this.words;
    // a word's postings start after the old and the new postings of the words before it
    const postPtr = this.#postPtr.map((at, w) => at + fresh.ptr[w]!);
    const postItems = new Uint32Array(nnz + extra);
    const postValues = new Float32Array(nnz + extra);
    // the runs of words without new postings move as blocks; the few words with some are merged
    let copied = 0; // old postings copied so far (those of the words before `w`)
    for (let w = 0; w < V; w++) {
      const bEnd = fresh.ptr[w + 1]!;
      let b = fresh.ptr[w]!;
      if (b === bEnd) continue;
      let a = this.#postPtr[w]!;
      const aEnd = this.#postPtr[w + 1]!;
      postItems.set(this.#postItems.subarray(copied, a), copied + fresh.ptr[w]!);
      postValues.set(this.#postValues.subarray(copied, a), copied + fresh.ptr[w]!);
      let at = postPtr[w]!;
      // ties: the old (lower-numbered) item first, as a full build orders them
      while (a < aEnd || b < bEnd) {
        const takeOld = b >= bEnd || (a < aEnd && this.#postValues[a]! >= fresh.value[b]!);
        if (takeOld) {
          postItems[at] = this.#postItems[a]!;
          postValues[at++] = this.#postValues[a++]!;
        } else {
          postItems[at] = n + fresh.index[b]!;
          postValues[at++] = fresh.value[b++]!;
        }
      }
      copied = aEnd;
    }
    postItems.set(this.#postItems.subarray(copied), copied + extra);
    postValues.set(this.#postValues.subarray(copied), copied + extra);
    return new TfidfVectors(this.vocabulary as Map<string, number>, this.idf, { ptr, index, value }, { ptr: postPtr, index: postItems, value: postValues });
  }

  /** Learns the vocabulary and idf from the item texts and returns their vectors. */
  static fit(texts: readonly string[], options: TfidfOptions = {}): TfidfVectors {
    const { minDf, maxDfShare: maxShare, maxWords } = parseOptions(optionsSchema, options, 'TfidfVectors.fit');
    const tokenized = texts.map(wordsOf);
    const df = new Map<string, number>();
    for (const ws of tokenized) for (const w of new Set(ws)) df.set(w, (df.get(w) ?? 0) + 1);
    const n = texts.length;
    const kept = [...df.entries()]
      .filter(([, d]) => d >= minDf && d <= Math.max(minDf, maxShare * n))
      // most frequent first, ties by the word, so the vocabulary is deterministic
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, maxWords);
    const vocabulary = new Map<string, number>();
    const idf = new Float32Array(kept.length);
    kept.forEach(([w, d], j) => {
      vocabulary.set(w, j);
      idf[j] = Math.log((1 + n) / (1 + d)) + 1;
    });
    return TfidfVectors.#fromRows(vocabulary, idf, tokenized.map((ws) => vectorOf(ws, vocabulary, idf)));
  }

  /**
   * Vectors of `texts` under a vocabulary learned before (`words[j]` is word number j, with
   * `idf[j]`): a saved model's, or the catalog's after items were added.
   */
  static withVocabulary(words: readonly string[], idf: Float32Array, texts: readonly string[]): TfidfVectors {
    if (words.length !== idf.length) throw new LmrecError(`${words.length} words but ${idf.length} idf values`, 'DIM_MISMATCH');
    const vocabulary = new Map<string, number>();
    words.forEach((w, j) => vocabulary.set(w, j));
    if (vocabulary.size !== words.length) throw new LmrecError('the vocabulary names a word twice', 'INVALID_DATA');
    for (const x of idf) if (!(Number.isFinite(x) && x > 0)) throw new LmrecError('idf values must be positive numbers', 'INVALID_DATA');
    return TfidfVectors.#fromRows(vocabulary, idf, texts.map((t) => vectorOf(wordsOf(t), vocabulary, idf)));
  }

  /** The vocabulary in word-number order. */
  wordList(): string[] {
    const out = new Array<string>(this.idf.length);
    for (const [w, j] of this.vocabulary) out[j] = w;
    return out;
  }

  /** Items the vectors cover. */
  get items(): number {
    return this.indptr.length - 1;
  }

  get words(): number {
    return this.idf.length;
  }

  /** The vector of a text not among the fitted items (words outside the vocabulary are dropped). */
  transform(text: string): SparseVector {
    return vectorOf(wordsOf(text), this.vocabulary, this.idf);
  }

  /** The items' vectors averaged, scaled to unit length (zero when they have no words). */
  profile(items: ArrayLike<number>, into: Float32Array = new Float32Array(this.words), touched: number[] = []): { dense: Float32Array; touched: number[] } {
    for (let j = 0; j < items.length; j++) {
      const i = items[j]!;
      for (let p = this.indptr[i]!; p < this.indptr[i + 1]!; p++) {
        const w = this.indices[p]!;
        if (into[w] === 0) touched.push(w);
        into[w]! += this.values[p]!;
      }
    }
    let norm = 0;
    for (const w of touched) norm += into[w]! * into[w]!;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (const w of touched) into[w]! *= scale;
    return { dense: into, touched };
  }

  /** Cosine of item `item` with a profile (dense over words), from the item's own words. */
  dot(profile: Float32Array, item: number): number {
    let sum = 0;
    for (let p = this.indptr[item]!; p < this.indptr[item + 1]!; p++) sum += profile[this.indices[p]!]! * this.values[p]!;
    return sum;
  }

  /**
   * Cosine of every item with a profile (dense over words, nonzero at `touched`), added into
   * `out` (length items) times `weight`, reading every posting of the profile's words. `reached`,
   * when given (length items), gets each item whose entry of `out` was 0 before (with a zeroed
   * `out`: the items sharing a word with the profile); it is a typed array rather than a growing
   * list, which costs tens of ns a push. Returns how many items were reached. (Served requests
   * read a bounded number of postings in the native lexical index instead.)
   */
  addScores(profile: Float32Array, touched: readonly number[], out: Float32Array, weight = 1, reached?: Int32Array): number {
    const postItems = this.#postItems;
    const postValues = this.#postValues;
    let n = 0;
    for (const w of touched) {
      const pw = profile[w]! * weight;
      if (pw === 0) continue;
      for (let p = this.#postPtr[w]!; p < this.#postPtr[w + 1]!; p++) {
        const i = postItems[p]!;
        // `out` starts at zero where a caller lists the items reached (stored weights are positive)
        if (reached && out[i] === 0) reached[n++] = i;
        out[i]! += pw * postValues[p]!;
      }
    }
    return n;
  }
}

function vectorOf(ws: readonly string[], vocabulary: ReadonlyMap<string, number>, idf: Float32Array): SparseVector {
  const counts = new Map<number, number>();
  for (const w of ws) {
    const j = vocabulary.get(w);
    if (j !== undefined) counts.set(j, (counts.get(j) ?? 0) + 1);
  }
  const indices = Uint32Array.from([...counts.keys()].sort((a, b) => a - b));
  const values = new Float32Array(indices.length);
  let norm = 0;
  indices.forEach((j, p) => {
    values[p] = counts.get(j)! * idf[j]!;
    norm += values[p]! * values[p]!;
  });
  if (norm > 0) for (let p = 0; p < values.length; p++) values[p]! /= Math.sqrt(norm);
  return { indices, values };
}

/** A sparse matrix by rows: row r's columns are index[ptr[r] .. ptr[r+1]), with weights in value. */
export interface Csr {
  ptr: Uint32Array;
  index: Uint32Array;
  value: Float32Array;
}

/** Sparse vectors as the rows of one matrix. */
export function rowsToCsr(rows: readonly SparseVector[]): Csr {
  const ptr = new Uint32Array(rows.length + 1);
  rows.forEach((r, i) => (ptr[i + 1] = ptr[i]! + r.indices.length));
  const index = new Uint32Array(ptr[rows.length]!);
  const value = new Float32Array(index.length);
  rows.forEach((r, i) => {
    index.set(r.indices, ptr[i]);
    value.set(r.values, ptr[i]);
  });
  return { ptr, index, value };
}

/** The transpose of `rows` over `columns` columns (the inverted index), each column's entries heaviest first (ties: the lower row). */
function invert(rows: Csr, columns: number): Csr {
  const ptr = new Uint32Array(columns + 1);
  for (const w of rows.index) ptr[w + 1]!++;
  for (let w = 0; w < columns; w++) ptr[w + 1]! += ptr[w]!;
  const index = new Uint32Array(rows.index.length);
  const value = new Float32Array(rows.index.length);
  const fill = ptr.slice(0, columns);
  for (let i = 0; i + 1 < rows.ptr.length; i++) {
    for (let p = rows.ptr[i]!; p < rows.ptr[i + 1]!; p++) {
      const at = fill[rows.index[p]!]!++;
      index[at] = i;
      value[at] = rows.value[p]!;
    }
  }
  for (let w = 0; w < columns; w++) {
    const from = ptr[w]!;
    const to = ptr[w + 1]!;
    if (to - from < 2) continue;
    const order = Array.from({ length: to - from }, (_, j) => from + j);
    order.sort((a, b) => value[b]! - value[a]! || index[a]! - index[b]!);
    const items = order.map((p) => index[p]!);
    const weights = order.map((p) => value[p]!);
    index.set(items, from);
    value.set(weights, from);
  }
  return { ptr, index, value };
}

