/**
 * Content baselines for the quality table (`lmrec eval quality`): what a recommender that reads
 * item text must beat without any training, and the cheapest way to add text to an ID model.
 *
 *   content TF-IDF   profile_u = normalise(mean of x_i over u's last `recent` items)
 *                    score_ui  = cos(profile_u, x_i)                (x_i: the item's TF-IDF vector)
 *   fusion           score_ui  = a_ui + w · b_ui                    (w chosen on validation NDCG@10)
 *
 * chooseFusionWeight scores each model once per batch of validation users and evaluates every
 * candidate weight from those rows, so trying eight weights costs one scoring pass, not eight.
 */
import { LmrecError } from '../errors.js';
import { CONTENT_RECENT, ContentScores } from '../recommender/content-scores.js';
import type { TfidfVectors } from '../text/tfidf.js';
import { evaluate, type Metrics, type Scorer, type Split } from './leave-one-out.js';

/** Fusion weights chooseFusionWeight tries by default. */
export const FUSION_WEIGHTS: readonly number[] = [0, 0.5, 1, 2, 4, 8, 16, 32];

/** Splits scored per call in chooseFusionWeight (evaluate's own batch, so it scores each batch in one call). */
const BATCH = 256;

/**
 * The TF-IDF content baseline: a user's profile is the mean of the TF-IDF vectors of their last
 * `recent` history items, scaled to unit length; an item's score is its cosine with the profile
 * (0 for items sharing no word with it, and for every item when the history has no words).
 */
export function contentScorer(tfidf: TfidfVectors, recent = CONTENT_RECENT): Scorer {
  if (!(Number.isInteger(recent) && recent >= 1)) throw new LmrecError(`recent must be a positive integer, got ${String(recent)}`, 'INVALID_ARGUMENT');
  const items = tfidf.items;
  const content = new ContentScores(tfidf, 1, 1, recent);
  const warm = new Uint8Array(items);
  return (splits) => {
    const rows = new Float32Array(items * splits.length);
    splits.forEach((split, j) => {
      const h = split.history;
      for (let x = Math.max(0, h.length - recent); x < h.length; x++) {
        const i = h[x]!;
        if (!(Number.isInteger(i) && i >= 0 && i < items)) throw new LmrecError(`history item ${i} is outside the ${items} items the TF-IDF vectors cover`, 'UNKNOWN_ID');
      }
      content.addTo(h, rows.subarray(j * items, (j + 1) * items), warm);
    });
    return rows;
  };
}

/** The rows of two scorers added: a + weight · b. */
export function fusedScorer(a: Scorer, b: Scorer, weight: number): Scorer {
  if (!Number.isFinite(weight)) throw new LmrecError(`weight must be a finite number, got ${String(weight)}`, 'INVALID_ARGUMENT');
  return async (splits) => {
    const ra = await a(splits);
    if (weight === 0) return ra;
    const rb = await b(splits);
    if (ra.length !== rb.length) throw new LmrecError(`the fused scorers returned ${ra.length} and ${rb.length} scores for the same splits`, 'DIM_MISMATCH');
    const out = new Float32Array(ra.length);
    for (let x = 0; x < out.length; x++) out[x] = ra[x]! + weight * rb[x]!;
    return out;
  };
}

/** a + w_i · b, w_i = coldWeight for the items `cold` marks, else weight. */
export function coldWeightedScorer(a: Scorer, b: Scorer, weight: number, coldWeight: number, cold: Uint8Array): Scorer {
  return async (splits) => {
    const ra = await a(splits);
    const rb = await b(splits);
    if (ra.length !== rb.length) throw new LmrecError(`the fused scorers returned ${ra.length} and ${rb.length} scores for the same splits`, 'DIM_MISMATCH');
    const items = cold.length;
    const out = new Float32Array(ra.length);
    for (let x = 0; x < out.length; x++) out[x] = ra[x]! + (cold[x % items] ? coldWeight : weight) * rb[x]!;
    return out;
  };
}

export interface FusionChoice {
  /** The weight with the best validation NDCG@10 (the first listed among equals). */
  weight: number;
  /** Its validation NDCG@10. */
  ndcg: number;
  /** Every weight tried, in the order given, with its validation NDCG@10. */
  tried: { weight: number; ndcg: number }[];
}

/**
 * The weight w of a + w · b with the best NDCG@10 on `valid` (full ranking, as evaluate()).
 * Each scorer is called once per batch of up to 256 splits; every weight is evaluated from
 * those rows.
 */
export async function chooseFusionWeight(valid: Split[], items: number, a: Scorer, b: Scorer, weights: readonly number[] = FUSION_WEIGHTS): Promise<FusionChoice> {
  if (valid.length === 0) throw new LmrecError('no validation splits to choose a fusion weight on', 'INVALID_ARGUMENT');
  if (weights.length === 0 || weights.some((w) => !Number.isFinite(w))) throw new LmrecError('weights must be a non-empty list of finite numbers', 'INVALID_ARGUMENT');
  const sums = new Array<number>(weights.length).fill(0);
  let fused: Float32Array | undefined;
  for (let b0 = 0; b0 < valid.length; b0 += BATCH) {
    const batch = valid.slice(b0, b0 + BATCH);
    const ra = await a(batch);
    const rb = await b(batch);
    const n = items * batch.length;
    if (ra.length !== n || rb.length !== n) {
      throw new LmrecError(`the scorers returned ${ra.length} and ${rb.length} scores for ${batch.length} splits of a ${items}-item catalog`, 'DIM_MISMATCH');
    }
    if (!fused || fused.length < n) fused = new Float32Array(n);
    const rows = fused.subarray(0, n);
    for (const [j, w] of weights.entries()) {
      for (let x = 0; x < n; x++) rows[x] = ra[x]! + w * rb[x]!;
      const m = await evaluate(batch, items, cachedScorer(batch, rows, items), [10]);
      sums[j]! += m['NDCG@10']! * batch.length;
    }
  }
  const tried = weights.map((weight, j) => ({ weight, ndcg: sums[j]! / valid.length }));
  let best = tried[0]!;
  for (const t of tried) if (t.ndcg > best.ndcg) best = t;
  return { weight: best.weight, ndcg: best.ndcg, tried };
}

/** A scorer that answers from rows already computed for `splits` (in any subset evaluate asks for). */
function cachedScorer(splits: Split[], rows: Float32Array, items: number): Scorer {
  const at = new Map(splits.map((s, j) => [s, j]));
  return (asked) => {
    const first = at.get(asked[0]!);
    if (first !== undefined && asked.every((s, j) => at.get(s) === first + j)) return rows.subarray(first * items, (first + asked.length) * items);
    const out = new Float32Array(items * asked.length);
    asked.forEach((s, j) => {
      const i = at.get(s);
      if (i === undefined) throw new LmrecError('the cached scorer was asked for a split it has no scores for', 'INVALID_ARGUMENT');
      out.set(rows.subarray(i * items, (i + 1) * items), j * items);
    });
    return out;
  };
}

/** Cold validation targets needed before chooseColdWeight weighs them (fewer: too noisy to choose on). */
export const MIN_COLD_TARGETS = 50;

/**
 * The weight w_c of b on cold items in a + (cold ? w_c : weight) · b, chosen on validation by
 * (1 − e) · NDCG@10 over the splits whose target is warm + e · NDCG@10 over those whose target
 * is cold (`cold[i]`: item i has no ID embedding), e = `coldEmphasis` (default 0.5: warm and
 * cold targets count alike). Weighting them by their share instead buries every cold item: cold
 * targets are a small share, and each cold item shown displaces a warm one. The higher e, the
 * more cold items are shown, at some cost to warm targets. With fewer than MIN_COLD_TARGETS
 * cold targets it keeps `weight`. Each scorer is called once per batch.
 */
export async function chooseColdWeight(
  valid: Split[],
  items: number,
  a: Scorer,
  b: Scorer,
  weight: number,
  cold: Uint8Array,
  weights: readonly number[] = FUSION_WEIGHTS,
  coldEmphasis = 0.5,
): Promise<FusionChoice> {
  if (!(coldEmphasis >= 0 && coldEmphasis <= 1)) throw new LmrecError(`coldEmphasis must be in [0, 1], got ${String(coldEmphasis)}`, 'INVALID_ARGUMENT');
  const coldTargets = valid.filter((s) => cold[s.target]).length;
  if (coldTargets < MIN_COLD_TARGETS) return { weight, ndcg: NaN, tried: [] };
  const tried = [...new Set([weight, ...weights])];
  const sums = tried.map(() => ({ warm: 0, cold: 0 }));
  for (let b0 = 0; b0 < valid.length; b0 += BATCH) {
    const batch = valid.slice(b0, b0 + BATCH);
    const ra = await a(batch);
    const rb = await b(batch);
    const n = items * batch.length;
    if (ra.length !== n || rb.length !== n) throw new LmrecError(`the scorers returned ${ra.length} and ${rb.length} scores for ${batch.length} splits of a ${items}-item catalog`, 'DIM_MISMATCH');
    const rows = new Float32Array(n);
    const groups = { warm: batch.filter((s) => !cold[s.target]), cold: batch.filter((s) => cold[s.target]) };
    for (const [j, wc] of tried.entries()) {
      for (let x = 0; x < n; x++) rows[x] = ra[x]! + (cold[x % items] ? wc : weight) * rb[x]!;
      const scorer = cachedScorer(batch, rows, items);
      for (const g of ['warm', 'cold'] as const) {
        if (groups[g].length === 0) continue;
        const m: Metrics = await evaluate(groups[g], items, scorer, [10]);
        sums[j]![g] += m['NDCG@10']! * groups[g].length;
      }
    }
  }
  const warmTargets = valid.length - coldTargets;
  const e = warmTargets ? coldEmphasis : 1;
  const scored = tried.map((w, j) => ({ weight: w, ndcg: (1 - e) * (warmTargets ? sums[j]!.warm / warmTargets : 0) + e * (sums[j]!.cold / coldTargets) }));
  let best = scored[0]!;
  for (const t of scored) if (t.ndcg > best.ndcg) best = t;
  return { weight: best.weight, ndcg: best.ndcg, tried: scored };
}
