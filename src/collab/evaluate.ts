/**
 * Device–cloud collaboration measured in LSC4Rec's setting (`lmrec eval collab`), on
 * leave-one-out splits and two trained models already in memory.
 *
 * Who sees what, for a user whose time-ordered events are s_0 .. s_{n-1}:
 *  - training, both models: s_0 .. s_{n-3} (leaveOneOut's train), early-stopped on validation
 *    (`lmrec eval collab` stops its SRMs on every other validation user, and gives the rest here);
 *  - validation traffic: target s_{n-2}. The device sees s_0 .. s_{n-3}; the cloud's stale view
 *    lacks the last `staleEvents` (2) of them, s_0 .. s_{n-5}; a request sends it s_0 .. s_{n-3}.
 *    The fusion rule of the request curve and the policy's thresholds are chosen here;
 *  - test traffic: target s_{n-1}. The device sees s_0 .. s_{n-2}; the cloud's stale view is
 *    s_0 .. s_{n-4}; a request sends it s_0 .. s_{n-2}. Nothing is chosen on test.
 * No side ever sees the target's event (the same item may occur earlier, as a repeat).
 *
 * The cloud's list is its top N over the whole catalog, seen items included: a repeated target
 * must be findable, as the full ranking of evaluate() keeps it eligible. Every metric masks the
 * device's history (the user has seen those items) but not the target. Full-catalog rankings
 * (cloud-only, device-only) go through evaluate(); a candidate list is ranked without ties, so
 * its metrics come from the target's rank among the list's unmasked items, a target outside the
 * list being a miss.
 *
 * The device takes a candidate it never saw in training (no training history holds it) as
 * undecided (see candidateProbabilities): an ID-only SRM's score for it is a guess.
 *
 * Request curve: at each rate the policy's threshold is the quantile of the inconsistency on
 * validation traffic; on test, a user above it gets a fresh list for their real-time history,
 * the others keep the stale one; the device fuses either with the validation-best rule. The
 * random baseline makes exactly as many requests as the policy made on test, drawn uniformly
 * (seeded), averaged over several draws.
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { coldWeighting } from '../eval/cold-share.js';
import { evaluate, type LeaveOneOut, type Split } from '../eval/leave-one-out.js';
import { parseOptions } from '../util/options.js';
import { Random } from '../util/random.js';
import { FUSION_RULES, fusedOrder, type FusionRule } from './fusion.js';
import { DEFAULT_PAD_PENALTY, thresholdForRate } from './policy.js';
import { rerank, type CandidateScorer } from './rerank.js';

/** The cloud's model: scores of the whole catalog (its top N is a candidate list). */
export interface CloudModel {
  /** Items it scores (the catalog's size). */
  readonly items: number;
  /**
   * Scores of every item after each history, one row of `items` per history.
   * @param histories Item-number histories, oldest first.
   */
  scoreBatch(histories: ArrayLike<number>[]): Promise<Float32Array>;
}

/** The device's model: it re-ranks candidate lists and ranks the whole catalog. */
export interface CollabModel extends CandidateScorer, CloudModel {}

export interface CollabEvalOptions {
  /** N, the candidates the cloud returns. Default 50. */
  candidates?: number;
  /** Events at the end of the history the cloud has not seen. Default 2. */
  staleEvents?: number;
  /** Request rates of the curve. Default 0.05, 0.1, 0.2, 0.3, 0.5, 0.8. */
  rates?: number[];
  /** Random draws averaged for the random baseline. Default 5. */
  randomDraws?: number;
  /** Inconsistency added per empty slot of a short list. Default 1. */
  padPenalty?: number;
  /** Seed of the random baseline's draws (default 1). */
  seed?: number;
  /**
   * The share of requests whose target is cold (no training history holds it; the LM stage's
   * chooseRerank reads the same from the Recommender's `idMask()`) in the traffic
   * to serve: the fusion rules are compared on validation NDCG@10 weighted to it (cold-target
   * users count coldShare, the others 1 − coldShare). Default: validation as it is. Ignored
   * where validation has no cold-target users or only those. See src/eval/cold-share.ts.
   */
  coldShare?: number;
}

/** HR@10 and NDCG@10. */
export interface CollabMetrics {
  /** Share of users whose target is in the top 10. */
  'HR@10': number;
  /** Mean NDCG@10 of the target (1/log2(rank + 2) within the top 10, else 0). */
  'NDCG@10': number;
}

export interface CollabQuality {
  /** On validation traffic (each user's second-to-last event as the target). */
  valid: CollabMetrics;
  /** On test traffic (each user's last event as the target). */
  test: CollabMetrics;
}

export interface CurvePoint {
  /** The request rate asked for (the budget). */
  rate: number;
  /** The inconsistency above which the policy asks, from validation traffic. */
  threshold: number;
  /** Test quality with the policy's requests, and the share of test users it asked for. */
  policy: CollabMetrics & { requestRate: number };
  /** Test quality with as many random requests, the mean over `draws` draws. */
  random: CollabMetrics & { requestRate: number; draws: number };
}

export interface CollabReport {
  /** N, the candidates in each cloud list. */
  candidates: number;
  /** Events at the end of each history the cloud's stale view lacks. */
  staleEvents: number;
  /** Users of the validation traffic (thresholds and the best fusion are chosen on them). */
  validUsers: number;
  /** Users of the test traffic (every reported test metric is on them). */
  testUsers: number;
  /** Share of test targets in the cloud's list: the stale one, and a fresh one. */
  recall: {
    /** In the list made from the cloud's stale view. */
    stale: number;
    /** In the list made from the real-time history (after a request). */
    fresh: number;
  };
  /** Full-catalog rankings: the cloud on its stale view, the cloud on the real-time history (what every request would give alone), the device's SRM. */
  models: {
    /** The cloud's model on its stale view of the history. */
    'cloud-only': CollabQuality;
    /** The cloud's model on the real-time history. */
    'cloud-fresh': CollabQuality;
    /** The device's SRM on the real-time history. */
    'device-only': CollabQuality;
  };
  /** Each fusion of the stale list with the device's SRM, no requests. */
  fusions: Record<FusionRule, CollabQuality>;
  /** The rule with the best validation NDCG@10 (weighted to `choice.coldShare`): the one the curve uses. */
  bestFusion: FusionRule;
  /** What the rules were compared on: validation NDCG@10 weighted to a share of cold targets. */
  choice: {
    /** The share weighted to (validation's own when not weighted). */
    coldShare: number;
    /** Whether validation was weighted to the given coldShare (false: none given, or validation has no cold-target users or only those). */
    weighted: boolean;
    /** The share of cold targets among the validation and the test users. */
    validColdShare: number;
    testColdShare: number;
    /** Each rule's weighted validation NDCG@10. */
    validNdcg10: Record<FusionRule, number>;
  };
  /** The best rule with a fresh list for every user (a request rate of 1). */
  allRequests: CollabMetrics;
  /** Test quality at each request rate of `rates`: the policy's requests against as many random ones. */
  curve: CurvePoint[];
  /**
   * Where the gain comes from: test NDCG@10 of the cloud alone (stale view), the device's SRM
   * over the whole catalog, and the best fusion, within groups of test users: histories at most
   * the median length (`shortHistory`) or longer, and targets some training history holds
   * (`warmTarget`) or none does (`coldTarget`).
   */
  groups: Record<'shortHistory' | 'longHistory' | 'warmTarget' | 'coldTarget', CollabGroup>;
  /** The median test history length, the line between short and long histories. */
  medianHistory: number;
  /** Test NDCG@10 comparisons (the targets). */
  targets: {
    /**
     * The best fusion (by validation) is above the cloud alone and the device's SRM ranking the
     * whole catalog: the single models as the issue names them. The latter is a stronger
     * device than LSC4Rec's, whose SRM holds no catalog index and only re-ranks the list.
     */
    bestFusionBeatsBoth: boolean;
    /**
     * The paper's comparison: the best of the rules that mix both (gated, sum, sum-srm-x2; by
     * validation) is above both single-model rules on the same list, llm-only and srm-only.
     */
    mixBeatsSingleRules: boolean;
    /** The policy is above random requests at every rate <= 0.3. */
    policyBeatsRandom: boolean;
  };
}

/** Test NDCG@10 of one group of users (see CollabReport.groups). */
export interface CollabGroup {
  users: number;
  'cloud-only': number;
  'device-only': number;
  /** The best fusion (by validation) of the stale list. */
  fusion: number;
}

export const DEFAULT_RATES = [0.05, 0.1, 0.2, 0.3, 0.5, 0.8];
/** The rules that use both models (the others are one model alone). */
const MIXING_RULES: readonly FusionRule[] = ['gated', 'sum', 'sum-srm-x2'];
const K = 10;

const optionsSchema = z.strictObject({
  candidates: z.number().int().min(1).max(10_000).optional(),
  staleEvents: z.number().int().min(0).optional(),
  rates: z.array(z.number().min(0).max(1)).min(1).optional(),
  randomDraws: z.number().int().min(1).max(1000).optional(),
  padPenalty: z.number().min(0).optional(),
  seed: z.number().int().nonnegative().optional(),
  coldShare: z.number().min(0).max(1).optional(),
});

/** Target ranks on one split set: -1 where the target is not in the list. */
interface Traffic {
  splits: Split[];
  /** The cloud's stale view of each split's history. */
  stale: ArrayLike<number>[];
  ranks: { stale: Record<FusionRule, Int32Array>; fresh: Record<FusionRule, Int32Array> };
  /** S of each stale list after the device's history. */
  inconsistency: Float64Array;
  inList: { stale: number; fresh: number };
}

/**
 * LSC4Rec's evaluation: full-catalog rankings of each model, every fusion rule on the stale list,
 * and the request curve of the policy against random requests.
 * @param split Leave-one-out validation and test splits (leaveOneOut's; either may be a part of the users), and the training histories both models were trained on. Without `train`, the test users' histories without their last event stand for it: right only when the test users are every user who trained, so pass it whenever `test` is a part of them.
 * @param items Catalog size: both models must know exactly this many items.
 * @param models The two models.
 * @param models.cloud The cloud's model: its top N over the whole catalog is the candidate list.
 * @param models.device The device's SRM, re-ranking the lists.
 * @param options N, stale events, request rates, random draws, pad penalty and seed.
 */
export async function evaluateCollab(split: Pick<LeaveOneOut, 'valid' | 'test'> & Partial<Pick<LeaveOneOut, 'train'>>, items: number, models: { cloud: CloudModel; device: CollabModel }, options: CollabEvalOptions = {}): Promise<CollabReport> {
  const o = parseOptions(optionsSchema, options, 'evaluateCollab');
  const N = o.candidates ?? 50;
  const staleEvents = o.staleEvents ?? 2;
  const rates = o.rates ?? DEFAULT_RATES;
  const draws = o.randomDraws ?? 5;
  const { cloud, device } = models;
  if (split.valid.length === 0 || split.test.length === 0) throw new LmrecError('nothing to evaluate: no user has 3 or more events', 'INVALID_ARGUMENT');
  if (cloud.items !== items || device.items !== items) {
    throw new LmrecError(`the models know ${cloud.items} (cloud) and ${device.items} (device) items, the catalog has ${items}`, 'DIM_MISMATCH');
  }
  // the items of the training histories (without them, the evaluated users': a test history
  // without its last event): what an ID-only device model has learned
  const trained = new Set<number>();
  if (split.train) for (const h of split.train) for (const i of h) trained.add(i);
  else for (const s of split.test) for (let j = 0; j + 1 < s.history.length; j++) trained.add(s.history[j]!);
  const mask = device.idMask?.();
  const known = Uint8Array.from({ length: items }, (_, i) => (trained.has(i) && (!mask || mask[i]) ? 1 : 0));
  const run = (splits: Split[]) => traffic(splits, staleEvents, N, cloud, device, o.padPenalty ?? DEFAULT_PAD_PENALTY, known);
  const valid = await run(split.valid);
  const test = await run(split.test);

  const full = async (model: CloudModel, stale: boolean): Promise<CollabQuality> => ({
    valid: await fullRanking(valid, model, stale, items),
    test: await fullRanking(test, model, stale, items),
  });
  const fusions = Object.fromEntries(
    FUSION_RULES.map((rule) => [rule, { valid: fromRanks(valid.ranks.stale[rule]), test: fromRanks(test.ranks.stale[rule]) }]),
  ) as Record<FusionRule, CollabQuality>;
  // the first of the rules with the best validation NDCG@10, weighted to the traffic's cold share
  const coldValid = Uint8Array.from(valid.splits, (s) => (trained.has(s.target) ? 0 : 1));
  const validColdShare = coldValid.reduce((a, x) => a + x, 0) / coldValid.length;
  const weighting = coldWeighting(o.coldShare, validColdShare);
  const ofGroup = (ranks: Int32Array, cold: number) => fromRanks(ranks.filter((_, u) => coldValid[u] === cold))['NDCG@10'];
  const criterion = Object.fromEntries(
    FUSION_RULES.map((rule) => {
      const r = valid.ranks.stale[rule];
      return [rule, weighting.weighted ? weighting.mix(ofGroup(r, 1), ofGroup(r, 0)) : fusions[rule].valid['NDCG@10']];
    }),
  ) as Record<FusionRule, number>;
  const bestOf = (rules: readonly FusionRule[]) => rules.reduce((best, rule) => (criterion[rule] > criterion[best] ? rule : best));
  const bestFusion = bestOf(FUSION_RULES);
  const bestMix = bestOf(MIXING_RULES);
  const models_ = {
    'cloud-only': await full(cloud, true),
    'cloud-fresh': await full(cloud, false),
    'device-only': await full(device, false),
  };

  const rng = new Random(o.seed ?? 1);
  const n = test.splits.length;
  const curve = rates.map((rate): CurvePoint => {
    const threshold = thresholdForRate(valid.inconsistency, rate);
    const asked = Uint8Array.from(test.inconsistency, (s) => (s > threshold ? 1 : 0));
    const count = asked.reduce((a, x) => a + x, 0);
    const sum = { 'HR@10': 0, 'NDCG@10': 0 };
    for (let d = 0; d < draws; d++) {
      const m = fromRanks(mixed(test, bestFusion, randomSubset(n, count, rng)));
      sum['HR@10'] += m['HR@10'];
      sum['NDCG@10'] += m['NDCG@10'];
    }
    return {
      rate,
      threshold,
      policy: { ...fromRanks(mixed(test, bestFusion, asked)), requestRate: count / n },
      random: { 'HR@10': sum['HR@10'] / draws, 'NDCG@10': sum['NDCG@10'] / draws, requestRate: count / n, draws },
    };
  });

  // the groups: by history length, and by whether the target occurs in any training history
  const lengths = test.splits.map((s) => s.history.length).sort((a, b) => a - b);
  const medianHistory = lengths[(lengths.length - 1) >> 1]!;
  const group = async (member: (s: Split) => boolean): Promise<CollabGroup> => {
    const mask = Uint8Array.from(test.splits, (s) => (member(s) ? 1 : 0));
    const users = mask.reduce((a, x) => a + x, 0);
    const sub: Traffic = { ...test, splits: test.splits.filter((_, u) => mask[u]), stale: test.stale.filter((_, u) => mask[u]) };
    const ndcg = async (model: CloudModel, stale: boolean) => (users === 0 ? 0 : (await fullRanking(sub, model, stale, items))['NDCG@10']);
    return {
      users,
      'cloud-only': await ndcg(cloud, true),
      'device-only': await ndcg(device, false),
      fusion: users === 0 ? 0 : fromRanks(test.ranks.stale[bestFusion].filter((_, u) => mask[u]))['NDCG@10'],
    };
  };
  const groups = {
    shortHistory: await group((s) => s.history.length <= medianHistory),
    longHistory: await group((s) => s.history.length > medianHistory),
    warmTarget: await group((s) => trained.has(s.target)),
    coldTarget: await group((s) => !trained.has(s.target)),
  };

  const testNdcg = (rule: FusionRule) => fusions[rule].test['NDCG@10'];
  const best = testNdcg(bestFusion);
  return {
    candidates: N,
    staleEvents,
    validUsers: valid.splits.length,
    testUsers: n,
    recall: { stale: test.inList.stale / n, fresh: test.inList.fresh / n },
    models: models_,
    fusions,
    bestFusion,
    choice: { coldShare: weighting.coldShare, weighted: weighting.weighted, validColdShare, testColdShare: groups.coldTarget.users / n, validNdcg10: criterion },
    allRequests: fromRanks(test.ranks.fresh[bestFusion]),
    curve,
    groups,
    medianHistory,
    targets: {
      bestFusionBeatsBoth: best > models_['cloud-only'].test['NDCG@10'] && best > models_['device-only'].test['NDCG@10'],
      mixBeatsSingleRules: testNdcg(bestMix) > testNdcg('llm-only') && testNdcg(bestMix) > testNdcg('srm-only'),
      policyBeatsRandom: curve.filter((p) => p.rate <= 0.3).every((p) => p.policy['NDCG@10'] > p.random['NDCG@10']),
    },
  };
}

/** The cloud's stale and fresh lists for each split, re-ranked and fused by the device every way. */
async function traffic(splits: Split[], staleEvents: number, N: number, cloud: CloudModel, device: CollabModel, padPenalty: number, known: Uint8Array): Promise<Traffic> {
  const perRule = () => Object.fromEntries(FUSION_RULES.map((r) => [r, new Int32Array(splits.length)])) as Record<FusionRule, Int32Array>;
  const t: Traffic = {
    splits,
    stale: splits.map((s) => s.history.subarray(0, Math.max(0, s.history.length - staleEvents))),
    ranks: { stale: perRule(), fresh: perRule() },
    inconsistency: new Float64Array(splits.length),
    inList: { stale: 0, fresh: 0 },
  };
  const lists = { stale: await topLists(cloud, t.stale, N), fresh: await topLists(cloud, splits.map((s) => s.history), N) };
  splits.forEach((split, u) => {
    const seen = new Set(split.history);
    for (const kind of ['stale', 'fresh'] as const) {
      const list = lists[kind][u]!;
      const r = rerank(device, split.history, list, N, padPenalty, known);
      if (kind === 'stale') t.inconsistency[u] = r.inconsistency;
      if (list.includes(split.target)) t.inList[kind]++;
      for (const rule of FUSION_RULES) t.ranks[kind][rule][u] = targetRank(list, fusedOrder(rule, r.probabilities, N), split.target, seen);
    }
  });
  return t;
}

/** Scored per scoreBatch call of the cloud's lists. */
const LIST_BATCH = 256;

/** The cloud's top N over the whole catalog after each history (seen items included), best first, ties to the lower item. */
async function topLists(cloud: CloudModel, histories: ArrayLike<number>[], N: number): Promise<Int32Array[]> {
  const I = cloud.items;
  const n = Math.min(N, I);
  const out: Int32Array[] = [];
  for (let from = 0; from < histories.length; from += LIST_BATCH) {
    const chunk = histories.slice(from, from + LIST_BATCH);
    const rows = await cloud.scoreBatch(chunk);
    chunk.forEach((_, j) => out.push(topOf(rows.subarray(j * I, (j + 1) * I), n)));
  }
  return out;
}

/** The n best items of a score row, best first (ties: the lower item; NaN below everything). */
function topOf(row: Float32Array, n: number): Int32Array {
  const s = (i: number) => (Number.isNaN(row[i]) ? -Infinity : row[i]!);
  const better = (a: number, b: number) => s(a) > s(b) || (s(a) === s(b) && a < b);
  const heap: number[] = []; // heap[0]: the weakest kept
  const down = (at: number) => {
    for (;;) {
      const l = 2 * at + 1;
      const r = l + 1;
      let m = at;
      if (l < heap.length && better(heap[m]!, heap[l]!)) m = l;
      if (r < heap.length && better(heap[m]!, heap[r]!)) m = r;
      if (m === at) return;
      [heap[at], heap[m]] = [heap[m]!, heap[at]!];
      at = m;
    }
  };
  for (let i = 0; i < row.length; i++) {
    if (heap.length < n) {
      heap.push(i);
      for (let at = heap.length - 1; at > 0; ) {
        const up = (at - 1) >> 1;
        if (!better(heap[up]!, heap[at]!)) break;
        [heap[at], heap[up]] = [heap[up]!, heap[at]!];
        at = up;
      }
    } else if (n > 0 && better(i, heap[0]!)) {
      heap[0] = i;
      down(0);
    }
  }
  return Int32Array.from(heap.sort((a, b) => (better(a, b) ? -1 : 1)));
}

/** The target's 0-based rank among the list's items not seen before (in `order`), -1 if absent. */
function targetRank(list: Int32Array, order: Int32Array, target: number, seen: Set<number>): number {
  let rank = 0;
  for (const j of order) {
    const item = list[j]!;
    if (item === target) return rank;
    if (!seen.has(item)) rank++;
  }
  return -1;
}

/** HR@10 and NDCG@10 from target ranks (-1: a miss). */
function fromRanks(ranks: Int32Array): CollabMetrics {
  let hits = 0;
  let gain = 0;
  for (const r of ranks) {
    if (r < 0 || r >= K) continue;
    hits++;
    gain += 1 / Math.log2(r + 2);
  }
  return { 'HR@10': hits / ranks.length, 'NDCG@10': gain / ranks.length };
}

/** Each user's rank under the rule: from the fresh list where asked, else the stale one. */
function mixed(t: Traffic, rule: FusionRule, asked: Uint8Array): Int32Array {
  const stale = t.ranks.stale[rule];
  const fresh = t.ranks.fresh[rule];
  return Int32Array.from(stale, (r, u) => (asked[u] ? fresh[u]! : r));
}

/** `count` of n users, uniformly at random (a partial Fisher–Yates shuffle). */
function randomSubset(n: number, count: number, rng: Random): Uint8Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const picked = new Uint8Array(n);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(n - i);
    [order[i], order[j]] = [order[j]!, order[i]!];
    picked[order[i]!] = 1;
  }
  return picked;
}

/** A model's full-catalog metrics, on the cloud's stale views or the device's histories. */
async function fullRanking(t: Traffic, model: CloudModel, stale: boolean, items: number): Promise<CollabMetrics> {
  const view = new Map(t.splits.map((s, u) => [s, stale ? t.stale[u]! : s.history]));
  const m = await evaluate(t.splits, items, (batch) => model.scoreBatch(batch.map((s) => view.get(s)!)), [K]);
  return { 'HR@10': m[`HR@${K}`]!, 'NDCG@10': m[`NDCG@${K}`]! };
}
