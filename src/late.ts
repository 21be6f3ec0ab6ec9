/**
 * `lmrec/late`: M6-Rec's serving techniques and the LM stage. Late interaction (the bottom
 * layers run once per segment and are cached, the top layers per request), early exit, the
 * trained item head, and LmRanker (a model trained on the catalog, for Recommender.rerank).
 * @module lmrec/late
 */
export { LateInteraction, type LateInteractionOptions } from './lm/late-interaction.js';
export { SegmentCache, type SegmentCacheOptions, type SegmentCacheStats } from './lm/segment-cache.js';
export { EarlyExit, type EarlyExitOptions, type EarlyExitResult, type ExitScoring } from './lm/early-exit.js';
export { ItemHead } from './lm/item-head.js';
export { LmRanker, type LmRankerOptions } from './recommender/lm-ranker.js';
