/** The native segment cache class (native/addon), as JS sees it. */

export interface SegmentCacheStats {
  /** Lookups that found their segment (with the same width). */
  hits: number;
  /** Lookups that found nothing. */
  misses: number;
  /** Entries written (a replaced entry counts again). */
  insertions: number;
  /** Entries dropped, least recently used first, to make room for new ones. */
  evictions: number;
  /** Entries larger than the whole budget, not cached. */
  rejected: number;
  /** Entries held now. */
  entries: number;
  /** Bytes held against the budget. */
  bytes: number;
  /** The most bytes the entries may take (the budget given). */
  budgetBytes: number;
  /** How the cached values are stored: 'f16', 'int8' (plus a scale per token) or 'f32'. */
  storage: 'f16' | 'int8' | 'f32';
}

export interface NativeSegmentCache {
  get(model: string, layer: number, tokens: Int32Array, dim: number): Float32Array | null;
  put(model: string, layer: number, tokens: Int32Array, states: Float32Array): boolean;
  keepOnly(model: string): void;
  clear(): void;
  stats(): SegmentCacheStats;
  save(path: string): Promise<void>;
  /** The concurrency check of native/core/cache/stress.h (tests). */
  stress(threads: number, opsPerThread: number, seed: number): Promise<{ ops: number; hits: number; wrongValues: number; overBudget: number; maxBytes: number }>;
  close(): void;
}

export interface NativeSegmentCacheConstructor {
  new (options: { budgetBytes: number; storage?: 'f16' | 'int8' | 'f32' | undefined }): NativeSegmentCache;
  load(path: string, budgetBytes: number): Promise<NativeSegmentCache>;
}
