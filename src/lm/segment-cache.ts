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

  constructor(options: SegmentCacheOptions) {
    if (typeof options !== 'object' || options === null) throw new LmrecError('SegmentCache needs { budgetBytes }', 'INVALID_ARGUMENT');
    this.#native = (options as Partial<Adopt>)[ADOPT] ?? new native.NativeSegmentCache(options);
  }

  /** Reads a cache written by save(); entries beyond `budgetBytes` (the least recent) are dropped. */
  static async load(path: string, budgetBytes: number): Promise<SegmentCache> {
    const adopt: Adopt = { [ADOPT]: await native.NativeSegmentCache.load(path, budgetBytes) };
    return new SegmentCache(adopt as unknown as SegmentCacheOptions);
  }

  /** The states [tokens x dim] cached for the segment, or undefined (a miss). */
  get(model: string, layer: number, tokens: Int32Array, dim: number): Float32Array | undefined {
    return this.#live().get(model, layer, tokens, dim) ?? undefined;
  }

  /** Caches states [tokens x dim]; false when one entry would exceed the whole budget. */
  put(model: string, layer: number, tokens: Int32Array, states: Float32Array): boolean {
    return this.#live().put(model, layer, tokens, states);
  }

  /** Drops the entries of every other model (a swapped model invalidates them). */
  keepOnly(model: string): void {
    this.#live().keepOnly(model);
  }

  clear(): void {
    this.#live().clear();
  }

  get stats(): SegmentCacheStats {
    return this.#live().stats();
  }

  /** Writes the entries atomically (temp file, fsync, rename) with a checksum, off the JS thread. */
  async save(path: string): Promise<void> {
    return this.#live().save(path);
  }

  close(): void {
    this.#native?.close();
    this.#native = undefined;
  }

  #live(): NativeSegmentCache {
    if (!this.#native) throw new LmrecError('this cache was closed', 'CLOSED');
    return this.#native;
  }
}
