/**
 * The indexes requests read, swapped whole when the model changes: the item embeddings e_i
 * (inner product: recommend(); cosine: similar() by behaviour) and the int8 codes (cosine:
 * similar() by content), with the fp32 vectors and the mask of warm items they were built from.
 */
import type { SequentialRecommender } from '../srm/sequential-recommender.js';
import { VectorIndex } from '../vector-index/vector-index.js';
import type { IndexChoice, IndexInfo } from './options.js';

/** index 'auto': partitioned from this many items (the exact scan of one query passes ~1 ms at dim 64 around here). */
const PARTITIONED_FROM = 200_000;

/** What requests read at one moment. */
export interface Serving {
  /** e_i, inner product: recommend(). */
  index: VectorIndex;
  /** e_i, cosine: similar() by behaviour. */
  similar: VectorIndex;
  /** The int8 codes, cosine: similar() by content. */
  content: VectorIndex;
  vectors: Float32Array;
  codes: Float32Array;
  /** 1 for items with an ID embedding; its length is the number of items indexed. */
  warm: Uint8Array;
}

export class ServingIndexes {
  #now: Serving | undefined;
  readonly #choice: IndexChoice;
  // kept across reindexes, so that an update allocates no large array: the item numbers
  // 0..n-1, and the buffers the serving before the current one used for its vectors and codes
  // (the next reindex writes into them). Each grows by a quarter when the catalog outgrows it:
  // allocating and zeroing tens of MB on every added item stalled the JS thread.
  #ids = new Float64Array(0);
  #spareVectors: Float32Array | undefined;
  #spareCodes: Float32Array | undefined;

  constructor(choice: IndexChoice = 'auto') {
    this.#choice = choice;
  }

  /** The indexes now (after the first reindex). */
  get now(): Serving {
    return this.#now!;
  }

  /** Exact or partitioned, recommend()'s partitions (1 when exact), and the bytes all three hold. */
  get info(): IndexInfo {
    const { index, similar, content } = this.now;
    return { kind: index.partitioned ? 'partitioned' : 'exact', partitions: index.partitions.count, bytes: index.memoryBytes + similar.memoryBytes + content.memoryBytes };
  }

  /**
   * Brings the indexes up to the SRM's current item embeddings for `n` items, then swaps them
   * in. The embeddings change with every SRM update: two new indexes over them. The codes
   * change only when items are added (updates train neither the compression module nor the
   * codes once fit has dropped the features): the content index and the codes are kept until
   * the catalog grows. The embeddings are written off the JS thread into the array the serving
   * before last used, and the ids array is kept, so an update allocates no new JS arrays.
   */
  async reindex(srm: SequentialRecommender, n: number): Promise<void> {
    const old = this.#now;
    const grown = !old || old.warm.length !== n;
    const dim = srm.info.dim;
    const vectors = view(this.#spareVectors, n * dim);
    this.#spareVectors = undefined;
    await srm.itemVectorsInto(vectors);
    let codes = old?.codes;
    if (grown) {
      codes = view(this.#spareCodes, n * srm.info.codeDim);
      this.#spareCodes = undefined;
      await srm.codesInto(codes);
    }
    const warm = srm.idMask();
    if (this.#ids.length < n) this.#ids = Float64Array.from({ length: Math.max(n, Math.ceil(this.#ids.length * 1.25)) }, (_, i) => i);
    const ids = this.#ids.subarray(0, n);
    const c = this.#choice;
    const partitions = c === 'exact' || (c === 'auto' && n < PARTITIONED_FROM) ? undefined : typeof c === 'object' ? c.partitions : 'auto';
    // a partitioned index of the same kind is refilled in its partitions (no k-means per update)
    const make = (d: number, metric: 'ip' | 'cosine', like: VectorIndex | undefined) =>
      partitions !== undefined && like?.partitioned && like.dim === d
        ? like.emptyCopy()
        : new VectorIndex({ dim: d, metric, keepOriginals: true, threads: 1, ...(partitions === undefined ? {} : { partitions }) });
    const index = make(dim, 'ip', old?.index);
    const similar = make(dim, 'cosine', old?.similar);
    const content = grown ? make(codes!.length / n, 'cosine', old?.content) : old.content;
    try {
      await Promise.all([index.add(ids, vectors), similar.add(ids, vectors), ...(grown ? [content.add(ids, codes!)] : [])]);
    } catch (e) {
      for (const x of grown ? [index, similar, content] : [index, similar]) x.close();
      throw e;
    }
    this.#now = { index, similar, content, vectors, codes: codes!, warm };
    if (old) {
      for (const x of grown ? [old.index, old.similar, old.content] : [old.index, old.similar]) x.close();
      this.#spareVectors = old.vectors;
      if (grown) this.#spareCodes = old.codes;
    }
  }

  close(): void {
    if (!this.#now) return;
    for (const x of [this.#now.index, this.#now.similar, this.#now.content]) x.close();
  }
}

/** `length` floats: a view of `buffer` when it has room, else of a new buffer a quarter larger. */
function view(buffer: Float32Array | undefined, length: number): Float32Array {
  if (buffer && buffer.buffer.byteLength >= length * 4) return new Float32Array(buffer.buffer, 0, length);
  return new Float32Array(Math.ceil(length * 1.25)).subarray(0, length);
}
