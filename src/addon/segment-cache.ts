/** The native segment cache class (native/addon), as JS sees it. */

export interface SegmentCacheStats {
  hits: number;
  misses: number;
  /** Entries written (a replaced entry counts again). */
  insertions: number;
  evictions: number;
  /** Entries larger than the whole budget, not cached. */
  rejected: number;
  entries: number;
  /** Bytes held against the budget. */
  bytes: number;
  budgetBytes: number;
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
