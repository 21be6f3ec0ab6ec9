/**
 * `lmrec/collab`: device–cloud collaboration (LSC4Rec). The cloud proposes candidates, a small
 * recommendation model beside the user re-ranks them with real-time behaviour, the scores are
 * fused, and the device asks the cloud again only when the two rankings disagree.
 * @module lmrec/collab
 */
export {
  DeviceRecommender,
  type DeviceRecommenderOptions,
  type DeviceRecommendOptions,
  type DeviceRecommendations,
  type DeviceItem,
  type DeviceStats,
} from './collab/device-recommender.js';
export { validateReply, type CloudClient, type CloudReply, type CandidateList } from './collab/cloud.js';
export { FUSION_RULES, fusedScore, fusedOrder, candidateProbabilities, type FusionRule } from './collab/fusion.js';
export { inconsistency, thresholdForRate, ThresholdPolicy, RandomPolicy, DEFAULT_PAD_PENALTY, type RequestPolicy } from './collab/policy.js';
export { rerank as rerankCandidates, type CandidateScorer, type Reranked } from './collab/rerank.js';
export { evaluateCollab, DEFAULT_RATES, type CloudModel, type CollabModel, type CollabEvalOptions, type CollabReport, type CollabQuality, type CollabGroup, type CollabMetrics, type CurvePoint } from './collab/evaluate.js';
