/**
 * Leave-one-out evaluation (the protocol of SASRec and most sequential recommenders): a
 * user's last event is the test target, the one before it the validation target, the rest
 * training. Ranking is over the full catalog with the user's history masked (the target
 * itself stays eligible even if it appeared earlier).
 */
import { LmrecError } from '../errors.js';

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

/** Scores of every item for one split (higher is better); length = catalog size. */
export type Scorer = (split: Split) => Float32Array | Promise<Float32Array>;

/**
 * HR@K, NDCG@K for each K, and MRR, averaged over the splits. The target's rank counts the
 * items scoring strictly higher (ties are resolved in the target's favour, as is usual) among
 * those not in the history.
 */
export async function evaluate(splits: Split[], items: number, scorer: Scorer, ks: number[] = [1, 5, 10, 20]): Promise<Metrics> {
  if (splits.length === 0) throw new LmrecError('nothing to evaluate: no user has 3 or more events', 'INVALID_ARGUMENT');
  const hits = new Array<number>(ks.length).fill(0);
  const ndcg = new Array<number>(ks.length).fill(0);
  let mrr = 0;
  const seen = new Uint8Array(items);
  for (const split of splits) {
    const scores = await scorer(split);
    if (scores.length !== items) {
      throw new LmrecError(`the scorer returned ${scores.length} scores for a catalog of ${items}`, 'DIM_MISMATCH');
    }
    for (const i of split.history) seen[i] = 1;
    seen[split.target] = 0;
    const target = scores[split.target]!;
    if (Number.isNaN(target)) throw new LmrecError(`the scorer returned NaN for user ${split.user}'s target`, 'NON_FINITE');
    let rank = 0; // 0-based
    for (let i = 0; i < items; i++) if (!seen[i] && scores[i]! > target) rank++;
    for (const i of split.history) seen[i] = 0;
    mrr += 1 / (rank + 1);
    ks.forEach((k, j) => {
      if (rank < k) {
        hits[j]! += 1;
        ndcg[j]! += 1 / Math.log2(rank + 2);
      }
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

/** The baseline every model must beat: items by their count in the training sequences. */
export function popularityScorer(train: Int32Array[], items: number): Scorer {
  const counts = new Float32Array(items);
  for (const seq of train) for (const i of seq) counts[i]! += 1;
  return () => counts;
}
