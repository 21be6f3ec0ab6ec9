/**
 * The content side of a served request written plainly in TypeScript over TfidfVectors' own
 * profile and dot, with the bounded walk over the postings written out here: the reference the
 * native lexical index
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
  const walk = boundedWalk(tfidf, profile, touched, row, reached, postings);
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

/** Word w's items are item[ptr[w] .. ptr[w+1]) with weights value, heaviest first (ties: the lower item). */
interface Postings {
  ptr: Uint32Array;
  item: Uint32Array;
  value: Float32Array;
}

const postingsOf = new WeakMap<TfidfVectors, Postings>();

/** The inverted index of the vectors, built from their rows. */
function postings(tfidf: TfidfVectors): Postings {
  const known = postingsOf.get(tfidf);
  if (known) return known;
  const lists = Array.from({ length: tfidf.words }, () => [] as { i: number; v: number }[]);
  for (let i = 0; i < tfidf.items; i++) {
    for (let p = tfidf.indptr[i]!; p < tfidf.indptr[i + 1]!; p++) lists[tfidf.indices[p]!]!.push({ i, v: tfidf.values[p]! });
  }
  const ptr = new Uint32Array(tfidf.words + 1);
  lists.forEach((l, w) => (ptr[w + 1] = ptr[w]! + l.length));
  const item = new Uint32Array(ptr[tfidf.words]!);
  const value = new Float32Array(item.length);
  lists.forEach((l, w) => {
    l.sort((a, b) => b.v - a.v || a.i - b.i);
    l.forEach((x, j) => {
      item[ptr[w]! + j] = x.i;
      value[ptr[w]! + j] = x.v;
    });
  });
  const out = { ptr, item, value };
  postingsOf.set(tfidf, out);
  return out;
}

/**
 * Cosine of every item with a profile, added into `out` (zeroed, length items), reading at most
 * `budget` postings: when the profile's words have more, only those contributing most (profile
 * weight × posting weight, over all words; a threshold found by 32 steps of bisection, each
 * word's postings being heaviest first), so `out` holds partial sums made of their largest terms.
 * `reached` gets each item reached. Returns how many were, and whether every posting was read.
 */
export function boundedWalk(tfidf: TfidfVectors, profile: Float32Array, touched: readonly number[], out: Float32Array, reached: Int32Array, budget: number): { reached: number; complete: boolean } {
  const { ptr, item, value } = postings(tfidf);
  // the end of word w's postings of weight at least `min`
  const heavier = (w: number, min: number) => {
    let lo = ptr[w]!;
    let hi = ptr[w + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (value[mid]! >= min) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  let total = 0;
  for (const w of touched) total += ptr[w + 1]! - ptr[w]!;
  const complete = total <= budget;
  let limit = 0;
  if (!complete) {
    let hi = 0;
    for (const w of touched) if (ptr[w + 1]! > ptr[w]!) hi = Math.max(hi, profile[w]! * value[ptr[w]!]!);
    let lo = 0;
    hi = hi * 1.000001 + Number.MIN_VALUE; // above every contribution: nothing read
    for (let step = 0; step < 32; step++) {
      const mid = (lo + hi) / 2;
      let count = 0;
      for (const w of touched) if (profile[w]! > 0) count += heavier(w, mid / profile[w]!) - ptr[w]!;
      if (count > budget) lo = mid;
      else hi = mid;
    }
    limit = hi;
  }
  let n = 0;
  for (const w of touched) {
    const pw = profile[w]!;
    if (pw === 0) continue;
    const to = complete ? ptr[w + 1]! : heavier(w, limit / pw);
    for (let p = ptr[w]!; p < to; p++) {
      const i = item[p]!;
      if (out[i] === 0) reached[n++] = i;
      out[i]! += pw * value[p]!;
    }
  }
  return { reached: n, complete };
}
