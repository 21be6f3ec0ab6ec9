/**
 * lmrec: the product. Tools for tests, benchmarks and demos live in `lmrec/tools`.
 * @module lmrec
 */
export { LmrecError, ERROR_CODES, type LmrecErrorCode } from './errors.js';
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
export { LateInteraction, type LateInteractionOptions } from './lm/late-interaction.js';
export { EarlyExit, type EarlyExitOptions, type EarlyExitResult, type ExitScoring } from './lm/early-exit.js';
export { ItemHead } from './lm/item-head.js';
export { SegmentCache, type SegmentCacheOptions, type SegmentCacheStats } from './lm/segment-cache.js';
export { type ModelConfig, type DecoderConfig, type EncoderConfig } from './lm/config.js';
export { readItems, readEvents, type ItemRecord, type EventRecord } from './data/records.js';
export { INPUT_LIMITS } from './data/limits.js';
export { IdMap, readInteractions, collectInteractions, readCatalogIds, type Interactions } from './data/interactions.js';
export { leaveOneOut, evaluate, popularityScorer, type Split, type LeaveOneOut, type Metrics, type Scorer, type EvaluateOptions } from './eval/leave-one-out.js';
export {
  SequentialRecommender,
  type SrmShapeOptions,
  type SrmTrainOptions,
  type SrmFitOptions,
  type EpochReport,
  type StopReason,
  type SrmInfo,
  type SrmScoreResult,
  type SrmTopKResult,
  type SrmUpdateOptions,
  type SrmUpdateReport,
  type SrmItemFeatures,
} from './srm/sequential-recommender.js';
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
} from './recommender/recommender.js';
export type { FieldFilter } from './recommender/catalog.js';
export { LmRanker, type LmRankerOptions } from './recommender/lm-ranker.js';
export type { SweepRow } from './recommender/layer-sweep.js';
export { pretrain, DEFAULT_MODEL_DIR, type PretrainOptions, type PretrainReport } from './pretrain/pretrain.js';
export { distill, type DistillOptions, type DistillReport } from './pretrain/distill.js';
export type { TrainingProgress, TrainingStopReason } from './pretrain/training-run.js';
export { trainTokenizer, tokenizerFiles, type TrainTokenizerOptions, type TrainedTokenizer, type TokenizerFiles } from './lm/tokenizer-trainer.js';
export {
  DeviceRecommender,
  type DeviceRecommenderOptions,
  type DeviceRecommendOptions,
  type DeviceRecommendations,
  type DeviceStats,
} from './collab/device-recommender.js';
export { validateReply, type CloudClient, type CloudReply, type CandidateList } from './collab/cloud.js';
export { FUSION_RULES, fusedScore, fusedOrder, candidateProbabilities, type FusionRule } from './collab/fusion.js';
export { inconsistency, thresholdForRate, ThresholdPolicy, RandomPolicy, DEFAULT_PAD_PENALTY, type RequestPolicy } from './collab/policy.js';
export { rerank, type CandidateScorer, type Reranked } from './collab/rerank.js';
export { evaluateCollab, DEFAULT_RATES, type CollabModel, type CollabEvalOptions, type CollabReport, type CollabQuality, type CollabMetrics, type CurvePoint } from './collab/evaluate.js';
