/**
 * Leave-one-out evaluation (the protocol of SASRec and most sequential recommenders): a
 * user's last event is the test target, the one before it the validation target, the rest
 * training. Ranking is over the full catalog with the user's history masked (the target
 * itself stays eligible even if it appeared earlier).
 */
import { LmrecError } from '../errors.js';
import { Random } from '../util/random.js';

export interface Split {
  /** Per user: the history a model may see when predicting `target`. */
  history: Int32Array;
  target: number;
  user: number;
}

export interface LeaveOneOut {
  /** Per user, everything but the last two events. */
  train: Int32Array[];
  valid: Split[];
  test: Split[];
}

/** Splits time-ordered sequences; users with fewer than 3 events stay in training only. */
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
  seed?: number;
}

/**
 * HR@K, NDCG@K for each K, and MRR, averaged over the splits. The target's rank counts the
 * items scoring strictly higher (ties are resolved in the target's favour, as is usual) among
 * those not in the history: all of them, or the sampled negatives when asked.
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
  const add = (rank: number): void => {
    mrr += 1 / (rank + 1);
    ks.forEach((k, j) => {
      if (rank < k) {
        hits[j]! += 1;
        ndcg[j]! += 1 / Math.log2(rank + 2);
      }
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
      add(negatives === undefined ? fullRank(scores, target, masked) : sampledRank(scores, target, masked, negatives, rng));
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

/** 0-based rank of the target's score among the unmasked items. */
function fullRank(scores: Float32Array, target: number, masked: Uint8Array): number {
  let rank = 0;
  for (let i = 0; i < scores.length; i++) if (!masked[i] && scores[i]! > target) rank++;
  return rank;
}

/** Rank of the target's score among up to n distinct negatives drawn from the unmasked items. */
function sampledRank(scores: Float32Array, target: number, masked: Uint8Array, n: number, rng: Random): number {
  let eligible = 0;
  for (let i = 0; i < scores.length; i++) if (!masked[i]) eligible++;
  const drawn: number[] = [];
  let rank = 0;
  while (drawn.length < Math.min(n, eligible)) {
    const i = rng.int(scores.length);
    if (masked[i]) continue;
    masked[i] = 1; // drawn once
    drawn.push(i);
    if (scores[i]! > target) rank++;
  }
  for (const i of drawn) masked[i] = 0;
  return rank;
}

/** The baseline every model must beat: items by their count in the training sequences. */
export function popularityScorer(train: Int32Array[], items: number): Scorer {
  const counts = new Float32Array(items);
  for (const seq of train) for (const i of seq) counts[i]! += 1;
  return (splits) => {
    const rows = new Float32Array(items * splits.length);
    for (let j = 0; j < splits.length; j++) rows.set(counts, j * items);
    return rows;
  };
}
