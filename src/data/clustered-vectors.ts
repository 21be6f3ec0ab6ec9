/**
 * Clustered vectors: Gaussian blobs around random centres. Nearest neighbours on such data are
 * close together in score (unlike uniform noise), which is what makes int8 recall a real test.
 */
import { LmrecError } from '../errors.js';
import { Random } from '../util/random.js';

const DEFAULT_SPREAD = 0.5;

export interface ClusteredOptions {
  /** Vectors to generate, at least 1. */
  n: number;
  /** Their dimension, at least 1. */
  dim: number;
  /** Number of cluster centres (default: sqrt(n), at least 1). */
  clusters?: number;
  /**
   * Spread of points around a centre, relative to the spread of the centres (default 0.5:
   * clusters overlap a little; at 0.3 neighbours nearly tie and int8 recall@10 drops to ~0.93).
   */
  spread?: number;
  /** Seed of the centres and points (default 1): the same seed gives the same data. */
  seed?: number;
}

export interface ClusteredData {
  /** The points, n x dim floats, row after row. */
  vectors: Float32Array;
  /** The cluster centres, clusters x dim floats (standard normal). */
  centres: Float32Array;
  /** Number of centres. */
  clusters: number;
}

/**
 * n points in Gaussian blobs around random centres.
 * @param options How many vectors, their dimension, the clusters, the spread and the seed.
 */
export function clusteredVectors(options: ClusteredOptions): ClusteredData {
  const { n, dim } = options;
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(dim) || dim < 1) {
    throw new LmrecError('clusteredVectors needs integer n >= 1 and dim >= 1', 'INVALID_ARGUMENT');
  }
  const clusters = options.clusters ?? Math.max(1, Math.round(Math.sqrt(n)));
  const spread = options.spread ?? DEFAULT_SPREAD;
  const rng = new Random(options.seed ?? 1);
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.normal();
  const vectors = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters) * dim;
    for (let d = 0; d < dim; d++) vectors[i * dim + d] = centres[c + d]! + spread * rng.normal();
  }
  return { vectors, centres, clusters };
}

/**
 * Queries drawn from the same clusters as `data` (a fresh seed, so not copies of stored vectors).
 * @param data The clusters to draw from (clusteredVectors's result).
 * @param count How many queries.
 * @param dim The vectors' dimension (the data's).
 * @param seed Seed of the draw (default 7: not the data's default 1).
 * @param spread Spread around a centre, as ClusteredOptions.spread (default 0.5).
 */
export function clusteredQueries(data: ClusteredData, count: number, dim: number, seed = 7, spread = DEFAULT_SPREAD): Float32Array {
  const rng = new Random(seed);
  const out = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const c = rng.int(data.clusters) * dim;
    for (let d = 0; d < dim; d++) out[i * dim + d] = data.centres[c + d]! + spread * rng.normal();
  }
  return out;
}
