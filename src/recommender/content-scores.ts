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
 * profile touches only the items sharing one of its words (an inverted index), so a request
 * pays for the postings of its words, not for the catalog.
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { TfidfVectors } from '../text/tfidf.js';

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

export class ContentScores {
  readonly tfidf: TfidfVectors;
  readonly weight: number;
  readonly coldWeight: number;
  readonly recent: number;
  // scratch of one request (the JS thread runs one at a time): a dense profile and item scores
  #profile: Float32Array;
  #scores: Float32Array;
  #touched: number[] = [];
  #reached: number[] = [];

  constructor(tfidf: TfidfVectors, weight: number, coldWeight = weight, recent = CONTENT_RECENT) {
    this.tfidf = tfidf;
    this.weight = weight;
    this.coldWeight = coldWeight;
    this.recent = recent;
    this.#profile = new Float32Array(tfidf.words);
    this.#scores = new Float32Array(tfidf.items);
  }

  /** From a saved state (checked: INVALID_DATA when it is not one) and the catalog's texts. */
  static restore(state: unknown, texts: readonly string[]): ContentScores {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) throw new LmrecError(`not a content state: ${parsed.error.issues[0]?.message ?? 'malformed'}`, 'INVALID_DATA');
    const s = parsed.data;
    return new ContentScores(TfidfVectors.withVocabulary(s.words, Float32Array.from(s.idf), texts), s.weight, s.coldWeight, s.recent);
  }

  /** The same vocabulary and weight over a grown catalog's texts. */
  withTexts(texts: readonly string[]): ContentScores {
    return new ContentScores(TfidfVectors.withVocabulary(this.tfidf.wordList(), this.tfidf.idf, texts), this.weight, this.coldWeight, this.recent);
  }

  state(): ContentState {
    return { weight: this.weight, coldWeight: this.coldWeight, recent: this.recent, words: this.tfidf.wordList(), idf: Array.from(this.tfidf.idf) };
  }

  get active(): boolean {
    return this.weight > 0 || this.coldWeight > 0;
  }

  /**
   * The content part of every item's score added into `out` (a catalog-size row): w_i x cosine,
   * w_i by `warm` (1: the item has an ID embedding; items past its end count as cold).
   */
  addTo(history: ArrayLike<number>, out: Float32Array, warm: Uint8Array): void {
    if (!this.active) return;
    const { items, scores } = this.candidates(history, warm);
    for (let j = 0; j < items.length; j++) out[items[j]!]! += scores[j]!;
  }

  /**
   * The items sharing a word with the history's profile (ascending) and their content parts:
   * every other item's is 0.
   */
  candidates(history: ArrayLike<number>, warm: Uint8Array): { items: number[]; scores: number[] } {
    const items: number[] = [];
    const scores: number[] = [];
    if (!this.active) return { items, scores };
    const { touched } = this.#profileOf(history);
    const row = this.#scores;
    // the items in the postings of the profile's words, listed as they are reached: a request
    // pays for those, not for a scan of the catalog
    const reached = this.#reached;
    reached.length = 0;
    this.tfidf.addScores(this.#profile, touched, row, 1, reached);
    this.#clearProfile();
    reached.sort((a, b) => a - b);
    for (const i of reached) {
      const w = warm[i] ? this.weight : this.coldWeight;
      if (w !== 0) {
        items.push(i);
        scores.push(w * row[i]!);
      }
      row[i] = 0;
    }
    return { items, scores };
  }

  #profileOf(history: ArrayLike<number>): { touched: number[] } {
    const from = Math.max(0, history.length - this.recent);
    const recent = Array.prototype.slice.call(history, from) as number[];
    this.#touched.length = 0;
    return this.tfidf.profile(recent, this.#profile, this.#touched);
  }

  #clearProfile(): void {
    for (const w of this.#touched) this.#profile[w] = 0;
    this.#touched.length = 0;
  }
}

/** The `limit` highest scores with their items, in item order, by a min-heap of that size (ties: the lower item kept). */
export function highest(items: number[], scores: number[], limit: number): { items: number[]; scores: number[] } {
  const heap: number[] = []; // positions into items/scores; heap[0] is the weakest kept
  const weaker = (a: number, b: number) => scores[a]! < scores[b]! || (scores[a] === scores[b] && items[a]! > items[b]!);
  const down = (at: number) => {
    for (;;) {
      const l = 2 * at + 1;
      const r = l + 1;
      let m = at;
      if (l < heap.length && weaker(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && weaker(heap[r]!, heap[m]!)) m = r;
      if (m === at) return;
      [heap[at], heap[m]] = [heap[m]!, heap[at]!];
      at = m;
    }
  };
  for (let j = 0; j < items.length; j++) {
    if (heap.length < limit) {
      heap.push(j);
      for (let at = heap.length - 1; at > 0; ) {
        const up = (at - 1) >> 1;
        if (!weaker(heap[at]!, heap[up]!)) break;
        [heap[at], heap[up]] = [heap[up]!, heap[at]!];
        at = up;
      }
    } else if (weaker(heap[0]!, j)) {
      heap[0] = j;
      down(0);
    }
  }
  heap.sort((a, b) => items[a]! - items[b]!);
  return { items: heap.map((j) => items[j]!), scores: heap.map((j) => scores[j]!) };
}

/** The score of `item` in item-ascending lists (0 when absent: the content part of an item sharing no word). */
export function scoreOf(items: readonly number[], scores: readonly number[], item: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid]! < item) lo = mid + 1;
    else hi = mid;
  }
  return items[lo] === item ? scores[lo]! : 0;
}
