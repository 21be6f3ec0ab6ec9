/**
 * `lmrec/eval`: leave-one-out evaluation with full ranking (history masked, ties at chance),
 * the interaction logs it reads, and the quality comparison against the baselines a
 * practitioner tries first (popularity, content TF-IDF, ID-only SRM, SRM + content).
 * @module lmrec/eval
 */
export { leaveOneOut, evaluate, popularityScorer, sampleSplits, type Split, type LeaveOneOut, type Metrics, type Scorer, type EvaluateOptions } from './eval/leave-one-out.js';
export { IdMap, readInteractions, collectInteractions, readCatalogIds, type Interactions } from './data/interactions.js';
export { compareModels, QUALITY_MODELS, type QualityOptions, type QualityResult, type QualityRow, type QualityVariant } from './eval/quality.js';
