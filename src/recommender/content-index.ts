/**
 * The content part of served requests, in the native core (native/core/content): the item
 * vectors and their inverted index live there, and a batch of requests is answered off the JS
 * thread (on a large catalog a request's walk over the postings cost the JS thread about half a
 * millisecond, a third of what a server can answer in a second). The arithmetic is the same as
 * test/helpers/content-reference.ts's, which the tests hold it to.
 */
import { native } from '../addon/loader.js';
import type { NativeLexicalAnswers, NativeLexicalIndex } from '../addon/lexical-index.js';
import { rowsToCsr, type SparseVector } from '../text/tfidf.js';
import type { ContentScores } from './content-scores.js';

/**
 * Postings a served request reads at most (about 0.1 ms): on a large catalog a profile's common
 * words reach most items, and reading every posting made recommend() several times slower.
 */
export const CONTENT_POSTINGS = 32_768;

/** One request's content side. */
export interface ContentRequest {
  /** The content parts of the items asked about, in their order. */
  given: Float64Array;
  /** The best items by content part, ascending, and their parts. */
  items: number[];
  scores: number[];
}

/** What one request asks of the content part. */
export interface ContentAsk {
  /** The request's history, oldest first (its last `recent` items make the profile). */
  history: readonly number[];
  /** Items whose exact parts are wanted (the SRM's candidates). */
  given: ArrayLike<number>;
  /** How many of the best items by content part to return. */
  limit: number;
}

export class ContentIndex {
  readonly #native: NativeLexicalIndex;
  readonly #content: ContentScores;

  private constructor(index: NativeLexicalIndex, content: ContentScores) {
    this.#native = index;
    this.#content = content;
  }

  /** The native index over `content`'s item vectors, built off the JS thread. */
  static async build(content: ContentScores): Promise<ContentIndex> {
    const t = content.tfidf;
    return new ContentIndex(await native.NativeLexicalIndex.build(t.words, t.indptr, t.indices, t.values), content);
  }

  /** This index grown by new items' vectors (`content` being the grown content part), off the JS thread. */
  async withItems(content: ContentScores, rows: readonly SparseVector[]): Promise<ContentIndex> {
    const csr = rowsToCsr(rows);
    return new ContentIndex(await this.#native.withItems(csr.ptr, csr.index, csr.value), content);
  }

  /** Items indexed. */
  get items(): number {
    return this.#native.items();
  }

  /**
   * One request on the JS thread: the parts of its `given` items (exact), and its `limit` best
   * items with nonzero parts among those its profile's words reach (ties: the lower item), in
   * item order, with exact parts. The walk reads at most `postings` postings, the strongest
   * words' heaviest first, so a request costs a bounded time on any catalog; when the words
   * reach more, the best are chosen among the 4 × limit leaders of the partial sums and scored
   * exactly. What the bound can cost is recall of the content side's own best, never a wrong score.
   * Items added after this index was built have no words here.
   * @param warm 1 for items with an ID embedding (their part is weighted `weight`, the others `coldWeight`).
   */
  request(ask: ContentAsk, warm: Uint8Array, postings = CONTENT_POSTINGS): ContentRequest {
    return this.#unpack(this.#native.query(...this.#pack([ask], warm, postings)), [ask])[0]!;
  }

  /** request() for many requests at once, off the JS thread. */
  async requests(asks: readonly ContentAsk[], warm: Uint8Array, postings = CONTENT_POSTINGS): Promise<ContentRequest[]> {
    if (asks.length === 0) return [];
    return this.#unpack(await this.#native.queryAsync(...this.#pack(asks, warm, postings)), asks);
  }

  /** Frees the native index off the JS thread; requests in flight finish first. */
  close(): Promise<void> {
    return this.#native.close();
  }

  #pack(asks: readonly ContentAsk[], warm: Uint8Array, postings: number): Parameters<NativeLexicalIndex['query']> {
    const recent = (h: readonly number[]) => Math.min(h.length, this.#content.recent);
    const historyPtr = new Uint32Array(asks.length + 1);
    const givenPtr = new Uint32Array(asks.length + 1);
    asks.forEach((a, j) => {
      historyPtr[j + 1] = historyPtr[j]! + recent(a.history);
      givenPtr[j + 1] = givenPtr[j]! + a.given.length;
    });
    const history = new Uint32Array(historyPtr[asks.length]!);
    const given = new Uint32Array(givenPtr[asks.length]!);
    asks.forEach((a, j) => {
      for (let x = 0, from = a.history.length - recent(a.history); from + x < a.history.length; x++) history[historyPtr[j]! + x] = a.history[from + x]!;
      for (let x = 0; x < a.given.length; x++) given[givenPtr[j]! + x] = a.given[x]!;
    });
    const limits = Uint32Array.from(asks, (a) => a.limit);
    return [historyPtr, history, givenPtr, given, limits, postings, warm, this.#content.weight, this.#content.coldWeight];
  }

  #unpack(answers: NativeLexicalAnswers, asks: readonly ContentAsk[]): ContentRequest[] {
    let g = 0;
    return asks.map((a, j) => {
      const given = answers.given.slice(g, g + a.given.length);
      g += a.given.length;
      const from = answers.itemsPtr[j]!;
      const to = answers.itemsPtr[j + 1]!;
      return { given, items: Array.from(answers.items.subarray(from, to)), scores: Array.from(answers.scores.subarray(from, to)) };
    });
  }
}
