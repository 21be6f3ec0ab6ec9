/**
 * LSC4Rec's score fusion: the cloud's ranked candidate list meets the device SRM's view of the
 * same candidates. For the candidate at LLM rank j (0-based, among the valid candidates, best
 * first) of a list of N slots, with p_j the SRM's probability for that candidate (see
 * candidateProbabilities), each rule gives a score; higher is better:
 *
 *   'llm-only'    −j                                             the cloud's order as it came
 *   'gated'       0.5 − j/N + (p_j − 0.5)·[|p_j − 0.5| > 0.4]     the SRM moves an item only
 *                                                                when it is confident (p_j <
 *                                                                0.1 or p_j > 0.9): LSC4Rec's
 *                                                                default
 *   'sum'         −j/N + (p_j − 0.5)                              rank and probability summed
 *   'sum-srm-x2'  −j/N + 2(p_j − 0.5)                             the same, the SRM weighted twice
 *   'srm-only'    p_j                                             the SRM's re-ranking alone
 *
 * The LSC4Rec code writes (j+1)/N; j/N (as in the issue) differs by a constant, so the orders
 * are the same. Candidates with equal scores keep the cloud's order, so every order is
 * deterministic.
 */
import { LmrecError } from '../errors.js';

export const FUSION_RULES = ['llm-only', 'gated', 'sum', 'sum-srm-x2', 'srm-only'] as const;

export type FusionRule = (typeof FUSION_RULES)[number];

/** The gate of 'gated': the SRM counts only where |p − 0.5| exceeds this. */
const GATE = 0.4;

/**
 * The fused score of the candidate at LLM rank j of n slots with SRM probability p.
 * @param rule One of FUSION_RULES.
 * @param j The candidate's LLM rank, 0-based.
 * @param n N, the slots of the list (the candidates asked of the cloud).
 * @param p The SRM's probability for the candidate, in [0, 1] (candidateProbabilities).
 */
export function fusedScore(rule: FusionRule, j: number, n: number, p: number): number {
  switch (rule) {
    case 'llm-only':
      return 0 - j; // not -j: the first would be -0, which JSON writes as 0
    case 'gated':
      return 0.5 - j / n + (Math.abs(p - 0.5) > GATE ? p - 0.5 : 0);
    case 'sum':
      return -j / n + (p - 0.5);
    case 'sum-srm-x2':
      return -j / n + 2 * (p - 0.5);
    case 'srm-only':
      return p;
    default:
      throw unknownRule(rule);
  }
}

function unknownRule(rule: unknown): LmrecError {
  return new LmrecError(`unknown fusion rule '${String(rule)}' (one of ${FUSION_RULES.join(', ')})`, 'INVALID_ARGUMENT');
}

/**
 * The SRM's probability for each candidate of a list: sigmoid(s_j − s̄), s̄ the mean score of
 * the list's scorable candidates. LSC4Rec feeds the fusion its SRM's sigmoid output per
 * candidate (a pointwise click probability, 0.5 undecided: the gate's |p − 0.5| > 0.4 and the
 * sums' (p − 0.5) are read against that). lmrec's SRM is trained with a softmax, whose scores
 * are log-odds up to a constant; centred on the list's mean, sigmoid(s_j − s̄) is the
 * probability the SRM prefers candidate j to the list's typical candidate — 0.5 for an average
 * one, near 1 or 0 only where the SRM is sure. A candidate it cannot score (−Infinity) gets 0.
 * A candidate the SRM never saw in training (`undecided`) gets 0.5, and its score, a guess,
 * stays out of the mean: the fusion then keeps the cloud's rank for it. (An ID-only SRM ranks
 * an item it never saw near the bottom; on Amazon Sports, where 15% of the test targets are
 * such items and the cloud finds them by their text, that threw away most of the cloud's hits.)
 * @param scores The SRM's scores of the list's candidates, in the cloud's order; −Infinity for one it cannot score (NaN or +Infinity is NON_FINITE).
 * @param undecided Per candidate, nonzero where the SRM never saw the item in training.
 */
export function candidateProbabilities(scores: ArrayLike<number>, undecided?: ArrayLike<number>): Float64Array {
  const p = new Float64Array(scores.length);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (Number.isNaN(s) || s === Infinity) throw new LmrecError(`the SRM scored candidate ${i} as ${s}`, 'NON_FINITE');
    if (s === -Infinity || undecided?.[i]) continue;
    sum += s;
    count++;
  }
  const mean = count > 0 ? sum / count : 0;
  for (let i = 0; i < p.length; i++) p[i] = undecided?.[i] ? 0.5 : scores[i] === -Infinity || count === 0 ? 0 : 1 / (1 + Math.exp(mean - scores[i]!));
  return p;
}

/**
 * The candidates' positions in the cloud's list (0..length-1), best first under the rule.
 * `probabilities` are the SRM's, in the cloud's order; `slots` is N, the list length asked of
 * the cloud (at least the number of candidates: a short reply leaves slots empty).
 * @param rule One of FUSION_RULES.
 * @param probabilities The SRM's probability per candidate, in the cloud's order.
 * @param slots N, the list length asked of the cloud: at least the number of candidates and at least 1.
 */
export function fusedOrder(rule: FusionRule, probabilities: ArrayLike<number>, slots: number): Int32Array {
  if (!(FUSION_RULES as readonly string[]).includes(rule)) throw unknownRule(rule);
  const n = probabilities.length;
  if (!Number.isInteger(slots) || slots < Math.max(1, n)) {
    throw new LmrecError(`slots must be an integer >= the ${n} candidates (and >= 1), got ${slots}`, 'INVALID_ARGUMENT');
  }
  const score = new Float64Array(n);
  for (let j = 0; j < n; j++) score[j] = fusedScore(rule, j, slots, probabilities[j]!);
  // ties: the lower LLM rank first
  return Int32Array.from({ length: n }, (_, j) => j).sort((a, b) => score[b]! - score[a]! || a - b);
}
