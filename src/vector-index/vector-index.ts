/**
 * VectorIndex: k-nearest-neighbour search over compact vectors, backed by the native core.
 *
 * Vectors are stored as int8 codes with a per-vector scale (or f16/f32) in a block layout that
 * the SIMD kernels scan a block of queries at a time. By default every code is scanned (exact
 * search over the codes); with `partitions` the index is partitioned by k-means (IVF) and a
 * query scans only the partitions nearest to it, for large catalogs. `searchBatch`, `add`,
 * `remove`, `save` and `load` run off the JS thread; `search` runs one query on the calling
 * thread.
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { native } from '../addon/loader.js';
import { parseOptions } from '../util/options.js';
import type { NativeIdFilter, NativeIndex, NativeIndexInfo, NativeSearchResult } from '../addon/vector-index.js';

export type Metric = 'ip' | 'cosine' | 'l2';
export type Storage = 'int8' | 'f16' | 'f32';
/** SIMD kernel families; `VectorIndex.kernels()` lists the ones this CPU runs. */
export type Kernel = 'avx512vnni' | 'avx2' | 'neon' | 'scalar';

export interface VectorIndexOptions {
  /** Vector dimension, 1..65536. */
  dim: number;
  /** 'ip' (inner product, default), 'cosine', or 'l2' (squared Euclidean distance). */
  metric?: Metric;
  /** Code type: 'int8' (default, 1 byte a dimension), 'f16' or 'f32'. */
  storage?: Storage;
  /** Keep fp32 copies so searches can re-rank candidates exactly (`rescore`). */
  keepOriginals?: boolean;
  /** Threads one search may use; default: every hardware thread. */
  threads?: number;
  /** Force a kernel; default: the best for this CPU. */
  kernel?: Kernel;
  /**
   * Partition the vectors (inverted file, IVF): 'auto' (about sqrt(n) partitions) or a count.
   * The index scans everything until it holds enough vectors to train (16,384 for 'auto',
   * 32 per partition otherwise), then trains k-means on a sample and puts every vector in its
   * nearest partition; it trains again when it has doubled or a partition has grown past 8x
   * the mean. Each training calibrates `probe` against recall (see SearchOptions.recall).
   * `has()` scans the ids of a partitioned index (it keeps no id map, to stay compact).
   */
  partitions?: 'auto' | number;
  /** Seed of the partitioned index's k-means and calibration samples (default 42). */
  seed?: number;
}

export interface SearchOptions {
  /**
   * Re-rank exactly in fp32: `true` takes the top 4k by codes, a number r the top r*k.
   * Needs `keepOriginals`.
   */
  rescore?: boolean | number;
  /**
   * Ids the search may not return. Applied while scanning, so the result still holds the k
   * best admitted vectors (never fewer because the best were filtered out afterwards).
   */
  exclude?: ArrayLike<number>;
  /** The only ids the search may return (with `exclude`, minus those). */
  only?: ArrayLike<number>;
  /** Partitioned indexes: partitions scanned per query (more: slower, higher recall). */
  probe?: number;
  /**
   * Partitioned indexes: the recall@10 to aim for, 0 < recall <= 1 (default 0.95, unless
   * `probe` is given). The probe count is read from the calibration made at training, which
   * measures the partitions' pruning against a scan of every partition.
   */
  recall?: number;
}

/** A partitioned index's state: partitions in use and its probe-vs-recall calibration. */
export interface PartitionInfo {
  count: number;
  calibration: { probe: number; recall: number }[];
}

/**
 * A ranking, best first: the shape of every result in lmrec that ranks things. Holds
 * min(k, available) entries.
 */
export interface SearchResult {
  /** The ids (item numbers where a model ranks items), best first. */
  ids: number[];
  /** Similarity for 'ip' and 'cosine' (higher is better); squared distance for 'l2'. */
  scores: number[];
}

export interface VectorIndexLoadOptions {
  /** Memory-map the file instead of reading it; the index is copied only when modified. */
  mmap?: boolean;
  /**
   * Check the file's checksum and that every stored value is finite and in range (reads the
   * whole file once; about twice the time of the checksum alone). Default true. Unverified
   * loads are for trusted files: damage then surfaces as CORRUPT_FILE from a search, or as
   * wrong scores.
   */
  verify?: boolean;
  /** Threads one search may use; default: every hardware thread. */
  threads?: number;
  /** Force a kernel (UNSUPPORTED when this CPU lacks it); default: the best for this CPU. */
  kernel?: Kernel;
}

const DEFAULT_RESCORE = 4;

const optionsSchema = z.strictObject({
  dim: z.number(),
  metric: z.enum(['ip', 'cosine', 'l2']).default('ip'),
  storage: z.enum(['int8', 'f16', 'f32']).default('int8'),
  keepOriginals: z.boolean().default(false),
  threads: z.number().default(0),
  kernel: z.string().optional(),
  partitions: z.union([z.literal('auto'), z.number()]).optional(),
  seed: z.number().optional(),
});

const loadSchema = z.strictObject({
  mmap: z.boolean().default(false),
  verify: z.boolean().default(true),
  threads: z.number().default(0),
  kernel: z.string().optional(),
});

/** Module-private key: lets load() wrap a native index built off-thread. */
const ADOPT = Symbol('lmrec.adopt');
type Adopt = { readonly [ADOPT]: NativeIndex };

export class VectorIndex {
  readonly #native: NativeIndex;
  readonly #info: NativeIndexInfo;

  /**
   * An empty index.
   * @param options The dimension (required), metric, storage, threads, kernel and partitioning.
   */
  constructor(options: VectorIndexOptions) {
    const adopted = typeof options === 'object' && options !== null ? (options as Partial<Adopt>)[ADOPT] : undefined;
    // the types here, the ranges (and which kernels this CPU has) natively, where they are known
    this.#native = adopted ?? new native.NativeIndex(parseOptions(optionsSchema, options ?? null, 'VectorIndex'));
    this.#info = this.#native.info();
  }

  /** Kernels this CPU can run, best first. */
  static kernels(): Kernel[] {
    return native.kernels() as Kernel[];
  }

  /**
   * Loads an index written by `save`. Corrupt, truncated or foreign files are rejected.
   * @param path A file written by save().
   * @param options Memory-mapping, verification, threads and kernel.
   */
  static async load(path: string, options: VectorIndexLoadOptions = {}): Promise<VectorIndex> {
    const loaded = await native.NativeIndex.load(path, parseOptions(loadSchema, options, 'VectorIndex.load'));
    return new VectorIndex({ [ADOPT]: loaded } as Adopt as unknown as VectorIndexOptions);
  }

  get dim(): number {
    return this.#info.dim;
  }
  get metric(): Metric {
    return this.#info.metric;
  }
  get storage(): Storage {
    return this.#info.storage;
  }
  /** The kernel this index scans with. */
  get kernel(): Kernel {
    return this.#info.kernel as Kernel;
  }
  get size(): number {
    return this.#native.size();
  }
  /** Whether the index is partitioned (IVF). */
  get partitioned(): boolean {
    return this.#info.partitioned;
  }
  /** Partitions in use (1 for a flat index or a partitioned one not trained yet) and the calibration curve. */
  get partitions(): PartitionInfo {
    return this.#native.partitions();
  }
  /** Bytes of memory this index holds (a memory-mapped file's pages are not counted). */
  get memoryBytes(): number {
    return this.#native.memoryBytes();
  }

  /**
   * A new empty index with this one's options; a partitioned index's copy also keeps its
   * partitions: the copy's first `add` puts the vectors into them and calibrates `recall`
   * without running k-means. For rebuilding over vectors that have moved a little (a model's
   * item embeddings after an update) in a fraction of a training's time; the rules that train
   * again (doubling, lopsided partitions) hold after that. A copy saved before its first add
   * has no partitions yet.
   */
  emptyCopy(): VectorIndex {
    return new VectorIndex({ [ADOPT]: this.#native.emptyCopy() } as Adopt as unknown as VectorIndexOptions);
  }

  /**
   * Adds vectors: `vectors` is either n*dim floats, row after row, or n arrays of dim numbers.
   * All-or-nothing: a duplicate id or a bad value adds nothing. Runs off the JS thread (it
   * waits for searches in flight); searches see the vectors once the promise resolves. A
   * Float32Array is read there, where it lies, not copied first: leave it unchanged until the
   * promise settles (as with fs.write's buffers).
   * @param ids One id per vector: non-negative safe integers, new to the index.
   * @param vectors n*dim floats row after row, or n arrays of dim numbers; finite values only.
   */
  async add(ids: ArrayLike<number>, vectors: Float32Array | ArrayLike<number>[]): Promise<void> {
    return this.#native.add(toIds(ids), toMatrix(vectors, this.dim, 'vectors'));
  }

  /**
   * Removes ids. All-or-nothing: an unknown id removes nothing. Runs off the JS thread.
   * @param ids Ids in the index.
   */
  async remove(ids: ArrayLike<number>): Promise<void> {
    return this.#native.remove(toIds(ids));
  }

  /**
   * Whether the index holds `id` (a partitioned index scans its ids for it).
   * @param id The id to look for.
   */
  has(id: number): boolean {
    return this.#native.has(id);
  }

  /**
   * The k best matches of one query, on the calling thread (fast for one query): min(k, size)
   * of them. Requests are bounded before any memory is allocated (REQUEST_TOO_LARGE).
   * @param query dim numbers.
   * @param k How many matches, a positive integer.
   * @param options Exact re-scoring, id filters, and the probe or recall of a partitioned index.
   */
  search(query: Float32Array | ArrayLike<number>, k: number, options: SearchOptions = {}): SearchResult {
    checkK(k);
    const q = toMatrix([query], this.dim, 'query');
    return split(this.#native.search(q, k, rescoreFactor(options), idFilter(options), options.probe, options.recall))[0] ?? { ids: [], scores: [] };
  }

  /**
   * The k best matches of each query (min(k, size) each), computed off the JS thread.
   * @param queries n*dim floats row after row, or n arrays of dim numbers.
   * @param k Matches per query, a positive integer.
   * @param options The same for every query, as search()'s.
   */
  async searchBatch(
    queries: Float32Array | ArrayLike<number>[],
    k: number,
    options: SearchOptions = {},
  ): Promise<SearchResult[]> {
    checkK(k);
    const q = toMatrix(queries, this.dim, 'queries');
    const results = split(await this.#native.searchAsync(q, k, rescoreFactor(options), idFilter(options), options.probe, options.recall));
    // a filter that admits nothing gives every query an empty result
    return results.length > 0 ? results : Array.from({ length: q.length / this.dim }, () => ({ ids: [], scores: [] }));
  }

  /**
   * Writes the index atomically (temp file, fsync, rename) with a checksum. Replace index
   * files only this way (or any write-then-rename): a server that memory-mapped the old file
   * keeps reading it safely, while overwriting a mapped file in place (`cp` over it,
   * truncating it) makes the kernel kill the mapping process with SIGBUS.
   * @param path The file to write (replaced if it exists).
   */
  async save(path: string): Promise<void> {
    // async, so bad arguments reject like any other failure instead of throwing
    return this.#native.save(path);
  }

  /**
   * Frees the index's memory (or mapping) now rather than at garbage collection, off the JS
   * thread (resolved once it is freed). Calls in flight finish first; any later call fails
   * with CLOSED.
   */
  async close(): Promise<void> {
    await this.#native.close();
  }
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new LmrecError(`k must be a positive integer, got ${String(k)}`, 'INVALID_K');
}

function idFilter(options: SearchOptions): NativeIdFilter | undefined {
  const { exclude, only } = options;
  if (only === undefined) return exclude === undefined ? undefined : { ids: toIds(exclude), only: false };
  if (exclude === undefined || exclude.length === 0) return { ids: toIds(only), only: true };
  const skip = new Set(Array.from(exclude));
  return { ids: Float64Array.from(Array.from(only).filter((id) => !skip.has(id))), only: true };
}

function rescoreFactor(options: SearchOptions): number {
  const r = options.rescore;
  if (r === undefined || r === false) return 0;
  if (r === true) return DEFAULT_RESCORE;
  if (!Number.isInteger(r) || r < 1) {
    throw new LmrecError(`rescore must be true or an integer >= 1, got ${String(r)}`, 'INVALID_ARGUMENT');
  }
  return r;
}

function toIds(ids: ArrayLike<number>): Float64Array {
  if (ids instanceof Float64Array) return ids;
  if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') {
    throw new LmrecError('ids must be an array of numbers', 'INVALID_ARGUMENT');
  }
  return Float64Array.from(ids);
}

/** Flattens queries or vectors into one Float32Array of rows of `dim`. */
function toMatrix(rows: Float32Array | ArrayLike<number>[], dim: number, what: string): Float32Array {
  if (rows instanceof Float32Array) return rows;
  if (rows === null || typeof rows !== 'object' || typeof rows.length !== 'number') {
    throw new LmrecError(`${what} must be a Float32Array or an array of number arrays`, 'INVALID_ARGUMENT');
  }
  const out = new Float32Array(rows.length * dim);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row === null || typeof row !== 'object' || typeof row.length !== 'number') {
      throw new LmrecError(`${what}[${i}] is not an array of numbers`, 'INVALID_ARGUMENT');
    }
    if (row.length !== dim) {
      throw new LmrecError(`${what}[${i}] has ${row.length} values; the index dimension is ${dim}`, 'DIM_MISMATCH');
    }
    for (let d = 0; d < dim; d++) {
      const v = row[d];
      if (typeof v !== 'number') {
        throw new LmrecError(`${what}[${i}][${d}] is not a number`, 'INVALID_ARGUMENT');
      }
      out[i * dim + d] = v;
    }
  }
  return out;
}

function split(r: NativeSearchResult): SearchResult[] {
  const out: SearchResult[] = [];
  const k = r.k;
  for (let q = 0; q * k < r.ids.length; q++) {
    out.push({
      ids: Array.from(r.ids.subarray(q * k, (q + 1) * k)),
      scores: Array.from(r.scores.subarray(q * k, (q + 1) * k)),
    });
  }
  return out;
}
