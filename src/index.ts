/**
 * lmrec: language-model-powered recommendations. The entry holds the product: the Recommender,
 * the vector index and the language model it is built on, the readers, and the error type.
 * Specialist parts have entries of their own: `lmrec/late` (late interaction, early exit, the
 * LM stage), `lmrec/collab` (device–cloud collaboration), `lmrec/train` (the SRM, pretraining,
 * distillation, tokenizers), `lmrec/eval` (evaluation), `lmrec/serve` (the HTTP service from
 * code), `lmrec/tools` (generators and probes for tests and benchmarks).
 * @module lmrec
 */
export { LmrecError, ERROR_CODES, type LmrecErrorCode } from './errors.js';
export {
  Recommender,
  type RecommenderFitOptions,
  type FitProgress,
  type FitReport,
  type RecommendRequest,
  type Recommendations,
  type ScoredItem,
  type ItemView,
  type SimilarOptions,
  type RecommenderLoadOptions,
  type IndexChoice,
  type IndexInfo,
  type AddEventsReport,
  type RerankStage,
  type LayerSweep,
} from './recommender/recommender.js';
export type { FieldFilter } from './recommender/catalog.js';
export type { SweepRow } from './recommender/layer-sweep.js';
export {
  VectorIndex,
  type Metric,
  type Storage,
  type Kernel,
  type VectorIndexOptions,
  type SearchOptions,
  type SearchResult,
  type VectorIndexLoadOptions,
} from './vector-index/vector-index.js';
export {
  LanguageModel,
  type LanguageModelOptions,
  type EncodeOptions,
  type EncodeLayersOptions,
  type HiddenStatesOptions,
  type LogitsOptions,
  type TruncateOptions,
  type Pooling,
  type LayerRef,
  type ModelInput,
} from './lm/language-model.js';
export type { Precision } from './lm/onnx/ops.js';
export type { ModelConfig, DecoderConfig, EncoderConfig } from './lm/config.js';
export { readItems, readEvents, type ItemRecord, type EventRecord } from './data/records.js';
export { INPUT_LIMITS } from './data/limits.js';
