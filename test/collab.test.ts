import { describe, expect, it } from 'vitest';
import { validateReply, type CloudClient, type CloudReply } from '../src/collab/cloud.js';
import { DeviceRecommender, type DeviceRecommenderOptions, type DeviceRecommendOptions } from '../src/collab/device-recommender.js';
import { candidateProbabilities, FUSION_RULES, fusedOrder, fusedScore } from '../src/collab/fusion.js';
import { inconsistency, RandomPolicy, thresholdForRate, ThresholdPolicy } from '../src/collab/policy.js';
import { rerank, type CandidateScorer } from '../src/collab/rerank.js';
import { LmrecError } from '../src/errors.js';
import { Random } from '../src/util/random.js';
import { thrown } from './helpers/errors.js';


describe('fusion rules', () => {
  it('match the formulas, computed by hand', () => {
    // j = 1 of N = 4: j/N = 0.25
    expect(fusedScore('llm-only', 3, 4, 0.9)).toBe(-3);
    expect(fusedScore('gated', 1, 4, 0.95)).toBeCloseTo(0.5 - 0.25 + 0.45, 12); // confident: the SRM counts
    expect(fusedScore('gated', 1, 4, 0.3)).toBeCloseTo(0.25, 12); // |0.3 - 0.5| = 0.2 <= 0.4: gated off
    expect(fusedScore('gated', 1, 4, 0.05)).toBeCloseTo(0.5 - 0.25 - 0.45, 12);
    expect(fusedScore('gated', 1, 4, 0.9)).toBeCloseTo(0.25, 12); // exactly 0.4 away: not above
    expect(fusedScore('sum', 2, 4, 0.7)).toBeCloseTo(-0.5 + 0.2, 12);
    expect(fusedScore('sum-srm-x2', 2, 4, 0.7)).toBeCloseTo(-0.5 + 0.4, 12);
    expect(fusedScore('srm-only', 2, 4, 0.7)).toBe(0.7);
  });

  it('order candidates as the formulas do, ties in the cloud order', () => {
    // p is exact in binary: 1/16, 1/4, 5/8, 1/16 (N = 4)
    const p = [0.0625, 0.25, 0.625, 0.0625];
    // gated: 0.0625, 0.25, 0, -0.6875
    expect(Array.from(fusedOrder('gated', p, 4))).toEqual([1, 0, 2, 3]);
    // sum: -0.4375, -0.5, -0.375, -1.1875
    expect(Array.from(fusedOrder('sum', p, 4))).toEqual([2, 0, 1, 3]);
    // sum-srm-x2: -0.875, -0.75, -0.25, -1.625
    expect(Array.from(fusedOrder('sum-srm-x2', p, 4))).toEqual([2, 1, 0, 3]);
    // srm-only: 0 and 3 tie, the cloud's order decides
    expect(Array.from(fusedOrder('srm-only', p, 4))).toEqual([2, 1, 0, 3]);
    expect(Array.from(fusedOrder('llm-only', p, 4))).toEqual([0, 1, 2, 3]);
    // sum: -0.25 and -0.25 tie
    expect(Array.from(fusedOrder('sum', [0.25, 0.5], 4))).toEqual([0, 1]);
    // a short list keeps N as the denominator: j/N with N = 8 leaves p in charge
    expect(Array.from(fusedOrder('sum', [0.25, 0.5], 8))).toEqual([1, 0]);
  });

  it("the SRM's probability per candidate: sigmoid of its score against the list's mean (LSC4Rec's pointwise p_j), stably", () => {
    // scores 0 and ln 3 (mean ln 3 / 2): p = 1 / (1 + e^(∓ln 3 / 2)) = 1 / (1 + √3^(±1))
    const p = candidateProbabilities([0, Math.log(3)]);
    expect(p[0]).toBeCloseTo(1 / (1 + Math.sqrt(3)), 12);
    expect(p[1]).toBeCloseTo(1 / (1 + 1 / Math.sqrt(3)), 12);
    expect(p[0]! + p[1]!).toBeCloseTo(1, 12); // two candidates: symmetric about the mean
    // an average candidate is undecided (0.5); only scores far from the mean pass the gate's 0.1 / 0.9
    const q = candidateProbabilities([5, 2, -1, 2]);
    expect(q[1]).toBe(0.5);
    expect(q[0]).toBeGreaterThan(0.9);
    expect(q[2]).toBeLessThan(0.1);
    // invariant to a constant added to every score (a softmax-trained SRM's scores are log-odds up to one), no overflow
    expect(Array.from(candidateProbabilities([1005, 1002, 999, 1002]))).toEqual(Array.from(q));
    const big = candidateProbabilities([1000, 1000, -Infinity]);
    expect(Array.from(big)).toEqual([0.5, 0.5, 0]);
    expect(Array.from(candidateProbabilities([-Infinity]))).toEqual([0]);
    expect(thrown(() => candidateProbabilities([0, NaN])).code).toBe('NON_FINITE');
  });

  it('take an item the SRM never saw in training as undecided: p = 0.5, its guessed score out of the mean', () => {
    const p = candidateProbabilities([5, -40, 2, -1], [0, 1, 0, 0]);
    expect(p[1]).toBe(0.5);
    expect(Array.from(p)).toEqual(Array.from(candidateProbabilities([5, 0.5 /* any */, 2, -1], [0, 1, 0, 0])));
    expect(p[2]).toBe(0.5); // 2 is the mean of 5, 2 and -1
    // under every rule but srm-only, an undecided candidate keeps its place among the cloud's ranks
    for (const rule of ['gated', 'sum', 'sum-srm-x2'] as const) {
      const order = Array.from(fusedOrder(rule, candidateProbabilities([0, -50, 0, 0], [0, 1, 0, 0]), 4));
      expect(order, rule).toEqual([0, 1, 2, 3]);
    }
    // through rerank, with the device's mask
    const known = Uint8Array.from({ length: 30 }, (_, i) => (i === 7 ? 0 : 1));
    const withMask = rerank(fakeSrm, [20], [21, 7, 19], 3, 1, known);
    expect(withMask.probabilities[1]).toBe(0.5);
    expect(rerank(fakeSrm, [20], [21, 7, 19], 3).probabilities[1]).toBeLessThan(0.01); // without: far below the list
  });

  it('refuse unknown rules and slot counts below the list', () => {
    expect(thrown(() => fusedOrder('best' as never, [0.5], 2)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => fusedScore('best' as never, 0, 2, 0.5)).message).toContain('gated');
    expect(thrown(() => fusedOrder('sum', [0.5, 0.5], 1)).code).toBe('INVALID_ARGUMENT');
    expect(FUSION_RULES).toEqual(['llm-only', 'gated', 'sum', 'sum-srm-x2', 'srm-only']);
  });
});

describe('request policy', () => {
  it('measures inconsistency as the mean rank displacement', () => {
    expect(inconsistency([3, 2, 1], 3)).toBe(0); // the SRM agrees with the cloud
    // SRM order [2, 1, 0]: |0-2| + |1-1| + |2-0| = 4 over 3
    expect(inconsistency([1, 2, 3], 3)).toBeCloseTo(4 / 3, 12);
    expect(inconsistency([1, 1], 2)).toBe(0); // ties keep the cloud's order
    // SRM order [1, 0, 2]: 1 + 1 + 0 = 2 over 3
    expect(inconsistency([1, 5, 0], 3)).toBeCloseTo(2 / 3, 12);
  });

  it('adds the penalty for each padded slot', () => {
    expect(inconsistency([1, 2, 3], 5)).toBeCloseTo(4 / 3 + 2, 12);
    expect(inconsistency([1, 2, 3], 5, 0.5)).toBeCloseTo(4 / 3 + 1, 12);
    expect(inconsistency([], 4)).toBe(4); // nothing valid: all padding
    expect(inconsistency([7], 1)).toBe(0);
    expect(thrown(() => inconsistency([1, 2], 1)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => inconsistency([1], 2, -1)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => inconsistency([NaN], 2)).code).toBe('NON_FINITE');
  });

  it('sets the threshold at the quantile that gives the asked request rate', () => {
    const rng = new Random(3);
    const traffic = Array.from({ length: 1000 }, () => rng.next() * 20);
    for (const rate of [0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1]) {
      const policy = ThresholdPolicy.forRate(traffic, rate);
      expect(traffic.filter((s) => policy.shouldRequest(s)).length).toBe(Math.round(rate * 1000));
    }
    // between two values: their midpoint
    expect(thresholdForRate([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0.2)).toBe(7.5);
    expect(thresholdForRate([4, 1], 0)).toBe(4);
    expect(thresholdForRate([4, 1], 1)).toBe(-Infinity);
  });

  it('stays within the budget where ties straddle the quantile', () => {
    const traffic = [5, 5, 5, 1, 1];
    const asked = (rate: number) => traffic.filter((s) => s > thresholdForRate(traffic, rate)).length;
    expect(asked(0.4)).toBe(0); // 2 of 5 would split the 5s: none
    expect(asked(0.6)).toBe(3);
    expect(asked(0.99)).toBe(3);
    expect(thrown(() => thresholdForRate([], 0.1)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => thresholdForRate([1], 1.5)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => thresholdForRate([1, NaN], 0.5)).code).toBe('NON_FINITE');
  });

  it('asks at random at the given rate, seeded', () => {
    const draw = (rate: number, seed: number) => {
      const p = new RandomPolicy(rate, seed);
      return Array.from({ length: 20_000 }, () => p.shouldRequest());
    };
    const asked = draw(0.2, 5).filter(Boolean).length / 20_000;
    expect(asked).toBeGreaterThan(0.19);
    expect(asked).toBeLessThan(0.21);
    expect(draw(0.2, 5)).toEqual(draw(0.2, 5));
    expect(draw(0.2, 6)).not.toEqual(draw(0.2, 5));
    expect(draw(0, 1).some(Boolean)).toBe(false);
    expect(draw(1, 1).every(Boolean)).toBe(true);
    expect(thrown(() => new RandomPolicy(-0.1)).code).toBe('INVALID_ARGUMENT');
  });
});

/** The device's catalog in these tests: item number i is id 'i<i>'. */
const ITEM_IDS = Array.from({ length: 30 }, (_, i) => `i${i}`);
const CATALOG = new Map(ITEM_IDS.map((id, i) => [id, i]));
const idsOf = (items: readonly number[]) => items.map((i) => `i${i}`);
const numbersOf = (ids: readonly string[]) => ids.map((id) => Number(id.slice(1)));

describe('cloud replies', () => {
  it('keep the valid candidates and count the others as padding', () => {
    expect(validateReply({ items: ['i3', 'i3', 'nope', 'I2', 'i2'] }, 50, CATALOG)).toEqual({ items: Int32Array.of(3, 2), dropped: 3 });
    expect(validateReply({ items: idsOf([0, 1, 2, 3, 4, 5]), scores: [6, 5, 5, 3, 2, 1] }, 4, CATALOG)).toEqual({ items: Int32Array.of(0, 1, 2, 3), dropped: 2 });
    expect(validateReply({ items: [] }, 4, CATALOG)).toEqual({ items: new Int32Array(0), dropped: 0 });
  });

  it('reject garbage with INVALID_DATA', () => {
    for (const reply of [null, undefined, 'items', 7, {}, { items: 'abc' }, { items: ['i1', 2] }, { items: ['i1', null] }, { items: Int32Array.of(1) }, { items: ['i1', 'i2'], scores: [1] }, { items: ['i1', 'i2'], scores: [1, 2] }, { items: ['i1', 'i2'], scores: [2, NaN] }, { items: ['i1'], scores: 'x' }]) {
      expect(thrown(() => validateReply(reply, 50, CATALOG)).code, JSON.stringify(reply)).toBe('INVALID_DATA');
    }
  });
});

/**
 * A device model over 30 items that likes items numbered close to the history's last one (and
 * prefers lower numbers on ties).
 */
const fakeSrm: CandidateScorer = {
  items: 30,
  score: (history, candidates) => {
    const last = history.length ? history[history.length - 1]! : 0;
    return { scores: Float32Array.from(candidates, (c) => -Math.abs(c - last) - c / 1000) };
  },
  topK: (history, k, options = {}) => {
    const seen = new Set(Array.from(history));
    const all = Array.from({ length: 30 }, (_, i) => i).filter((i) => !(options.excludeHistory ?? true) || !seen.has(i));
    const scores = fakeSrm.score(history, all).scores;
    const order = all.map((_, j) => j).sort((a, b) => scores[b]! - scores[a]!);
    return { ids: order.slice(0, k).map((j) => all[j]!), scores: order.slice(0, k).map((j) => scores[j]!) };
  },
};

/** A cloud that answers from a script, one entry per call (the last repeats), and records the calls (histories as item numbers). */
function scriptedCloud(script: ((signal: AbortSignal) => Promise<CloudReply> | CloudReply)[]) {
  const calls: { history: readonly number[]; n: number; signal: AbortSignal; at: number }[] = [];
  const client: CloudClient = {
    candidates(history, n, signal) {
      calls.push({ history: numbersOf(history), n, signal, at: performance.now() });
      return script[Math.min(calls.length - 1, script.length - 1)]!(signal);
    },
  };
  return { client, calls };
}

const never = (): Promise<CloudReply> => new Promise(() => {});
const reply = (items: number[]) => () => Promise.resolve({ items: idsOf(items) });
const fail = (message: string) => () => Promise.reject(new Error(message));
const askNever = new ThresholdPolicy(Infinity); // only when there is no list
const askAlways = new ThresholdPolicy(-Infinity);

/**
 * A DeviceRecommender over fakeSrm, seen through item numbers (the tests below reason in the
 * fake SRM's numbers): histories go in as ids, answers come back as ids, sources and scores in
 * parallel lists. The first test checks the id API itself.
 */
function device(cloud: CloudClient, o: Partial<DeviceRecommenderOptions> = {}) {
  const d = new DeviceRecommender({ srm: fakeSrm, itemIds: ITEM_IDS, cloud, policy: askNever, candidates: 8, timeoutMs: 50, backoffMs: 5, maxBackoffMs: 20, cooldownMs: 0, ...o });
  return {
    async recommend(history: number[], options: DeviceRecommendOptions = {}) {
      const r = await d.recommend(idsOf(history), options);
      return { ids: numbersOf(r.items.map((x) => x.id)), scores: r.items.map((x) => x.score), sources: r.items.map((x) => x.source), inconsistency: r.inconsistency, requested: r.requested };
    },
    refresh: (history: number[]) => d.refresh(idsOf(history)),
    whenIdle: () => d.whenIdle(),
    close: () => d.close(),
    get stats() {
      return d.stats;
    },
    get cloudCandidates() {
      return numbersOf(d.cloudCandidates);
    },
  };
}

describe('DeviceRecommender', () => {
  it('names items by the catalog ids: histories, answers and the cloud lists', async () => {
    const cloud = scriptedCloud([() => ({ items: ['i20', 'i21', 'ghost', 'i5'] })]);
    let sent: readonly string[] = [];
    const d = new DeviceRecommender({
      srm: fakeSrm,
      itemIds: ITEM_IDS,
      cloud: { candidates: (h, n, signal) => ((sent = h), cloud.client.candidates(h, n, signal)) },
      policy: askNever,
      candidates: 4,
      fusion: 'llm-only',
      waitForCloud: true,
    });
    const r = await d.recommend(['i4', 'unknown', 'i5'], { k: 3 });
    expect(sent).toEqual(['i4', 'i5']); // the cloud gets the ids the device knows
    expect(r.ignored).toBe(1);
    expect(r.items.map((x) => [x.id, x.source])).toEqual([['i20', 'cloud'], ['i21', 'cloud'], ['i6', 'device']]); // i5 seen, 'ghost' dropped
    expect(JSON.parse(JSON.stringify(r))).toEqual(r); // a plain object, as Recommender.recommend's
    expect(d.cloudCandidates).toEqual(['i20', 'i21', 'i5']);
    expect(thrown(() => new DeviceRecommender({ srm: fakeSrm, itemIds: ITEM_IDS.slice(1), cloud: cloud.client, policy: askNever })).code).toBe('DIM_MISMATCH');
    expect(thrown(() => new DeviceRecommender({ srm: fakeSrm, itemIds: [...ITEM_IDS.slice(1), 'i1'], cloud: cloud.client, policy: askNever })).code).toBe('DUPLICATE_ID');
  });

  it('answers from its SRM before the first list, fetches one in the background, then fuses it', async () => {
    const cloud = scriptedCloud([reply([20, 21, 22, 5, 6, 7, 8, 9])]);
    const d = device(cloud.client, { fusion: 'llm-only' });
    const first = await d.recommend([4, 5], { k: 3 });
    expect(first).toMatchObject({ ids: [6, 3, 7], sources: ['device', 'device', 'device'], requested: true, inconsistency: null });
    await d.whenIdle();
    expect(cloud.calls).toHaveLength(1);
    expect(cloud.calls[0]).toMatchObject({ history: [4, 5], n: 8 });
    const second = await d.recommend([4, 5], { k: 3 });
    // the cloud's order (llm-only), the seen 5 left out
    expect(second).toMatchObject({ ids: [20, 21, 22], sources: ['cloud', 'cloud', 'cloud'], requested: false });
    expect(d.stats).toMatchObject({ requests: 1, updates: 1, attempts: 1, retries: 0 });
    expect(d.cloudCandidates).toEqual([20, 21, 22, 5, 6, 7, 8, 9]);
  });

  it('re-ranks and fuses the list with the real-time history as the rule says', async () => {
    const list = [20, 3, 9, 12, 27, 4];
    const d = device(scriptedCloud([reply(list)]).client, { fusion: 'sum', candidates: 6, waitForCloud: true });
    const history = [1, 11];
    const r = await d.recommend(history, { k: 6 });
    const p = candidateProbabilities(fakeSrm.score(history, list).scores);
    expect(r.ids).toEqual(Array.from(fusedOrder('sum', p, 6), (j) => list[j]));
    expect(r.scores).toEqual(Array.from(fusedOrder('sum', p, 6), (j) => fusedScore('sum', j, 6, p[j]!)));
    expect(r.inconsistency).toBeCloseTo(inconsistency(fakeSrm.score(history, list).scores, 6), 12);
    // the SRM is sure of 12 and 9 (near 11; p > 0.99): they rise from the cloud's ranks 3 and 2
    // above its first two, which the SRM rates below the list's average
    expect(r.ids.slice(0, 2)).toEqual([9, 12]);
    expect(r.ids.slice(2, 4).sort()).toEqual([20, 3].sort());
  });

  it('asks again when the policy says so, one request at a time', async () => {
    let release!: (r: CloudReply) => void;
    const cloud = scriptedCloud([reply([1, 2, 3]), () => new Promise<CloudReply>((resolve) => (release = resolve))]);
    const d = device(cloud.client, { policy: askAlways, waitForCloud: false });
    await d.refresh([]);
    const a = await d.recommend([9], { k: 2 }); // asks (in flight, held)
    const b = await d.recommend([9, 10], { k: 2 }); // would ask: one is on its way
    expect([a.requested, b.requested]).toEqual([true, false]);
    expect(d.stats).toMatchObject({ requests: 2, skipped: 1 });
    release({ items: idsOf([10, 11, 12]) });
    await d.whenIdle();
    expect(d.cloudCandidates).toEqual([10, 11, 12]);
    expect(cloud.calls.map((c) => c.history)).toEqual([[], [9]]);
  });

  it('lets an answer that waits join the request already on its way', async () => {
    const cloud = scriptedCloud([() => new Promise<CloudReply>((resolve) => setTimeout(() => resolve({ items: idsOf([10, 11]) }), 30))]);
    const d = device(cloud.client, { fusion: 'llm-only' });
    const a = await d.recommend([9], { k: 1 }); // no list: asks in the background
    const b = await d.recommend([9], { k: 1, waitForCloud: true });
    expect([a.sources, b.sources]).toEqual([['device'], ['cloud']]);
    expect([a.requested, b.requested]).toEqual([true, false]);
    expect(cloud.calls).toHaveLength(1);
  });

  it('gives up on a slow cloud at the time-out, retries a bounded number of times, and still answers', async () => {
    const cloud = scriptedCloud([never]);
    const errors: LmrecError[] = [];
    const d = device(cloud.client, { timeoutMs: 30, retries: 1, waitForCloud: true, onError: (e) => errors.push(e) });
    const t0 = performance.now();
    const r = await d.recommend([4], { k: 2 });
    const ms = performance.now() - t0;
    expect(r).toMatchObject({ ids: [3, 5], sources: ['device', 'device'], requested: true });
    expect(ms).toBeGreaterThanOrEqual(55); // two time-outs
    expect(ms).toBeLessThan(1000);
    expect(d.stats).toMatchObject({ attempts: 2, retries: 1, timeouts: 2, failures: 0, updates: 0 });
    expect(cloud.calls.every((c) => c.signal.aborted)).toBe(true); // each given-up call was told to stop
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('IO_ERROR');
    expect(errors[0]!.message).toContain('within 30 ms');
  });

  it('retries a failing cloud with growing, jittered waits and takes the list when it comes', async () => {
    const cloud = scriptedCloud([fail('503'), fail('503'), reply([7, 8])]);
    const d = device(cloud.client, { retries: 2, backoffMs: 20, maxBackoffMs: 1000, waitForCloud: true });
    const r = await d.recommend([7], { k: 3 });
    expect(r.sources).toEqual(['cloud', 'device', 'device']); // 7 is seen: only 8 from the list
    expect(r.ids[0]).toBe(8);
    expect(d.stats).toMatchObject({ attempts: 3, retries: 2, failures: 2, updates: 1 });
    const [a, b, c] = cloud.calls.map((x) => x.at);
    // waits of 20 and 40 ms, each times a jitter in [0.5, 1)
    expect(b! - a!).toBeGreaterThanOrEqual(9);
    expect(c! - b!).toBeGreaterThanOrEqual(19);
    expect(c! - a!).toBeLessThan(1000);
  });

  it('stops after the last retry, cools down, and keeps the last good list', async () => {
    const cloud = scriptedCloud([reply([12, 13]), fail('down')]);
    const errors: string[] = [];
    const d = device(cloud.client, { policy: askAlways, retries: 3, cooldownMs: 60_000, waitForCloud: true, onError: (e) => errors.push(e.code) });
    await d.refresh([]);
    const r = await d.recommend([11], { k: 2 });
    expect(r).toMatchObject({ ids: [12, 13], sources: ['cloud', 'cloud'], requested: true });
    expect(d.stats).toMatchObject({ attempts: 5, retries: 3, failures: 4, requests: 2 });
    expect(errors).toEqual(['IO_ERROR']);
    // cooling down: the policy asks, no request goes out
    const again = await d.recommend([11], { k: 2 });
    expect(again.requested).toBe(false);
    expect(d.stats).toMatchObject({ requests: 2, skipped: 1, attempts: 5 });
  });

  it('counts a throwing client as a failure, not a crash', async () => {
    const d = device({ candidates: () => { throw new TypeError('boom'); } }, { retries: 1, waitForCloud: true });
    const r = await d.recommend([2], { k: 1 });
    expect(r.sources).toEqual(['device']);
    expect(d.stats).toMatchObject({ attempts: 2, failures: 2 });
  });

  it('rejects garbage with a typed error, without retrying, and answers from what it has', async () => {
    const cloud = scriptedCloud([reply([15, 16, 17]), () => Promise.resolve({ items: 'not a list' } as unknown as CloudReply)]);
    const errors: LmrecError[] = [];
    const d = device(cloud.client, { policy: askAlways, waitForCloud: true, onError: (e) => errors.push(e) });
    await d.refresh([]);
    const r = await d.recommend([16], { k: 2 });
    expect(r).toMatchObject({ ids: [15, 17], sources: ['cloud', 'cloud'] });
    expect(errors.map((e) => e.code)).toEqual(['INVALID_DATA']);
    expect(d.stats).toMatchObject({ garbage: 1, attempts: 2, retries: 0 });
    expect(d.cloudCandidates).toEqual([15, 16, 17]);
  });

  it('answers from its SRM when the cloud returns an empty list, and counts it as all padding', async () => {
    const cloud = scriptedCloud([reply([])]);
    const d = device(cloud.client, { policy: new ThresholdPolicy(7), waitForCloud: true });
    await d.refresh([3]);
    const r = await d.recommend([3], { k: 3 });
    expect(r).toMatchObject({ ids: [2, 4, 1], sources: ['device', 'device', 'device'], inconsistency: 8 }); // 8 empty slots
    expect(r.requested).toBe(true); // 8 > 7: ask again
  });

  it('fills a short list from its SRM, padding counted in the inconsistency', async () => {
    // unknown items (99, 2.5), repeats are dropped: 3 valid of 8 slots
    const cloud = scriptedCloud([reply([25, 99, 25, 2.5, 26, 24])]);
    const d = device(cloud.client, { fusion: 'llm-only' });
    await d.refresh([]);
    const r = await d.recommend([10], { k: 5 });
    expect(r.ids).toEqual([25, 26, 24, 9, 11]);
    expect(r.sources).toEqual(['cloud', 'cloud', 'cloud', 'device', 'device']);
    // SRM order of [25, 26, 24] after 10: 24, 25, 26 -> displacements 1, 1, 2; plus 5 padded slots
    expect(r.inconsistency).toBeCloseTo(4 / 3 + 5, 12);
    const seen = await d.recommend([10, 25], { k: 2, excludeSeen: false });
    expect(seen.ids).toEqual([25, 26]);
  });

  it('stops waiting when the caller aborts, and cancels the request on close', async () => {
    const cloud = scriptedCloud([never]);
    const d = device(cloud.client, { timeoutMs: 10_000, waitForCloud: true });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 20);
    const t0 = performance.now();
    const r = await d.recommend([5], { k: 1, signal: stop.signal });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(r.sources).toEqual(['device']);
    d.close();
    await d.whenIdle();
    expect(cloud.calls[0]!.signal.aborted).toBe(true);
    expect(d.stats.failures + d.stats.timeouts).toBe(0); // a cancel is not a failure
    await expect(d.recommend([5])).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('checks its options and requests', async () => {
    const cloud = scriptedCloud([reply([1])]).client;
    const itemIds = ITEM_IDS;
    expect(thrown(() => new DeviceRecommender({ srm: fakeSrm, itemIds, cloud } as never)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => new DeviceRecommender({ srm: fakeSrm, cloud, policy: askNever } as never)).code).toBe('INVALID_ARGUMENT'); // no itemIds
    expect(thrown(() => new DeviceRecommender({ srm: fakeSrm, itemIds, cloud, policy: askNever, candidates: 0 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => new DeviceRecommender({ srm: fakeSrm, itemIds, cloud, policy: askNever, fusion: 'mean' as never })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => new DeviceRecommender({ srm: {} as never, itemIds, cloud, policy: askNever })).code).toBe('INVALID_ARGUMENT');
    // options left undefined keep their defaults (a 2 s time-out, not none)
    const slowish = new DeviceRecommender({ srm: fakeSrm, itemIds, policy: askNever, cloud: { candidates: () => new Promise((r) => setTimeout(() => r({ items: ['i4'] }), 20)) }, timeoutMs: undefined, waitForCloud: true });
    expect((await slowish.recommend(['i1'], { k: 1 })).items[0]!.source).toBe('cloud');
    const d = new DeviceRecommender({ srm: fakeSrm, itemIds, cloud, policy: askNever });
    await expect(d.recommend(['i1'], { k: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(d.recommend('i12' as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(d.recommend(['i1', 2] as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await d.whenIdle();
  });
});
