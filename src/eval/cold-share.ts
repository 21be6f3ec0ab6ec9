/**
 * The share of requests whose next item is cold (no training history holds it): the traffic's
 * mix that a choice made on leave-one-out's validation should be weighted to. Validation
 * targets are a step older than test targets, so they under-state it (Amazon Sports: 4.2% of
 * validation targets are cold against 14.7% of test targets; Toys 2.1% against 7.5%), and a
 * choice made on them trades the cold targets away. The honest estimate reads the latest events
 * of users whose figures are not reported: set aside here, never measured.
 */
import type { Split } from './leave-one-out.js';

/** The share of splits whose target is cold (0 for none). */
export function coldShareOf(splits: readonly Split[], warm: (item: number) => boolean): number {
  return splits.length === 0 ? 0 : splits.filter((s) => !warm(s.target)).length / splits.length;
}

/**
 * Test users split for `--cold-share auto`: every other one (odd places) estimates the
 * traffic's cold share from their last events and is then left out; the rest are measured.
 */
export function setAsideForColdShare(test: readonly Split[]): { measured: Split[]; estimate: Split[] } {
  return { measured: test.filter((_, j) => j % 2 === 0), estimate: test.filter((_, j) => j % 2 === 1) };
}
