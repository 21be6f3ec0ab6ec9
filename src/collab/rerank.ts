/**
 * The device's step on a cloud list: the SRM scores the candidates after the real-time
 * history, which gives both the fusion's probabilities and the request policy's inconsistency.
 */
import { candidateProbabilities } from './fusion.js';
import { inconsistency } from './policy.js';

/**
 * The device model as the collaboration needs it: scores of given candidates after a history,
 * and its own best items when it has no list to re-rank. SequentialRecommender is one; so can
 * be a model running elsewhere (a browser), which is why this is an interface.
 */
export interface CandidateScorer {
  /** Items 0..items-1 the model knows. */
  readonly items: number;
  /**
   * Scores of the candidates as the next item after the history (higher is better).
   * @param history The real-time history, item numbers oldest first.
   * @param candidates Item numbers to score (the cloud's list, in its order).
   */
  score(history: ArrayLike<number>, candidates: ArrayLike<number>): {
    /** One per candidate, in their order; −Infinity for one the model cannot score. */
    scores: Float32Array;
  };
  /**
   * The model's own k best items after the history, best first (min(k, eligible items) of them).
   * @param history The real-time history, item numbers oldest first.
   * @param k How many, a positive integer.
   * @param options How to rank.
   * @param options.excludeHistory Leave out the history's items (default true).
   */
  topK(history: ArrayLike<number>, k: number, options?: { excludeHistory?: boolean }): {
    /** Item numbers, best first. */
    ids: number[];
    /** Their scores (higher is better). */
    scores: number[];
  };
}

export interface Reranked {
  /** The SRM's scores of the candidates, in the cloud's order. */
  scores: Float32Array;
  /** sigmoid(score − the list's mean score): the p_j of the fusion rules (candidateProbabilities). */
  probabilities: Float64Array;
  /** The list's inconsistency S (see policy.ts). */
  inconsistency: number;
}

/**
 * Scores a list of valid candidates (in the cloud's order) that was asked for `slots` long.
 * @param srm The device model.
 * @param history The real-time history, item numbers oldest first.
 * @param candidates The list's valid candidates, in the cloud's order.
 * @param slots N, the list length asked of the cloud (at least the number of candidates).
 * @param padPenalty Inconsistency added per empty slot (default 1).
 */
export function rerank(srm: CandidateScorer, history: ArrayLike<number>, candidates: ArrayLike<number>, slots: number, padPenalty?: number): Reranked {
  const scores = candidates.length > 0 ? srm.score(history, candidates).scores : new Float32Array(0);
  return { scores, probabilities: candidateProbabilities(scores), inconsistency: inconsistency(scores, slots, padPenalty) };
}
