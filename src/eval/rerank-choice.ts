/**
 * The LM stage's settings chosen on validation users (`lmrec eval rerank`, bench:lm-stage):
 * recommend()'s best `candidates` for each user's history before the target, re-ranked by
 *   srm_i + w · lm_i
 * with the ranker's item-head scores after the last m events, over a grid of w and m. The
 * pair with the best validation NDCG@10 is chosen and reported with its test NDCG@10 beside
 * recommend() alone on the same users. Seen items are left out, as recommend() answers, so a
 * target that repeats a history item is a miss for every row. Ties keep recommend()'s order.
 * Cold candidates get the mean head score of the others, as in the stage. `rec` and `name`
 * number items alike (the catalog file's order, as Recommender.fit and readCatalogIds do).
 *
 * Each grid point also reports the users whose target is cold (no training events) apart from
 * the rest, because the stage trades one for the other: the head lifts warm targets and, where
 * it ranks warm candidates above the cold ones recommend() found by their text, loses cold
 * targets. How that trade comes out depends on the share of cold targets, and leave-one-out's
 * validation under-states the traffic's (its targets are a step older than the test's: on
 * Amazon Sports 4.2% against 14.7%). `coldShare` weights validation to the share the traffic has.
 */
import { LmrecError } from '../errors.js';
import { coldWeighting } from './cold-share.js';
import type { LmRanker } from '../recommender/lm-ranker.js';
import { candidateHeadScores } from '../recommender/lm-stage.js';
import type { Recommender } from '../recommender/recommender.js';
import type { Split } from './leave-one-out.js';

export const RERANK_WEIGHTS = [0, 0.05, 0.1, 0.2, 0.5, 1, 2, 4];
export const RERANK_EVENTS = [10, 20];

export interface RerankGridPoint {
  events: number;
  weight: number;
  /** What the choice maximises: validation NDCG@10, weighted to `coldShare` when one is given. */
  validNdcg10: number;
  testNdcg10: number;
  /** NDCG@10 of the users whose target is cold (no training events: the Recommender's SRM has no ID row for it, `idMask()`); NaN where there are none (null in JSON). */
  cold: { valid: number; test: number };
  /** NDCG@10 of the other users; NaN where there are none. */
  warm: { valid: number; test: number };
}

export interface RerankChoice {
  /** The chosen history length and weight (weight 0: the stage does not help on validation). */
  events: number;
  weight: number;
  candidates: number;
  validNdcg10: number;
  testNdcg10: number;
  /** recommend() alone on the same test users. */
  aloneTestNdcg10: number;
  /** recommend() alone on the test users whose target is cold, and on the others (NaN for none). */
  aloneGroups: { cold: number; warm: number };
  /** testNdcg10 / aloneTestNdcg10 - 1. */
  gain: number;
  /** The share of cold targets validation was weighted to (its own share when not weighted). */
  coldShare: number;
  /** Whether validation was weighted to a given coldShare (false: none given, or validation has no cold-target users or only those). */
  weighted: boolean;
  /** The share of cold targets among the validation and the test users. */
  validColdShare: number;
  testColdShare: number;
  grid: RerankGridPoint[];
}

export interface RerankChoiceOptions {
  /** recommend()'s best this many are re-ranked. Default 50. */
  candidates?: number;
  weights?: readonly number[];
  events?: readonly number[];
  /**
   * The share of requests whose next item is cold (no training events) in the traffic the stage
   * will serve, e.g. read from the latest events of users outside `valid` and `test`. Validation
   * users are weighted to it: cold-target users' NDCG@10 counts coldShare, the others'
   * 1 − coldShare. Default: validation's own share (a plain mean). Ignored where validation has
   * no cold-target users or only those (nothing to weight).
   */
  coldShare?: number;
  /** Told after each user scored. */
  onProgress?: (done: number, total: number) => void;
}

/** One user's candidates: ids best first, recommend()'s scores, the ranker's after each m of `events`. */
interface Scored {
  target: string;
  /** The target had training events. */
  targetWarm: boolean;
  ids: string[];
  srm: number[];
  lm: (Float32Array | undefined)[];
}

/**
 * Chooses the stage's weight and history length on `valid`, reports them on `test`.
 * @param rec A Recommender fit on the training part of the same split.
 * @param ranker A model trained on the same catalog and training events.
 * @param split Validation and test users (item numbers named by `name`).
 * @param name An item number's id.
 * @param o Candidates, the grid, progress.
 */
export async function chooseRerank(rec: Recommender, ranker: LmRanker, split: { valid: Split[]; test: Split[] }, name: (item: number) => string, o: RerankChoiceOptions = {}): Promise<RerankChoice> {
  const candidates = o.candidates ?? 50;
  if (o.coldShare !== undefined && !(o.coldShare >= 0 && o.coldShare <= 1)) throw new LmrecError(`coldShare must be a share in [0, 1], got ${o.coldShare}`, 'INVALID_ARGUMENT');
  const weights = o.weights ?? RERANK_WEIGHTS;
  const events = o.events ?? RERANK_EVENTS;
  const total = split.valid.length + split.test.length;
  let done = 0;
  // cold candidates (no training events) are undecided for the head, as in the stage
  const warm = rec.srm.idMask();
  const number = new Map(Array.from({ length: rec.items }, (_, i) => [name(i), i]));
  const isWarm = (id: string) => warm[number.get(id)!] === 1;
  const scoreAll = async (splits: Split[]): Promise<Scored[]> => {
    const out: Scored[] = [];
    for (const s of splits) {
      const history = Array.from(s.history, name);
      const first = rec.recommend({ history, k: candidates }).items;
      const lm: (Float32Array | undefined)[] = [];
      for (const m of events) {
        // as the stage scores: unscorable candidates keep recommend()'s score, cold ones the mean
        const got = await candidateHeadScores(ranker, history.slice(-m), first, isWarm);
        if (!got) {
          lm.push(undefined);
          continue;
        }
        const all = new Float32Array(first.length);
        got.at.forEach((j, i) => (all[j] = got.scores[i]!));
        lm.push(all);
      }
      out.push({ target: name(s.target), targetWarm: warm[s.target] === 1, ids: first.map((x) => x.id), srm: first.map((x) => x.score), lm });
      o.onProgress?.(++done, total);
    }
    return out;
  };
  const valid = await scoreAll(split.valid);
  const test = await scoreAll(split.test);
  const validCold = coldListShare(valid);
  const weighting = coldWeighting(o.coldShare, validCold);
  const [validColdLists, validWarmLists] = byTarget(valid);
  const [testColdLists, testWarmLists] = byTarget(test);
  const grid = events.flatMap((m, x) =>
    weights.map((w): RerankGridPoint => {
      const cold = { valid: groupNdcg(validColdLists, w, x), test: groupNdcg(testColdLists, w, x) };
      const warm = { valid: groupNdcg(validWarmLists, w, x), test: groupNdcg(testWarmLists, w, x) };
      const validNdcg10 = weighting.weighted ? weighting.mix(cold.valid, warm.valid) : meanNdcg(valid, w, x);
      return { events: m, weight: w, validNdcg10, testNdcg10: meanNdcg(test, w, x), cold, warm };
    }),
  );
  const best = grid.reduce((a, b) => (b.validNdcg10 > a.validNdcg10 ? b : a));
  const alone = meanNdcg(test, 0, 0);
  return {
    events: best.events,
    weight: best.weight,
    candidates,
    validNdcg10: best.validNdcg10,
    testNdcg10: best.testNdcg10,
    aloneTestNdcg10: alone,
    aloneGroups: { cold: groupNdcg(testColdLists, 0, 0), warm: groupNdcg(testWarmLists, 0, 0) },
    gain: alone > 0 ? best.testNdcg10 / alone - 1 : 0,
    coldShare: weighting.coldShare,
    weighted: weighting.weighted,
    validColdShare: validCold,
    testColdShare: coldListShare(test),
    grid,
  };
}

/** The share of lists whose target is cold (0 for none). */
function coldListShare(lists: Scored[]): number {
  return lists.length === 0 ? 0 : lists.filter((l) => !l.targetWarm).length / lists.length;
}

/** The lists whose target is cold, and the others. */
function byTarget(lists: Scored[]): [Scored[], Scored[]] {
  return [lists.filter((l) => !l.targetWarm), lists.filter((l) => l.targetWarm)];
}

/** meanNdcg of a group of users, NaN for an empty one (a group's figure is not 0 when nobody is in it). */
function groupNdcg(lists: Scored[], w: number, x: number): number {
  return lists.length === 0 ? NaN : meanNdcg(lists, w, x);
}

/** Mean NDCG@10 of the lists re-ranked at weight w with the scores after events[x] (ties: recommend()'s order). */
function meanNdcg(lists: Scored[], w: number, x: number): number {
  if (lists.length === 0) return 0;
  let sum = 0;
  for (const l of lists) {
    const lm = l.lm[x];
    const order = !lm || w === 0 ? l.ids : l.ids.map((_, j) => j).sort((a, b) => l.srm[b]! + w * lm[b]! - (l.srm[a]! + w * lm[a]!) || a - b).map((j) => l.ids[j]!);
    const r = order.slice(0, 10).indexOf(l.target);
    sum += r < 0 ? 0 : 1 / Math.log2(r + 2);
  }
  return sum / lists.length;
}
