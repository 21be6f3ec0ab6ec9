import type { SearchResult } from './vector-index.js';

/**
 * Mean fraction of the true top-k ids found in each result's top k.
 * @param results The results to judge, one per query.
 * @param truth The exact results, one per query in the same order (at least k ids each).
 * @param k The cut-off: the first k ids of each are compared.
 */
export function recallAtK(results: SearchResult[], truth: SearchResult[], k: number): number {
  if (results.length === 0) return 0;
  let hit = 0;
  for (let q = 0; q < results.length; q++) {
    const want = new Set(truth[q]!.ids.slice(0, k));
    for (const id of results[q]!.ids.slice(0, k)) if (want.has(id)) hit++;
  }
  return hit / (results.length * k);
}
