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
 * reads a bounded number of those postings, the heaviest first (CONTENT_POSTINGS).
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

/**
 * Postings a served request reads at most (about 0.1 ms): on a large catalog a profile's common
 * words reach most items, and reading every posting made recommend() several times slower.
 */
export const CONTENT_POSTINGS = 32_768;

/** One request's content side (ContentScores.forRequest). */
export interface ContentRequest {
  /** The content parts of the items asked about, in their order. */
  given: Float64Array;
  /** The best items by content part, ascending, and their parts. */
  items: number[];
  scores: number[];
}

export class ContentScores {
  readonly tfidf: TfidfVectors;
  readonly weight: number;
  readonly coldWeight: number;
  readonly recent: number;
  // scratch of one request (the JS thread runs one at a time): a dense profile and item scores
  #profile: Float32Array;
  #scores: Float32Array;
  #touched: number[] = [];
  #reached: Int32Array;
  #partItems: Int32Array;
  #parts: Float64Array;

  constructor(tfidf: TfidfVectors, weight: number, coldWeight = weight, recent = CONTENT_RECENT) {
    this.tfidf = tfidf;
    this.weight = weight;
    this.coldWeight = coldWeight;
    this.recent = recent;
    this.#profile = new Float32Array(tfidf.words);
    this.#scores = new Float32Array(tfidf.items);
    this.#reached = new Int32Array(tfidf.items);
    this.#partItems = new Int32Array(tfidf.items);
    this.#parts = new Float64Array(tfidf.items);
  }

  /** From a saved state (checked: INVALID_DATA when it is not one) and the catalog's texts. */
  static restore(state: unknown, texts: readonly string[]): ContentScores {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) throw new LmrecError(`not a content state: ${parsed.error.issues[0]?.message ?? 'malformed'}`, 'INVALID_DATA');
    const s = parsed.data;
    return new ContentScores(TfidfVectors.withVocabulary(s.words, Float32Array.from(s.idf), texts), s.weight, s.coldWeight, s.recent);
  }

  /** The same vocabulary and weights over the catalog grown by `texts` (only they are read). */
  withItems(texts: readonly string[]): ContentScores {
    return new ContentScores(this.tfidf.withItems(texts), this.weight, this.coldWeight, this.recent);
  }

  state(): ContentState {
    return { weight: this.weight, coldWeight: this.coldWeight, recent: this.recent, words: this.tfidf.wordList(), idf: Array.from(this.tfidf.idf) };
  }

  get active(): boolean {
    return this.weight > 0 || this.coldWeight > 0;
  }

  /**
   * The content part of every item's score added into `out` (a catalog-size row): w_i x cosine,
   * w_i by `warm` (1: the item has an ID embedding; items past its end count as cold). Exact:
   * every posting of the profile's words is read (evaluation scores the whole catalog).
   */
  addTo(history: ArrayLike<number>, out: Float32Array, warm: Uint8Array): void {
    if (!this.active) return;
    const { n } = this.#reach(this.#profileOf(history), warm, Infinity);
    this.#clearProfile();
    const items = this.#partItems;
    const parts = this.#parts;
    for (let j = 0; j < n; j++) out[items[j]!]! += parts[j]!;
  }

  /**
   * One request's content side, for serving: the content parts of the `given` items (exact), and
   * the `limit` items with the highest nonzero parts among those the profile's words reach (ties:
   * the lower item), in item order, with exact parts. The walk over the postings reads at most
   * `postings` of them, the strongest words' heaviest postings first, so that a request costs a
   * bounded time on any catalog; when the words reach more, the best are chosen among the 4 ×
   * limit leaders of the partial sums and scored exactly. What the bound can cost is recall of
   * the content side's own best, never a wrong score.
   */
  forRequest(history: ArrayLike<number>, warm: Uint8Array, given: ArrayLike<number>, limit: number, postings = CONTENT_POSTINGS): ContentRequest {
    const parts = new Float64Array(given.length);
    if (!this.active) return { given: parts, items: [], scores: [] };
    const touched = this.#profileOf(history);
    const profile = this.#profile;
    for (let j = 0; j < given.length; j++) parts[j] = this.#weightOf(given[j]!, warm) * this.tfidf.dot(profile, given[j]!);
    const { n, complete } = this.#reach(touched, warm, postings);
    let best = highest(this.#partItems, this.#parts, complete ? limit : 4 * limit, n);
    if (!complete) {
      best.scores = best.items.map((i) => this.#weightOf(i, warm) * this.tfidf.dot(profile, i));
      best = highest(best.items, best.scores, limit);
    }
    this.#clearProfile();
    return { given: parts, items: best.items, scores: best.scores };
  }

  /**
   * The items the scratch profile's words reach (reading at most `postings` postings) with
   * their nonzero content parts w_i x (partial) cosine, into the scratch lists #partItems and
   * #parts (the first `n`); the score row is left zeroed for the next request.
   */
  #reach(touched: readonly number[], warm: Uint8Array, postings: number): { n: number; complete: boolean } {
    const row = this.#scores;
    const reached = this.#reached;
    const walk = this.tfidf.addScores(this.#profile, touched, row, 1, reached, postings);
    const items = this.#partItems;
    const parts = this.#parts;
    let n = 0;
    for (let j = 0; j < walk.reached; j++) {
      const i = reached[j]!;
      const part = this.#weightOf(i, warm) * row[i]!;
      row[i] = 0;
      if (part !== 0) {
        items[n] = i;
        parts[n++] = part;
      }
    }
    return { n, complete: walk.complete };
  }

  #weightOf(item: number, warm: Uint8Array): number {
    return warm[item] ? this.weight : this.coldWeight;
  }

  /** Fills the scratch profile from the last `recent` history items; returns its words. */
  #profileOf(history: ArrayLike<number>): number[] {
    const from = Math.max(0, history.length - this.recent);
    const recent = Array.prototype.slice.call(history, from) as number[];
    this.#touched.length = 0;
    return this.tfidf.profile(recent, this.#profile, this.#touched).touched;
  }

  #clearProfile(): void {
    for (const w of this.#touched) this.#profile[w] = 0;
    this.#touched.length = 0;
  }
}

/** The `limit` highest of the first `n` scores with their items, in item order, by a min-heap of that size (ties: the lower item kept). */
export function highest(items: ArrayLike<number>, scores: ArrayLike<number>, limit: number, n = items.length): { items: number[]; scores: number[] } {
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
  let j = 0;
  for (; j < n && heap.length < limit; j++) {
    heap.push(j);
    for (let at = heap.length - 1; at > 0; ) {
      const up = (at - 1) >> 1;
      if (!weaker(heap[at]!, heap[up]!)) break;
      [heap[at], heap[up]] = [heap[up]!, heap[at]!];
      at = up;
    }
  }
  // the heap is full: most scores fall below its weakest and are passed over here, without a call
  let floor = heap.length > 0 ? scores[heap[0]!]! : Infinity;
  for (; j < n; j++) {
    const s = scores[j]!;
    if (s < floor || (s === floor && items[j]! > items[heap[0]!]!)) continue;
    heap[0] = j;
    down(0);
    floor = scores[heap[0]!]!;
  }
  heap.sort((a, b) => items[a]! - items[b]!);
  return { items: heap.map((x) => items[x]!), scores: heap.map((x) => scores[x]!) };
}
