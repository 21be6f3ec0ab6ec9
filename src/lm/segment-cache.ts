/**
 * SegmentCache: the bottom-layer states of text segments (an item's text, a user profile),
 * keyed by (model, split layer, token ids), so that late interaction runs a model's bottom
 * layers once per segment for all users (M6-Rec). Native (native/core/cache): fp16 or int8
 * values with a scale per token, a byte budget kept by evicting the least recently used
 * entries, thread-safe, with statistics and optional persistence (atomic, checksummed).
 */
import { LmrecError } from '../errors.js';
import { native } from '../addon/loader.js';
import type { NativeSegmentCache, SegmentCacheStats } from '../addon/segment-cache.js';

export type { SegmentCacheStats };

export interface SegmentCacheOptions {
  /** Bytes the entries may take (values, token ids and bookkeeping). */
  budgetBytes: number;
  /** 'f16' (default; 2 bytes a value), 'int8' (1 byte a value plus a scale per token) or 'f32' (exact). */
  storage?: 'f16' | 'int8' | 'f32';
}


/** Module-private key: lets load() wrap a cache read off the JS thread. */
const ADOPT = Symbol('lmrec.adopt');
type Adopt = { readonly [ADOPT]: NativeSegmentCache };

export class SegmentCache {
  #native: NativeSegmentCache | undefined;

  /**
   * An empty cache; the least recently used entries make room for new ones.
   * @param options The byte budget (required) and how values are stored.
   */
  constructor(options: SegmentCacheOptions) {
    if (typeof options !== 'object' || options === null) throw new LmrecError('SegmentCache needs { budgetBytes }', 'INVALID_ARGUMENT');
    this.#native = (options as Partial<Adopt>)[ADOPT] ?? new native.NativeSegmentCache(options);
  }

  /**
   * Reads a cache written by save(); entries beyond `budgetBytes` (the least recent) are dropped.
   * @param path A file written by save().
   * @param budgetBytes The loaded cache's budget, in bytes.
   */
  static async load(path: string, budgetBytes: number): Promise<SegmentCache> {
    const adopt: Adopt = { [ADOPT]: await native.NativeSegmentCache.load(path, budgetBytes) };
    return new SegmentCache(adopt as unknown as SegmentCacheOptions);
  }

  /**
   * The states [tokens x dim] cached for the segment, or undefined (a miss).
   * @param model The model's id (LateInteraction.modelId).
   * @param layer The layer the states are of.
   * @param tokens The segment's token ids.
   * @param dim Floats per token; an entry of another width is a miss.
   */
  get(model: string, layer: number, tokens: Int32Array, dim: number): Float32Array | undefined {
    return this.#live().get(model, layer, tokens, dim) ?? undefined;
  }

  /**
   * Caches states [tokens x dim]; false when one entry would exceed the whole budget.
   * @param model The model's id.
   * @param layer The layer the states are of.
   * @param tokens The segment's token ids (at least one).
   * @param states tokens x dim finite floats (NON_FINITE otherwise); replaces an entry of the same key.
   */
  put(model: string, layer: number, tokens: Int32Array, states: Float32Array): boolean {
    return this.#live().put(model, layer, tokens, states);
  }

  /**
   * Drops the entries of every other model (a swapped model invalidates them).
   * @param model The id whose entries stay.
   */
  keepOnly(model: string): void {
    this.#live().keepOnly(model);
  }

  /** Drops every entry (the counters stay). */
  clear(): void {
    this.#live().clear();
  }

  /** Its counters and size, now. */
  get stats(): SegmentCacheStats {
    return this.#live().stats();
  }

  /**
   * Writes the entries atomically (temp file, fsync, rename) with a checksum, off the JS thread.
   * @param path The file to write.
   */
  async save(path: string): Promise<void> {
    return this.#live().save(path);
  }

  async close(): Promise<void> {
    this.#native?.close();
    this.#native = undefined;
  }

  #live(): NativeSegmentCache {
    if (!this.#native) throw new LmrecError('this cache was closed', 'CLOSED');
    return this.#native;
  }
}
