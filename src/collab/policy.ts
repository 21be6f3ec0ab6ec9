/**
 * When the device asks the cloud for a new candidate list (LSC4Rec's request policy). The
 * device re-sorts the cloud's list by its SRM's scores for the real-time history; the more the
 * two orders disagree, the more the user has moved on since the cloud saw them, and the more a
 * fresh list is worth. Requests cost, so they are rationed by a budget: the threshold is the
 * quantile of the inconsistency on validation traffic that gives the wanted request rate.
 */
import { LmrecError } from '../errors.js';
import { Random } from '../util/random.js';

/**
 * Each empty slot of a short list (the cloud returned fewer than N valid candidates) adds this
 * much to the inconsistency by default: one rank. The mean over a shorter list is smaller (for
 * unrelated orders of n items it is about n/3), so without a penalty a short list would look
 * consistent; one rank a slot more than makes up for that, so short lists are asked again first.
 */
export const DEFAULT_PAD_PENALTY = 1;

/**
 * The inconsistency S of a candidate list: the mean over its valid candidates of |rank_SRM −
 * rank_LLM|, plus `padPenalty` for each of the `slots` − valid slots the cloud left empty.
 * `srmScores` are the SRM's scores of the valid candidates in the cloud's order (so rank_LLM is
 * the index); rank_SRM is the position by score, ties in the cloud's order. An empty list is
 * all padding: S = padPenalty · slots.
 * @param srmScores The SRM's scores of the valid candidates, in the cloud's order.
 * @param slots N, the list length asked of the cloud (at least the number of candidates).
 * @param padPenalty Added per empty slot, a finite number >= 0 (default 1).
 */
export function inconsistency(srmScores: ArrayLike<number>, slots: number, padPenalty = DEFAULT_PAD_PENALTY): number {
  const n = srmScores.length;
  if (!Number.isInteger(slots) || slots < n) throw new LmrecError(`slots must be an integer >= the ${n} candidates, got ${slots}`, 'INVALID_ARGUMENT');
  if (!(Number.isFinite(padPenalty) && padPenalty >= 0)) throw new LmrecError(`padPenalty must be a finite number >= 0, got ${padPenalty}`, 'INVALID_ARGUMENT');
  let total = 0;
  for (let j = 0; j < n; j++) if (Number.isNaN(srmScores[j])) throw new LmrecError(`the SRM scored candidate ${j} as NaN`, 'NON_FINITE');
  if (n > 0) {
    const bySrm = Int32Array.from({ length: n }, (_, j) => j).sort((a, b) => srmScores[b]! - srmScores[a]! || a - b);
    for (let rank = 0; rank < n; rank++) total += Math.abs(rank - bySrm[rank]!);
  }
  return (n > 0 ? total / n : 0) + padPenalty * (slots - n);
}

/**
 * The threshold that makes `S > threshold` hold for at most `rate` of the values, as close to
 * it as ties allow (a budget is not overspent on the traffic it was set on). Between two
 * distinct values it is their midpoint, so traffic much like this one gets about the same rate.
 * rate 0 gives the largest value (nothing above it), rate 1 gives -Infinity (everything).
 * @param values Inconsistencies of validation traffic, at least one, no NaN.
 * @param rate The share of requests wanted, in [0, 1].
 */
export function thresholdForRate(values: ArrayLike<number>, rate: number): number {
  if (!(rate >= 0 && rate <= 1)) throw new LmrecError(`rate must be in [0, 1], got ${rate}`, 'INVALID_ARGUMENT');
  const n = values.length;
  if (n === 0) throw new LmrecError('thresholdForRate needs at least one value', 'INVALID_ARGUMENT');
  const sorted = Float64Array.from(values);
  if (sorted.some((v) => Number.isNaN(v))) throw new LmrecError('thresholdForRate got NaN', 'NON_FINITE');
  sorted.sort().reverse();
  // the most requests within budget that a threshold can separate from the rest
  let count = Math.floor(rate * n + 1e-9);
  while (count > 0 && count < n && sorted[count - 1] === sorted[count]) count--;
  if (count === 0) return sorted[0]!;
  if (count === n) return -Infinity;
  return (sorted[count - 1]! + sorted[count]!) / 2;
}

/** Decides, from a list's inconsistency, whether to ask the cloud for a new one. */
export interface RequestPolicy {
  /**
   * Whether to ask the cloud for a new list now.
   * @param inconsistency The current list's inconsistency S after the real-time history (see inconsistency()).
   */
  shouldRequest(inconsistency: number): boolean;
}

/** Asks when the inconsistency is above a threshold (LSC4Rec's policy). */
export class ThresholdPolicy implements RequestPolicy {
  /**
   * A policy with a fixed threshold.
   * @param threshold Ask when the inconsistency is above this (not NaN); forRate sets it from a request budget.
   */
  constructor(readonly threshold: number) {
    if (Number.isNaN(threshold)) throw new LmrecError('the threshold must be a number', 'INVALID_ARGUMENT');
  }

  /**
   * The policy that would have asked for `rate` of the requests on this (validation) traffic.
   * @param validation Inconsistencies of validation traffic (see thresholdForRate).
   * @param rate The share of requests wanted, in [0, 1].
   */
  static forRate(validation: ArrayLike<number>, rate: number): ThresholdPolicy {
    return new ThresholdPolicy(thresholdForRate(validation, rate));
  }

  /**
   * True when `inconsistency` is above the threshold.
   * @param inconsistency The current list's inconsistency S.
   */
  shouldRequest(inconsistency: number): boolean {
    return inconsistency > this.threshold;
  }
}

/** Asks at random with probability `rate`, whatever the lists: the baseline a policy must beat. */
export class RandomPolicy implements RequestPolicy {
  readonly #rng: Random;

  /**
   * @param rate The probability of asking, in [0, 1].
   * @param seed Seed of the draws (default 1).
   */
  constructor(
    readonly rate: number,
    seed = 1,
  ) {
    if (!(rate >= 0 && rate <= 1)) throw new LmrecError(`rate must be in [0, 1], got ${rate}`, 'INVALID_ARGUMENT');
    this.#rng = new Random(seed);
  }

  /** True with probability `rate`, whatever the inconsistency. */
  shouldRequest(): boolean {
    return this.#rng.next() < this.rate;
  }
}
