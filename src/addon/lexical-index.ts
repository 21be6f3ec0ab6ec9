/** The native lexical index class (native/addon/lexical_wrap), as JS sees it. */

/** Answers of a batch: request j's best items are items[itemsPtr[j] .. itemsPtr[j+1]) with their scores; `given` holds every request's given parts, in order. */
export interface NativeLexicalAnswers {
  given: Float64Array;
  itemsPtr: Uint32Array;
  items: Uint32Array;
  scores: Float64Array;
}

/**
 * Request j reads history[historyPtr[j] .. historyPtr[j+1]) and given[givenPtr[j] ..
 * givenPtr[j+1]) and wants its limits[j] best items; at most `postings` postings are read per
 * request (Infinity: all). Parts are weight (warm[i] != 0) or coldWeight times the cosine.
 */
type QueryArgs = [
  historyPtr: Uint32Array,
  history: Uint32Array,
  givenPtr: Uint32Array,
  given: Uint32Array,
  limits: Uint32Array,
  postings: number,
  warm: Uint8Array,
  weight: number,
  coldWeight: number,
];

export interface NativeLexicalIndex {
  /** This index grown by rows of new items (CSR over the same words), off the JS thread. */
  withItems(ptr: Uint32Array, index: Uint32Array, value: Float32Array): Promise<NativeLexicalIndex>;
  query(...args: QueryArgs): NativeLexicalAnswers;
  queryAsync(...args: QueryArgs): Promise<NativeLexicalAnswers>;
  items(): number;
  memoryBytes(): number;
  /** Releases the index off the JS thread. */
  close(): Promise<void>;
}

export interface NativeLexicalIndexConstructor {
  /** Item rows (CSR: word numbers below `words`, positive weights), the inverted index built off the JS thread. */
  build(words: number, ptr: Uint32Array, index: Uint32Array, value: Float32Array): Promise<NativeLexicalIndex>;
}
