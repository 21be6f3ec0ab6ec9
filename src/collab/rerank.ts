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
  /**
   * 1 for each item the model learned from events, 0 for one it never saw in training (its
   * score is then a guess, and the fusion takes it as undecided). Absent: every item is known.
   */
  idMask?(): Uint8Array;
}

export interface Reranked {
  /** The SRM's scores of the candidates, in the cloud's order. */
  scores: Float32Array;
  /** sigmoid(score − the list's mean score), 0.5 for items the model never saw in training: the p_j of the fusion rules (candidateProbabilities). */
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
 * @param known The model's idMask() (1: an item it learned from events), taken once by the caller for many lists; absent: every item is known.
 */
export function rerank(srm: CandidateScorer, history: ArrayLike<number>, candidates: ArrayLike<number>, slots: number, padPenalty?: number, known?: Uint8Array): Reranked {
  const scores = candidates.length > 0 ? srm.score(history, candidates).scores : new Float32Array(0);
  const undecided = known ? Uint8Array.from(candidates, (i) => (known[i] ? 0 : 1)) : undefined;
  return { scores, probabilities: candidateProbabilities(scores, undecided), inconsistency: inconsistency(scores, slots, padPenalty) };
}
