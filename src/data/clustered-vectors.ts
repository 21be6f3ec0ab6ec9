/**
 * Clustered vectors: Gaussian blobs around random centres. Nearest neighbours on such data are
 * close together in score (unlike uniform noise), which is what makes int8 recall a real test.
 */
import { LmrecError } from '../errors.js';
import { Random } from '../util/random.js';

const DEFAULT_SPREAD = 0.5;

export interface ClusteredOptions {
  n: number;
  dim: number;
  /** Number of cluster centres (default: sqrt(n), at least 1). */
  clusters?: number;
  /**
   * Spread of points around a centre, relative to the spread of the centres (default 0.5:
   * clusters overlap a little; at 0.3 neighbours nearly tie and int8 recall@10 drops to ~0.93).
   */
  spread?: number;
  seed?: number;
}

export interface ClusteredData {
  vectors: Float32Array;
  centres: Float32Array;
  clusters: number;
}

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

/** Queries drawn from the same clusters as `data` (a fresh seed, so not copies of stored vectors). */
export function clusteredQueries(data: ClusteredData, count: number, dim: number, seed = 7, spread = DEFAULT_SPREAD): Float32Array {
  const rng = new Random(seed);
  const out = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const c = rng.int(data.clusters) * dim;
    for (let d = 0; d < dim; d++) out[i * dim + d] = data.centres[c + d]! + spread * rng.normal();
  }
  return out;
}
