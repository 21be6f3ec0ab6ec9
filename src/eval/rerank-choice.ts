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
 */
import type { LmRanker } from '../recommender/lm-ranker.js';
import { candidateHeadScores } from '../recommender/lm-stage.js';
import type { Recommender } from '../recommender/recommender.js';
import type { Split } from './leave-one-out.js';

export const RERANK_WEIGHTS = [0, 0.05, 0.1, 0.2, 0.5, 1, 2, 4];
export const RERANK_EVENTS = [10, 20];

export interface RerankGridPoint {
  events: number;
  weight: number;
  validNdcg10: number;
  testNdcg10: number;
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
  /** testNdcg10 / aloneTestNdcg10 - 1. */
  gain: number;
  grid: RerankGridPoint[];
}

export interface RerankChoiceOptions {
  /** recommend()'s best this many are re-ranked. Default 50. */
  candidates?: number;
  weights?: readonly number[];
  events?: readonly number[];
  /** Told after each user scored. */
  onProgress?: (done: number, total: number) => void;
}

/** One user's candidates: ids best first, recommend()'s scores, the ranker's after each m of `events`. */
interface Scored {
  target: string;
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
      out.push({ target: name(s.target), ids: first.map((x) => x.id), srm: first.map((x) => x.score), lm });
      o.onProgress?.(++done, total);
    }
    return out;
  };
  const valid = await scoreAll(split.valid);
  const test = await scoreAll(split.test);
  const grid = events.flatMap((m, x) => weights.map((w) => ({ events: m, weight: w, validNdcg10: meanNdcg(valid, w, x), testNdcg10: meanNdcg(test, w, x) })));
  const best = grid.reduce((a, b) => (b.validNdcg10 > a.validNdcg10 ? b : a));
  const alone = meanNdcg(test, 0, 0);
  return { events: best.events, weight: best.weight, candidates, validNdcg10: best.validNdcg10, testNdcg10: best.testNdcg10, aloneTestNdcg10: alone, gain: alone > 0 ? best.testNdcg10 / alone - 1 : 0, grid };
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
