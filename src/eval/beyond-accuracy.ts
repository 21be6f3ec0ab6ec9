/**
 * Beyond accuracy: what recommendation-server users ask about most. From the top-k lists of
 * a set of users (history items left out, ties broken by item number): the catalog coverage
 * (distinct items recommended / catalog size) and the share of recommendations that go to
 * the most popular 1% of items (by training counts), where popularity collapse shows.
 */
import type { Scorer, Split } from './leave-one-out.js';

export interface BeyondAccuracy {
  /** Distinct items in the top-k lists, over the catalog size. */
  coverage: number;
  /** Share of top-k slots taken by the 1% most popular items. */
  popularShare: number;
}

export async function beyondAccuracy(splits: Split[], items: number, scorer: Scorer, popularity: Float32Array, k = 10, batch = 256): Promise<BeyondAccuracy> {
  const top = Math.max(1, Math.ceil(items / 100));
  const popular = new Set(
    Int32Array.from(popularity.keys())
      .sort((a, b) => popularity[b]! - popularity[a]! || a - b)
      .subarray(0, top),
  );
  const seen = new Set<number>();
  let slots = 0;
  let popularSlots = 0;
  for (let s0 = 0; s0 < splits.length; s0 += batch) {
    const part = splits.slice(s0, s0 + batch);
    const rows = await scorer(part);
    part.forEach((split, j) => {
      const row = rows.subarray(j * items, (j + 1) * items);
      const skip = new Set(split.history);
      const best: number[] = [];
      for (let i = 0; i < items; i++) {
        if (skip.has(i)) continue;
        // insertion into a short sorted list: k is small
        let at = best.length;
        while (at > 0 && row[best[at - 1]!]! < row[i]!) at--;
        if (at < k) {
          best.splice(at, 0, i);
          if (best.length > k) best.pop();
        }
      }
      for (const i of best) {
        seen.add(i);
        slots++;
        if (popular.has(i)) popularSlots++;
      }
    });
  }
  return { coverage: seen.size / items, popularShare: slots ? popularSlots / slots : 0 };
}
