export { LmrecError, type LmrecErrorCode } from './errors.js';
export {
  VectorIndex,
  type Metric,
  type Storage,
  type VectorIndexOptions,
  type SearchOptions,
  type SearchResult,
  type LoadOptions,
} from './index/vector-index.js';
export { clusteredVectors, clusteredQueries, type ClusteredOptions, type ClusteredData } from './data/clustered-vectors.js';
export { probeMachine, type MachineLimits } from './machine.js';
export { Random } from './util/random.js';
