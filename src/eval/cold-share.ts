/**
 * The share of requests whose next item is cold (no training history holds it): the traffic's
 * mix that a choice made on leave-one-out's validation should be weighted to. Validation
 * targets are a step older than test targets, so they under-state it (Amazon Sports: 4.2% of
 * validation targets are cold against 14.7% of test targets; Toys 2.1% against 7.5%), and a
 * choice made on them trades the cold targets away. The honest estimate reads the latest events
 * of users whose figures are not reported: set aside here, never measured.
 */
import { LmrecError } from '../errors.js';
import type { Split } from './leave-one-out.js';

/** Fewer users than this read the share roughly: the commands say so. */
const FEW_FOR_COLD_SHARE = 100;

/**
 * The share of splits whose target is cold: INVALID_ARGUMENT for none (no users, no estimate:
 * 0 would be a claim).
 * @param splits The users whose last events estimate the share.
 * @param warm Whether an item has training events.
 */
export function coldShareOf(splits: readonly Split[], warm: (item: number) => boolean): number {
  if (splits.length === 0) throw new LmrecError('--cold-share auto needs test users left out of the measure to read the share from, and there are none', 'INVALID_ARGUMENT');
  return splits.filter((s) => !warm(s.target)).length / splits.length;
}

/** How a choice weights validation: to `coldShare` where `weighted`, else validation as it is. */
export interface ColdWeighting {
  weighted: boolean;
  /** The share weighted to (validation's own when not weighted). */
  coldShare: number;
  /** The figure a choice maximises from the cold-target and the other users' (only where weighted). */
  mix(cold: number, warm: number): number;
}

/**
 * The weighting chooseRerank and evaluateCollab both apply: to the share asked for, unless
 * none was asked or validation has no cold-target users or only those (nothing to weight).
 * @param asked The share asked for, if any.
 * @param validColdShare The share of cold targets among the validation users.
 */
export function coldWeighting(asked: number | undefined, validColdShare: number): ColdWeighting {
  const weighted = asked !== undefined && validColdShare > 0 && validColdShare < 1;
  const coldShare = weighted ? asked : validColdShare;
  return { weighted, coldShare, mix: (cold, warm) => coldShare * cold + (1 - coldShare) * warm };
}

/** What `--cold-share auto` read from `users` users, as the commands log it (a small set flagged as rough). */
export function describeColdShare(users: number, share: number): string {
  return `${(100 * share).toFixed(1)}%${users < FEW_FOR_COLD_SHARE ? ' (few users: a rough estimate)' : ''}`;
}

/**
 * Test users split for `--cold-share auto`: every other one (odd places) estimates the
 * traffic's cold share from their last events and is then left out; the rest are measured.
 * (In `lmrec eval collab` the measured ones are the users whose validation events early-stop
 * the SRMs, the others choose: the same user's validation and test events, as leave-one-out
 * always pairs them; no test event is read for a choice.)
 */
export function setAsideForColdShare(test: readonly Split[]): { measured: Split[]; estimate: Split[] } {
  return { measured: test.filter((_, j) => j % 2 === 0), estimate: test.filter((_, j) => j % 2 === 1) };
}
