/**
 * Early exit (M6-Rec) for ranking with late interaction: a request stops at the first exit
 * layer whose answer is already clear.
 *
 *  - Head at exit layer b: the state plus a ridge regression of what the remaining layers add
 *    (final state − state at b), fitted on training users (the final model's decisions are
 *    the target), so exit scores are those of h_b + h_b W_b + c_b (dot products with candidate
 *    vectors, or an item head's), comparable with the final ones; a strong penalty shrinks
 *    the head to the raw state, never below it.
 *  - Confidence: the gap between the k-th and (k+1)-th best scores in units of the scores'
 *    spread: a large gap means the top k will not change with more layers.
 *  - Thresholds: on validation users, exit by exit in order, the lowest confidence at which
 *    everyone let out so far loses at most `targetLoss` of the final model's NDCG@k (against
 *    the users' true next items when given, else against the final top k); an exit no
 *    threshold satisfies is never taken.
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { parseOptions } from '../util/options.js';
import { native } from '../addon/loader.js';
import type { ModelInput } from './language-model.js';
import type { LateInteraction } from './late-interaction.js';

export interface EarlyExitOptions {
  /** Exit layers: block boundaries above the split, below the last layer. */
  exits: number[];
  /**
   * The share of the final model's NDCG@k on validation users that the exits may lose
   * together: Σ (final − exit) ≤ targetLoss · Σ final. Default 0.01.
   */
  targetLoss?: number;
  /**
   * Each validation user's relevant candidate (an index into the scores, e.g. the true next
   * item): the loss is then NDCG@k against it. Without: relevance is being in the final top k
   * (so the final ranking scores 1 and any change of the top k is a loss).
   */
  targets?: readonly number[];
  /** Ridge penalty of the heads (relative to the states' mean square). Default 1. */
  ridge?: number;
  /** The top k the confidence and the loss look at. Default 10. */
  k?: number;
}

const optionsSchema = z.strictObject({
  exits: z.array(z.number().int()).min(1),
  targetLoss: z.number().min(0).max(1).default(0.01),
  targets: z.array(z.number().int().min(0)).readonly().optional(),
  ridge: z.number().gt(0).finite().default(1),
  k: z.number().int().min(1).default(10),
});

/**
 * What a request ranks, from a state in the last layer's space: candidate vectors (scores are
 * dot products with the state) or a function of the state (e.g. an item head's `scores`).
 */
export type ExitScoring = readonly Float32Array[] | ((state: Float32Array) => Float32Array);

export interface EarlyExitResult {
  /** A score per candidate of the scoring, higher is better: the exit head's where the request exited early, else the last layer's. */
  scores: Float32Array;
  /** The layer the request stopped at (the last layer when no exit was confident). */
  layer: number;
}

interface Head {
  layer: number;
  w: Float32Array; // H x H, row-major: y = h W + c
  c: Float32Array;
  threshold: number;
}

export class EarlyExit {
  readonly #li: LateInteraction;
  readonly #heads: Head[];
  readonly #last: number;
  readonly #k: number;
  readonly #exits = new Map<number, number>();

  private constructor(li: LateInteraction, heads: Head[], last: number, k: number) {
    this.#li = li;
    this.#heads = heads;
    this.#last = last;
    this.#k = k;
  }

  /**
   * Fits the heads on `train` users' histories and the thresholds on `valid` ones, ranking
   * with `scoring` (candidate vectors in the final state's space, or a function of it).
   * @param li The late-interaction model the requests run through.
   * @param last The last layer (the model's, usually): its scores are the reference, and requests that never exit stop there.
   * @param train Training users' histories (at least 2): the heads are fitted on them.
   * @param valid Validation users' histories (at least 1): the thresholds are set on them.
   * @param scoring What a request ranks: candidate vectors or a function of the state.
   * @param options The exit layers, the loss allowed, the targets, the ridge penalty and k.
   */
  static async fit(li: LateInteraction, last: number, train: readonly ModelInput[][], valid: readonly ModelInput[][], scoring: ExitScoring, options: EarlyExitOptions): Promise<EarlyExit> {
    const o = parseOptions(optionsSchema, options, 'EarlyExit.fit');
    const exits = [...new Set(o.exits)].sort((a, b) => a - b);
    if (exits.length === 0 || exits.some((e) => !(e > li.splitLayer && e < last))) {
      throw new LmrecError(`exits must be layers between the split (${li.splitLayer}) and the last (${last})`, 'INVALID_ARGUMENT');
    }
    const k = o.k;
    if (train.length < 2 || valid.length < 1) throw new LmrecError('early exit needs at least 2 training and 1 validation users', 'INVALID_ARGUMENT');
    const layers = [...exits, last];
    const states = async (users: readonly ModelInput[][]) => {
      const out: Map<number, Float32Array>[] = [];
      for (const u of users) out.push(await li.encodeUserAt(u, layers));
      return out;
    };
    const trainStates = await states(train);
    const heads: Head[] = exits.map((layer) => {
      const xs = trainStates.map((s) => s.get(layer)!);
      const residuals = trainStates.map((s, i) => Float32Array.from(s.get(last)!, (y, j) => y - xs[i]![j]!));
      const { w, c } = ridge(xs, residuals, o.ridge);
      return { layer, w, c, threshold: Infinity };
    });
    const validStates = await states(valid);
    const targets = o.targets;
    if (targets && targets.length !== valid.length) {
      throw new LmrecError(`targets must hold one candidate index per validation user (${valid.length})`, 'INVALID_ARGUMENT');
    }
    const finalRanks = validStates.map((s) => rankOf(scoresOf(s.get(last)!, scoring, k)));
    const quality = (rank: number[], u: number) => (targets ? ndcgOfTarget(rank, targets[u]!, k) : ndcgAgainst(rank, finalRanks[u]!, k));
    const finals = finalRanks.map((r, u) => quality(r, u));
    // Exits in order share one budget: each lets out the most confident users it can while the
    // loss of everyone let out so far stays within it; later exits see only who is left.
    const budget = o.targetLoss * finals.reduce((a, x) => a + x, 0);
    let spent = 0;
    let left = validStates.map((_, u) => u);
    for (const head of heads) {
      const rows = left.map((u) => {
        const exitScores = scoresOf(apply(head, validStates[u]!.get(head.layer)!), scoring, k);
        return { u, confidence: confidence(exitScores, k), loss: finals[u]! - quality(rankOf(exitScores), u) };
      });
      rows.sort((a, b) => b.confidence - a.confidence);
      let sum = 0;
      let out = 0; // users let out: a prefix that ends between two different confidences
      rows.forEach((r, i) => {
        sum += r.loss;
        const boundary = i + 1 === rows.length || rows[i + 1]!.confidence < r.confidence;
        if (boundary && spent + sum <= budget) {
          out = i + 1;
          head.threshold = r.confidence;
        }
      });
      spent += rows.slice(0, out).reduce((a, r) => a + r.loss, 0);
      left = rows.slice(out).map((r) => r.u);
    }
    return new EarlyExit(li, heads, last, k);
  }

  /**
   * Scores for a history, stopping at the first confident exit.
   * @param history The user's events as texts or token ids, oldest first.
   * @param scoring What to rank, as at fit (more than k candidates).
   */
  async rank(history: readonly ModelInput[], scoring: ExitScoring): Promise<EarlyExitResult> {
    const byLayer = new Map(this.#heads.map((h) => [h.layer, h]));
    let answer: Float32Array | undefined;
    let layer = this.#last;
    const states = await this.#li.encodeUserAt(history, [...this.#heads.map((h) => h.layer), this.#last], (l, state) => {
      const head = byLayer.get(l);
      if (!head) return false;
      const scores = scoresOf(apply(head, state), scoring, this.#k);
      if (confidence(scores, this.#k) < head.threshold) return false;
      answer = scores;
      layer = l;
      return true;
    });
    answer ??= scoresOf(states.get(this.#last)!, scoring, this.#k);
    this.#exits.set(layer, (this.#exits.get(layer) ?? 0) + 1);
    return { scores: answer, layer };
  }

  /** The confidence each exit needs (Infinity: never taken). */
  get thresholds(): Record<number, number> {
    return Object.fromEntries(this.#heads.map((h) => [h.layer, h.threshold]));
  }

  /** Requests per exit layer so far (the last layer: no early exit). */
  get histogram(): Record<number, number> {
    return Object.fromEntries([...this.#exits].sort((a, b) => a[0] - b[0]));
  }
}

function scoresOf(state: Float32Array, scoring: ExitScoring, k: number): Float32Array {
  const scores = typeof scoring === 'function' ? scoring(state) : Float32Array.from(scoring, (c) => c.reduce((a, x, i) => a + x * state[i]!, 0));
  if (scores.length <= k) throw new LmrecError(`early exit ranks more than k = ${k} candidates, got ${scores.length}`, 'INVALID_ARGUMENT');
  return scores;
}

function rankOf(scores: Float32Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** (k-th best − (k+1)-th best) / standard deviation of the scores; one pass, the best k+1 kept sorted. */
function confidence(scores: Float32Array, k: number): number {
  const best = new Float64Array(k + 1).fill(-Infinity); // descending
  let sum = 0;
  let sq = 0;
  for (const x of scores) {
    sum += x;
    sq += x * x;
    if (x <= best[k]!) continue;
    let i = k;
    while (i > 0 && best[i - 1]! < x) {
      best[i] = best[i - 1]!;
      i--;
    }
    best[i] = x;
  }
  const mean = sum / scores.length;
  const spread = Math.sqrt(Math.max(sq / scores.length - mean * mean, 0)) || 1;
  return (best[k - 1]! - best[k]!) / spread;
}

/** NDCG@k of a ranking with one relevant candidate. */
function ndcgOfTarget(rank: number[], target: number, k: number): number {
  const at = rank.indexOf(target);
  return at >= 0 && at < k ? 1 / Math.log2(at + 2) : 0;
}

/** NDCG@k of a ranking whose relevant items are the final ranking's top k. */
export function ndcgAgainst(rank: number[], final: number[], k: number): number {
  const relevant = new Set(final.slice(0, k));
  let dcg = 0;
  let ideal = 0;
  for (let i = 0; i < k; i++) {
    if (relevant.has(rank[i]!)) dcg += 1 / Math.log2(i + 2);
    ideal += 1 / Math.log2(i + 2);
  }
  return dcg / ideal;
}

function apply(head: Head, h: Float32Array): Float32Array {
  const H = h.length;
  const y = Float32Array.from(head.c, (c, j) => c + h[j]!);
  native.sgemm(undefined, 1, H, H, 1, h, false, head.w, false, 1, y, 1);
  return y;
}

/**
 * Ridge regression y ≈ x W + c over n rows (x, y of width H), centred; the penalty is scaled
 * by the mean square of x. The normal equations are solved by Cholesky in doubles.
 */
function ridge(xs: Float32Array[], ys: Float32Array[], lambda: number): { w: Float32Array; c: Float32Array } {
  const n = xs.length;
  const H = xs[0]!.length;
  const mx = new Float64Array(H);
  const my = new Float64Array(H);
  for (let r = 0; r < n; r++) for (let j = 0; j < H; j++) (mx[j]! += xs[r]![j]! / n), (my[j]! += ys[r]![j]! / n);
  const X = new Float32Array(n * H);
  const Y = new Float32Array(n * H);
  for (let r = 0; r < n; r++) for (let j = 0; j < H; j++) (X[r * H + j] = xs[r]![j]! - mx[j]!), (Y[r * H + j] = ys[r]![j]! - my[j]!);
  const xtx = new Float32Array(H * H);
  const xty = new Float32Array(H * H);
  native.sgemm(undefined, H, H, n, 1, X, true, X, false, 0, xtx, native.hardwareThreads());
  native.sgemm(undefined, H, H, n, 1, X, true, Y, false, 0, xty, native.hardwareThreads());
  let trace = 0;
  for (let j = 0; j < H; j++) trace += xtx[j * H + j]!;
  const A = Float64Array.from(xtx);
  const pen = lambda * Math.max(trace / H, 1e-12);
  for (let j = 0; j < H; j++) A[j * H + j]! += pen;
  // Cholesky A = L L^T, then W = A^-1 X^T Y column by column
  for (let j = 0; j < H; j++) {
    let d = A[j * H + j]!;
    for (let p = 0; p < j; p++) d -= A[j * H + p]! ** 2;
    const ljj = Math.sqrt(Math.max(d, 1e-30));
    A[j * H + j] = ljj;
    for (let i = j + 1; i < H; i++) {
      let s = A[i * H + j]!;
      for (let p = 0; p < j; p++) s -= A[i * H + p]! * A[j * H + p]!;
      A[i * H + j] = s / ljj;
    }
  }
  const w = new Float32Array(H * H);
  const z = new Float64Array(H);
  for (let col = 0; col < H; col++) {
    for (let i = 0; i < H; i++) {
      let s = xty[i * H + col]!;
      for (let p = 0; p < i; p++) s -= A[i * H + p]! * z[p]!;
      z[i] = s / A[i * H + i]!;
    }
    for (let i = H - 1; i >= 0; i--) {
      let s = z[i]!;
      for (let p = i + 1; p < H; p++) s -= A[p * H + i]! * z[p]!;
      z[i] = s / A[i * H + i]!;
    }
    for (let i = 0; i < H; i++) w[i * H + col] = z[i]!;
  }
  // c = my - mx W
  const c = Float32Array.from(my);
  const mxf = Float32Array.from(mx);
  native.sgemm(undefined, 1, H, H, -1, mxf, false, w, false, 1, c, 1);
  return { w, c };
}
