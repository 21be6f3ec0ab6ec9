/** The native VectorIndex class (native/addon/vector_index_wrap), as JS sees it. */

export interface NativeSearchResult {
  ids: Float64Array;
  scores: Float32Array;
  /** Results per query: min(k, size). */
  k: number;
}

export interface NativeIndexInfo {
  dim: number;
  metric: 'ip' | 'cosine' | 'l2';
  storage: 'int8' | 'f16' | 'f32';
  keepOriginals: boolean;
  threads: number;
  kernel: string;
  partitioned: boolean;
}

export interface NativeIndex {
  add(ids: Float64Array, vectors: Float32Array): Promise<void>;
  remove(ids: Float64Array): Promise<void>;
  /** Releases the index off the JS thread. */
  close(): Promise<void>;
  has(id: number): boolean;
  size(): number;
  memoryBytes(): number;
  info(): NativeIndexInfo;
  partitions(): { count: number; calibration: { probe: number; recall: number }[] };
  search(queries: Float32Array, k: number, rescore: number, filter?: NativeIdFilter, probe?: number, recall?: number): NativeSearchResult;
  searchAsync(
    queries: Float32Array,
    k: number,
    rescore: number,
    filter?: NativeIdFilter,
    probe?: number,
    recall?: number,
  ): Promise<NativeSearchResult>;
  emptyCopy(): NativeIndex;
  save(path: string): Promise<void>;
}

export interface NativeIndexConstructor {
  new (options: {
    dim: number;
    metric: string;
    storage: string;
    keepOriginals: boolean;
    threads: number;
    kernel?: string | undefined;
    partitions?: 'auto' | number | undefined;
    seed?: number | undefined;
  }): NativeIndex;
  load(
    path: string,
    options: { mmap: boolean; verify: boolean; threads: number; kernel?: string | undefined },
  ): Promise<NativeIndex>;
}


/** Training options as the addon reads them (see srm_config.h); absent fields take defaults. */
/** Ids a search may return: all but `ids`, or with `only`, just them. */
export interface NativeIdFilter {
  ids: Float64Array;
  only: boolean;
}
