/**
 * `lmrec/train`: the models lmrec trains apart from Recommender.fit. The sequential recommender
 * (SASRec, with optional item features), pretraining lmrec's small LM on behaviour written as
 * text, block-wise distillation of a smaller student (SLMRec), and BPE tokenizers.
 * @module lmrec/train
 */
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
export { pretrain, type PretrainOptions, type PretrainReport } from './pretrain/pretrain.js';
export { distill, type DistillOptions, type DistillReport } from './pretrain/distill.js';
export type { TrainingProgress, TrainingStopReason } from './pretrain/training-run.js';
export { trainTokenizer, tokenizerFiles, type TrainTokenizerOptions, type TrainedTokenizer, type TokenizerFiles } from './lm/tokenizer-trainer.js';
