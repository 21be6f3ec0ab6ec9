/**
 * The content side of a served request written plainly in TypeScript over TfidfVectors' own
 * profile, dot and bounded walk: the reference the native lexical index
 * (native/core/content/lexical_index.cpp, through ContentIndex) is held to.
 */
import type { ContentRequest } from '../../src/recommender/content-index.js';
import type { TfidfVectors } from '../../src/text/tfidf.js';

export interface ReferenceWeights {
  weight: number;
  coldWeight: number;
  recent: number;
}

/** The parts of `given`, and the `limit` best items the profile's words reach, reading at most `postings` postings (see ContentIndex.request). */
export function referenceRequest(
  tfidf: TfidfVectors,
  w: ReferenceWeights,
  history: readonly number[],
  warm: Uint8Array,
  given: readonly number[],
  limit: number,
  postings: number,
): ContentRequest {
  const weightOf = (i: number) => (warm[i] ? w.weight : w.coldWeight);
  const { dense: profile, touched } = tfidf.profile(history.slice(Math.max(0, history.length - w.recent)));
  const parts = Float64Array.from(given, (i) => weightOf(i) * tfidf.dot(profile, i));
  const row = new Float32Array(tfidf.items);
  const reached = new Int32Array(tfidf.items);
  const walk = tfidf.addScores(profile, touched, row, 1, reached, postings);
  const items: number[] = [];
  const scores: number[] = [];
  for (let j = 0; j < walk.reached; j++) {
    const i = reached[j]!;
    const part = weightOf(i) * row[i]!;
    if (part !== 0) {
      items.push(i);
      scores.push(part);
    }
  }
  let best = highest(items, scores, walk.complete ? limit : 4 * limit);
  if (!walk.complete) best = highest(best.items, best.items.map((i) => weightOf(i) * tfidf.dot(profile, i)), limit);
  return { given: parts, items: best.items, scores: best.scores };
}

/** The `limit` highest scores with their items (ties: the lower item), in item order. */
export function highest(items: readonly number[], scores: readonly number[], limit: number): { items: number[]; scores: number[] } {
  const order = items.map((_, j) => j).sort((a, b) => scores[b]! - scores[a]! || items[a]! - items[b]!);
  const kept = order.slice(0, limit).sort((a, b) => items[a]! - items[b]!);
  return { items: kept.map((j) => items[j]!), scores: kept.map((j) => scores[j]!) };
}
