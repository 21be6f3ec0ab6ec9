/**
 * The lexical part of the Recommender's score. A small language model's states blur what
 * tells catalog items apart most sharply (brands, series, product kinds, film titles: words it
 * never learned), and a user's next item often shares exactly those words with their recent
 * ones. So beside the SRM's score the Recommender adds
 *
 *   content_i = w_i · cos(mean of the TF-IDF vectors of the last `recent` history items, tfidf_i)
 *   w_i       = `weight` for items with an ID embedding (training events), `coldWeight` for the rest
 *
 * Both chosen on validation in fit (0 turns a part off). Cold items have only their code beside
 * it, far less than a warm item's ID embedding knows, so their text must count for more for them
 * to compete at all: coldWeight is chosen for warm and cold validation targets alike (see
 * chooseColdWeight). The vectors are sparse, and a
 * profile touches only the items sharing one of its words (an inverted index); a served request
 * reads a bounded number of those postings, the heaviest first (see content-index.ts).
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { TfidfVectors, type SparseVector } from '../text/tfidf.js';

/** What a saved recommender keeps of its content part (the item vectors are rebuilt from the texts). */
export interface ContentState {
  weight: number;
  coldWeight: number;
  recent: number;
  words: string[];
  idf: number[];
}

const stateSchema = z.strictObject({
  weight: z.number().min(0).max(1e6),
  coldWeight: z.number().min(0).max(1e6),
  recent: z.number().int().min(1).max(1e6),
  words: z.array(z.string()),
  idf: z.array(z.number()),
});

/** Items the profile reads: the most recent ones, as the baseline that shows the signal does. */
export const CONTENT_RECENT = 50;

/**
 * The weights of the content part, its vocabulary and the catalog's vectors, and the exact
 * content part of every item for evaluation (addTo). Served requests read the same vectors
 * through ContentIndex, the native index built from them.
 */
export class ContentScores {
  readonly weight: number;
  readonly coldWeight: number;
  readonly recent: number;
  #tfidf: TfidfVectors;
  // rows of items added since #tfidf was built: merged in when the vectors are next read, since
  // serving reads them natively and merging on every added item cost the JS thread O(catalog)
  #pending: readonly SparseVector[];
  // scratch of addTo (the JS thread runs one at a time), made on first use
  #scratch: { profile: Float32Array; row: Float32Array; reached: Int32Array } | undefined;

  constructor(tfidf: TfidfVectors, weight: number, coldWeight = weight, recent = CONTENT_RECENT, pending: readonly SparseVector[] = []) {
    this.#tfidf = tfidf;
    this.weight = weight;
    this.coldWeight = coldWeight;
    this.recent = recent;
    this.#pending = pending;
  }

  /** From a saved state (checked: INVALID_DATA when it is not one) and the catalog's texts. */
  static restore(state: unknown, texts: readonly string[]): ContentScores {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) throw new LmrecError(`not a content state: ${parsed.error.issues[0]?.message ?? 'malformed'}`, 'INVALID_DATA');
    const s = parsed.data;
    return new ContentScores(TfidfVectors.withVocabulary(s.words, Float32Array.from(s.idf), texts), s.weight, s.coldWeight, s.recent);
  }

  /** The item vectors, every added item's included. */
  get tfidf(): TfidfVectors {
    if (this.#pending.length > 0) {
      this.#tfidf = this.#tfidf.withRows(this.#pending);
      this.#pending = [];
      this.#scratch = undefined;
    }
    return this.#tfidf;
  }

  /**
   * The same vocabulary and weights over the catalog grown by `texts` (only they are read), and
   * the new items' vectors (for ContentIndex.withItems).
   */
  withItems(texts: readonly string[]): { content: ContentScores; rows: SparseVector[] } {
    const rows = texts.map((t) => this.#tfidf.transform(t));
    return { content: new ContentScores(this.#tfidf, this.weight, this.coldWeight, this.recent, [...this.#pending, ...rows]), rows };
  }

  state(): ContentState {
    return { weight: this.weight, coldWeight: this.coldWeight, recent: this.recent, words: this.#tfidf.wordList(), idf: Array.from(this.#tfidf.idf) };
  }

  get active(): boolean {
    return this.weight > 0 || this.coldWeight > 0;
  }

  /** The weight of item `item`'s part: `weight` when warm[item] (it has an ID embedding), else `coldWeight`. */
  weightOf(item: number, warm: Uint8Array): number {
    return warm[item] ? this.weight : this.coldWeight;
  }

  /**
   * The content part of every item's score added into `out` (a catalog-size row): w_i x cosine,
   * w_i by `warm` (1: the item has an ID embedding; items past its end count as cold). Exact:
   * every posting of the profile's words is read (evaluation scores the whole catalog).
   */
  addTo(history: ArrayLike<number>, out: Float32Array, warm: Uint8Array): void {
    if (!this.active) return;
    const tfidf = this.tfidf;
    const s = (this.#scratch ??= { profile: new Float32Array(tfidf.words), row: new Float32Array(tfidf.items), reached: new Int32Array(tfidf.items) });
    const from = Math.max(0, history.length - this.recent);
    const { touched } = tfidf.profile(Array.prototype.slice.call(history, from) as number[], s.profile);
    const reached = tfidf.addScores(s.profile, touched, s.row, 1, s.reached);
    for (let j = 0; j < reached; j++) {
      const i = s.reached[j]!;
      out[i]! += this.weightOf(i, warm) * s.row[i]!;
      s.row[i] = 0;
    }
    for (const w of touched) s.profile[w] = 0;
  }
}
