/**
 * Leave-one-out evaluation (the protocol of SASRec and most sequential recommenders): a
 * user's last event is the test target, the one before it the validation target, the rest
 * training. Ranking is over the full catalog with the user's history masked (the target
 * itself stays eligible even if it appeared earlier); ties count as broken at random.
 */
import { LmrecError } from '../errors.js';
import { Random } from '../util/random.js';

export interface Split {
  /** Per user: the history a model may see when predicting `target`. */
  history: Int32Array;
  /** The item to predict (an item number). */
  target: number;
  /** The user's number (their place in the sequences split). */
  user: number;
}

export interface LeaveOneOut {
  /** Per user, everything but the last two events. */
  train: Int32Array[];
  /** Users with 3 or more events: the second-to-last event as the target, after the training events. */
  valid: Split[];
  /** The same users: the last event as the target, after every event before it. */
  test: Split[];
}

/**
 * Splits time-ordered sequences; users with fewer than 3 events stay in training only.
 * @param sequences Each user's items, oldest first (Interactions.sequences).
 */
export function leaveOneOut(sequences: Int32Array[]): LeaveOneOut {
  const train: Int32Array[] = [];
  const valid: Split[] = [];
  const test: Split[] = [];
  sequences.forEach((seq, user) => {
    if (seq.length < 3) {
      train.push(seq);
      return;
    }
    const n = seq.length;
    train.push(seq.subarray(0, n - 2));
    valid.push({ user, history: seq.subarray(0, n - 2), target: seq[n - 2]! });
    test.push({ user, history: seq.subarray(0, n - 1), target: seq[n - 1]! });
  });
  return { train, valid, test };
}

export type Metrics = Record<string, number>; // HR@K, NDCG@K, MRR

/**
 * Scores of every item (higher is better) for a batch of splits: one row of catalog-size
 * scores per split, concatenated. Batches let a model score many users in one native call.
 * @param splits The users to score, at most 256 a call from evaluate(); a scorer reads their histories, never their targets.
 */
export type Scorer = (splits: Split[]) => Float32Array | Promise<Float32Array>;

/** Splits scored per call of the scorer. */
const BATCH = 256;

export interface EvaluateOptions {
  /**
   * Rank the target among this many sampled negatives (uniform over items outside the history,
   * seeded) instead of the full catalog. Only for comparing with papers that report it: it
   * inflates every metric and can reorder models.
   */
  sampledNegatives?: number;
  /** Seed of the negatives' draw (default 1); unused with full ranking. */
  seed?: number;
}

/**
 * HR@K, NDCG@K for each K, and MRR, averaged over the splits. The competitors are the items not
 * in the history (all of them, or the sampled negatives when asked). Ties are broken uniformly
 * at random, and the metrics are their exact expectation: with h competitors scoring higher
 * than the target and t scoring the same, the target's 0-based rank is uniform on h..h+t, so a
 * scorer that returns one score for every item scores at chance level. A NaN competitor counts
 * as scoring lowest; a NaN target is NON_FINITE.
 * @param splits The users to rank for (validation or test splits), at least one.
 * @param items Catalog size: the scorer returns this many scores per split.
 * @param scorer The model under test.
 * @param ks The cut-offs K of HR@K and NDCG@K (default 1, 5, 10, 20).
 * @param options Sampled negatives instead of the full catalog (for comparisons with papers only), and their seed.
 */
export async function evaluate(
  splits: Split[],
  items: number,
  scorer: Scorer,
  ks: number[] = [1, 5, 10, 20],
  options: EvaluateOptions = {},
): Promise<Metrics> {
  if (splits.length === 0) throw new LmrecError('nothing to evaluate: no user has 3 or more events', 'INVALID_ARGUMENT');
  const negatives = options.sampledNegatives;
  if (negatives !== undefined && !(Number.isInteger(negatives) && negatives >= 1)) {
    throw new LmrecError(`sampledNegatives must be a positive integer, got ${negatives}`, 'INVALID_ARGUMENT');
  }
  const rng = new Random(options.seed ?? 1);
  const hits = new Array<number>(ks.length).fill(0);
  const ndcg = new Array<number>(ks.length).fill(0);
  let mrr = 0;
  const masked = new Uint8Array(items);
  const add = ({ higher, tied }: Placement): void => {
    const n = tied + 1; // equally likely ranks higher..higher+tied
    mrr += harmonicSpan(higher, higher + n) / n;
    ks.forEach((k, j) => {
      const last = Math.min(higher + tied, k - 1);
      if (last < higher) return;
      hits[j]! += (last - higher + 1) / n;
      let gain = 0;
      for (let r = higher; r <= last; r++) gain += 1 / Math.log2(r + 2);
      ndcg[j]! += gain / n;
    });
  };
  for (let b = 0; b < splits.length; b += BATCH) {
    const batch = splits.slice(b, b + BATCH);
    const rows = await scorer(batch);
    if (rows.length !== items * batch.length) {
      throw new LmrecError(`the scorer returned ${rows.length} scores for ${batch.length} splits of a ${items}-item catalog`, 'DIM_MISMATCH');
    }
    batch.forEach((split, j) => {
      const scores = rows.subarray(j * items, (j + 1) * items);
      const target = scores[split.target]!;
      if (Number.isNaN(target)) throw new LmrecError(`the scorer returned NaN for user ${split.user}'s target`, 'NON_FINITE');
      // The history and the target itself are not competitors (a target seen before stays eligible).
      for (const i of split.history) masked[i] = 1;
      masked[split.target] = 1;
      add(negatives === undefined ? fullPlacement(scores, target, masked) : sampledPlacement(scores, target, masked, negatives, rng));
      for (const i of split.history) masked[i] = 0;
      masked[split.target] = 0;
    });
  }
  const n = splits.length;
  const out: Metrics = {};
  ks.forEach((k, j) => {
    out[`HR@${k}`] = hits[j]! / n;
    out[`NDCG@${k}`] = ndcg[j]! / n;
  });
  out.MRR = mrr / n;
  return out;
}

/** The competitors scoring above the target and those scoring the same (NaN is neither). */
interface Placement {
  higher: number;
  tied: number;
}

/** The placement among every unmasked item. */
function fullPlacement(scores: Float32Array, target: number, masked: Uint8Array): Placement {
  let higher = 0;
  let tied = 0;
  for (let i = 0; i < scores.length; i++) {
    if (masked[i]) continue;
    const s = scores[i]!;
    if (s > target) higher++;
    else if (s === target) tied++;
  }
  return { higher, tied };
}

/** The placement among up to n distinct negatives drawn from the unmasked items. */
function sampledPlacement(scores: Float32Array, target: number, masked: Uint8Array, n: number, rng: Random): Placement {
  let eligible = 0;
  for (let i = 0; i < scores.length; i++) if (!masked[i]) eligible++;
  const drawn: number[] = [];
  let higher = 0;
  let tied = 0;
  while (drawn.length < Math.min(n, eligible)) {
    const i = rng.int(scores.length);
    if (masked[i]) continue;
    masked[i] = 1; // drawn once
    drawn.push(i);
    if (scores[i]! > target) higher++;
    else if (scores[i] === target) tied++;
  }
  for (const i of drawn) masked[i] = 0;
  return { higher, tied };
}

/** Harmonic sums of up to this many terms are added up; longer ones use the asymptotic series. */
const HARMONIC_TERMS = 64;
const EULER_GAMMA = 0.5772156649015329;

/** The sum of 1/i for i in (a, b]: the reciprocal ranks 1/(r+1) of the ranks r in [a, b). */
function harmonicSpan(a: number, b: number): number {
  if (b - a > HARMONIC_TERMS) return harmonic(b) - harmonic(a);
  let s = 0;
  for (let i = a + 1; i <= b; i++) s += 1 / i;
  return s;
}

/** H(m) = 1 + 1/2 + ... + 1/m; for m >= 64 the series' first omitted term is below 1e-16. */
function harmonic(m: number): number {
  if (m < HARMONIC_TERMS) return harmonicSpan(0, m);
  const inv2 = 1 / (m * m);
  return Math.log(m) + EULER_GAMMA + 1 / (2 * m) - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 / 252));
}

/** Each item's count in the training sequences. */
export function trainingCounts(train: Int32Array[], items: number): Float32Array {
  const counts = new Float32Array(items);
  for (const seq of train) for (const i of seq) counts[i]! += 1;
  return counts;
}

/**
 * The baseline every model must beat: items by their count in the training sequences.
 * @param train The training sequences whose item counts are the scores.
 * @param items Catalog size.
 */
export function popularityScorer(train: Int32Array[], items: number): Scorer {
  const counts = trainingCounts(train, items);
  return (splits) => {
    const rows = new Float32Array(items * splits.length);
    for (let j = 0; j < splits.length; j++) rows.set(counts, j * items);
    return rows;
  };
}

/**
 * At most `max` of the splits: a seeded uniform sample, in their order.
 * @typeParam T What the list holds.
 * @param splits Any list (splits, users).
 * @param max The most to keep; all of them are returned when there are no more.
 * @param seed Seed of the draw: the same seed and length give the same sample.
 */
export function sampleSplits<T>(splits: T[], max: number, seed: number): T[] {
  if (splits.length <= max) return splits;
  const rng = new Random(seed);
  const picked = new Set<number>();
  while (picked.size < max) picked.add(rng.int(splits.length));
  return [...picked].sort((a, b) => a - b).map((i) => splits[i]!);
}
