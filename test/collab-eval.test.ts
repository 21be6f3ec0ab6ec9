import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCollabEval, type CollabEvalResult } from '../src/cli/collab.js';
import { evaluateCollab, type CollabMetrics } from '../src/collab/evaluate.js';
import { FUSION_RULES } from '../src/collab/fusion.js';
import type { CandidateScorer } from '../src/collab/rerank.js';
import { writeSynthetic } from '../src/data/synthetic.js';
import { leaveOneOut } from '../src/eval/leave-one-out.js';
import { SequentialRecommender } from '../src/srm/sequential-recommender.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-collab-'));
const items = path.join(dir, 'items.jsonl');
const events = path.join(dir, 'events.jsonl');
beforeAll(() => writeSynthetic(dir, { items: 200, users: 400, seed: 5 }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectMetrics(m: CollabMetrics): void {
  expect(m['HR@10']).toBeGreaterThanOrEqual(0);
  expect(m['HR@10']).toBeLessThanOrEqual(1);
  expect(m['NDCG@10']).toBeGreaterThanOrEqual(0);
  expect(m['NDCG@10']).toBeLessThanOrEqual(m['HR@10']);
}

describe('lmrec eval collab', () => {
  it('measures the fusions and the request curve, and writes the JSON and the chart', async () => {
    const lines: string[] = [];
    const out = path.join(dir, 'collab.json');
    const svg = path.join(dir, 'collab.svg');
    const r = await runCollabEval(
      { items, events, cloud: 'srm', cloudDim: 32, cloudBudget: 3, deviceDim: 16, deviceBudget: 2, candidates: 20, rates: [0.1, 0.3, 0.5], randomDraws: 3, seed: 3, out, svg },
      { log: (l) => lines.push(l) },
    );
    // the SRMs early-stop on every other validation user; the fusion and thresholds are chosen on the other 200
    expect(r).toMatchObject({ data: { items: 200, users: 400 }, candidates: 20, staleEvents: 2, validUsers: 200, testUsers: 400 });
    expect(r.cloudModel).toMatchObject({ kind: 'srm', dim: 32 });
    expect(r.deviceModel).toMatchObject({ kind: 'srm', dim: 16 });
    expect(r.deviceModel.parameters).toBeLessThan(r.cloudModel.parameters);
    for (const q of [...Object.values(r.models), ...Object.values(r.fusions)]) {
      expectMetrics(q.valid);
      expectMetrics(q.test);
    }
    expect(Object.keys(r.fusions)).toEqual([...FUSION_RULES]);
    expect(FUSION_RULES).toContain(r.bestFusion);
    // llm-only is the cloud's own stale ranking, cut to its list: the same hits at 10
    expect(r.fusions['llm-only'].test['HR@10']).toBeCloseTo(r.models['cloud-only'].test['HR@10'], 1);
    // the models learned the users' topic habits: far above chance (10 of 200 items)
    expect(r.models['device-only'].test['HR@10']).toBeGreaterThan(0.15);
    expect(r.models['cloud-fresh'].test['HR@10']).toBeGreaterThan(0.15);
    expect(r.recall.stale).toBeGreaterThan(0);
    expect(r.recall.fresh).toBeLessThanOrEqual(1);

    expect(r.curve.map((p) => p.rate)).toEqual([0.1, 0.3, 0.5]);
    for (const p of r.curve) {
      expectMetrics(p.policy);
      expectMetrics(p.random);
      // thresholds come from validation traffic: test rates land near the budget
      expect(Math.abs(p.policy.requestRate - p.rate)).toBeLessThan(0.15);
      expect(p.random.requestRate).toBe(p.policy.requestRate);
      expect(p.random.draws).toBe(3);
    }
    // more requests, higher thresholds never: the curve's thresholds fall as the budget grows
    expect(r.curve[0]!.threshold).toBeGreaterThanOrEqual(r.curve[2]!.threshold);
    expect(r.targets).toEqual({ bestFusionBeatsBoth: expect.any(Boolean), mixBeatsSingleRules: expect.any(Boolean), policyBeatsRandom: expect.any(Boolean) });

    expect(lines.some((l) => /^fusion srm-only/.test(l))).toBe(true);
    expect(lines.some((l) => /^target: the policy beats random requests .*: (met|NOT met)$/.test(l))).toBe(true);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(JSON.parse(JSON.stringify(r)));
    const chart = readFileSync(svg, 'utf8');
    expect(chart.startsWith('<svg')).toBe(true);
    for (const name of ['inconsistency policy', 'random requests', 'device only', 'cloud only (stale)']) expect(chart).toContain(name);
  });

  it('hides the last events from the cloud and the target from everyone', async () => {
    // sequences where the next item is always the last one + 1: a spy model records what it is shown
    const sequences = Array.from({ length: 30 }, (_, u) => Int32Array.from({ length: 6 + (u % 4) }, (_, i) => (u + i) % 40));
    const split = leaveOneOut(sequences);
    const seen: { side: string; history: number[] }[] = [];
    const spy = (side: string): CandidateScorer & { scoreBatch: (h: ArrayLike<number>[]) => Promise<Float32Array> } => ({
      items: 40,
      score: (history, candidates) => {
        seen.push({ side, history: Array.from(history) });
        return { scores: Float32Array.from(candidates, (c) => -c) };
      },
      topK: (history, k) => {
        seen.push({ side, history: Array.from(history) });
        return { ids: Array.from({ length: k }, (_, i) => i), scores: Array.from({ length: k }, (_, i) => -i) };
      },
      scoreBatch: async (histories) => {
        histories.forEach((h) => seen.push({ side, history: Array.from(h) }));
        return new Float32Array(histories.length * 40);
      },
    });
    await evaluateCollab(split, 40, { cloud: spy('cloud'), device: spy('device') }, { candidates: 10, rates: [0.5], randomDraws: 1 });
    for (const s of split.test) {
      const h = Array.from(s.history);
      const shown = seen.filter((x) => x.history.length > 0 && x.history[0] === h[0]);
      // whatever each side was shown is a prefix of the device's history: never the target's event
      for (const x of shown) expect(h.slice(0, x.history.length)).toEqual(x.history);
      // the cloud's stale view lacks the last two events; a request sends all of them
      expect(shown.some((x) => x.side === 'cloud' && x.history.length === h.length - 2)).toBe(true);
      expect(shown.some((x) => x.side === 'cloud' && x.history.length === h.length)).toBe(true);
      expect(shown.filter((x) => x.side === 'device').every((x) => x.history.length === h.length || x.history.length === h.length - 1)).toBe(true);
    }
  });

  it('takes a SequentialRecommender on both sides, and refuses models of another catalog', async () => {
    const split = leaveOneOut(Array.from({ length: 40 }, (_, u) => Int32Array.from({ length: 8 }, (_, i) => (u * 3 + i) % 30)));
    const srm = await SequentialRecommender.fit(split.train, 30, { dim: 8, maxLen: 10, epochs: 1 });
    try {
      const small: CandidateScorer = srm; // the interface the device needs
      expect(small.items).toBe(30);
      const r = await evaluateCollab(split, 30, { cloud: srm, device: srm }, { candidates: 30, staleEvents: 0, rates: [0.2], randomDraws: 1 });
      // nothing stale, the whole catalog listed: llm-only is exactly the cloud's full ranking
      expect(r.fusions['llm-only'].test).toEqual(r.models['cloud-only'].test);
      expect(r.recall.stale).toBe(1);
      // the groups split the test users two ways; their user-weighted means are the whole's
      const g = r.groups;
      for (const [a, b] of [[g.shortHistory, g.longHistory], [g.warmTarget, g.coldTarget]] as const) {
        expect(a.users + b.users).toBe(r.testUsers);
        const mean = (key: 'cloud-only' | 'device-only' | 'fusion') => (a.users * a[key] + b.users * b[key]) / r.testUsers;
        expect(mean('cloud-only')).toBeCloseTo(r.models['cloud-only'].test['NDCG@10'], 10);
        expect(mean('device-only')).toBeCloseTo(r.models['device-only'].test['NDCG@10'], 10);
        expect(mean('fusion')).toBeCloseTo(r.fusions[r.bestFusion].test['NDCG@10'], 10);
      }
      expect(r.medianHistory).toBeGreaterThan(0);
      await expect(evaluateCollab(split, 31, { cloud: srm, device: srm })).rejects.toMatchObject({ code: 'DIM_MISMATCH' });
      await expect(evaluateCollab(split, 30, { cloud: srm, device: srm }, { rates: [2] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(evaluateCollab({ valid: [], test: [] }, 30, { cloud: srm, device: srm })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      srm.close();
    }
  });

  it('chooses the fusion on validation weighted to a share of cold targets (coldShare): 1 reads the cold-target users alone, 0 the others', async () => {
    // every third user's validation target is an item no training history holds (30..39),
    // which only the cloud can find: it ranks item 30 + h[0] / 3 first after a history h
    const sequences = Array.from({ length: 60 }, (_, u) => {
      const seq = Int32Array.from({ length: 8 }, (_, i) => (u * 3 + i) % 30);
      if (u % 3 === 0) seq[6] = 30 + seq[0]! / 3;
      return seq;
    });
    const split = leaveOneOut(sequences);
    const cold = split.valid.filter((s) => s.target >= 30);
    const warm = split.valid.filter((s) => s.target < 30);
    const srm = await SequentialRecommender.fit(split.train, 40, { dim: 8, maxLen: 10, epochs: 3, seed: 4 });
    const cloud = {
      items: 40,
      scoreBatch: async (histories: ArrayLike<number>[]) => {
        const rows = await srm.scoreBatch(histories);
        histories.forEach((h, j) => (rows[j * 40 + 30 + h[0]! / 3] = 1e6));
        return rows;
      },
    };
    try {
      const models = { cloud, device: srm };
      const o = { candidates: 20, rates: [0.2], randomDraws: 1 };
      const plain = await evaluateCollab(split, 40, models, o);
      expect(plain.choice.validColdShare).toBeCloseTo(cold.length / split.valid.length, 12);
      expect(plain.choice).toMatchObject({ weighted: false, coldShare: plain.choice.validColdShare });
      for (const rule of FUSION_RULES) expect(plain.choice.validNdcg10[rule]).toBe(plain.fusions[rule].valid['NDCG@10']);
      // weighted to validation's own share: the plain mean again
      const own = await evaluateCollab(split, 40, models, { ...o, coldShare: plain.choice.validColdShare });
      expect(own.choice.weighted).toBe(true);
      for (const rule of FUSION_RULES) expect(own.choice.validNdcg10[rule]).toBeCloseTo(plain.fusions[rule].valid['NDCG@10'], 12);
      // weighted all to one side: that side's users alone (the same training histories, so the same device)
      const chosen: string[] = [];
      for (const [share, users] of [[1, cold], [0, warm]] as const) {
        const weighted = await evaluateCollab(split, 40, models, { ...o, coldShare: share });
        const alone = await evaluateCollab({ ...split, valid: users }, 40, models, o);
        expect(weighted.choice).toMatchObject({ weighted: true, coldShare: share });
        for (const rule of FUSION_RULES) expect(weighted.choice.validNdcg10[rule]).toBeCloseTo(alone.fusions[rule].valid['NDCG@10'], 12);
        expect(weighted.bestFusion).toBe(alone.bestFusion);
        chosen.push(weighted.bestFusion);
      }
      // the cloud finds the cold targets (the device cannot), so the share decides the rule
      const coldOnly = await evaluateCollab({ ...split, valid: cold }, 40, models, o);
      expect(coldOnly.fusions['llm-only'].valid['NDCG@10']).toBe(1);
      expect(coldOnly.fusions['srm-only'].valid['NDCG@10']).toBeLessThan(1);
      expect(chosen[0]).not.toBe(chosen[1]);
      await expect(evaluateCollab(split, 40, models, { ...o, coldShare: 1.2 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      srm.close();
    }
  });

  it('runs from the command line as a subcommand of eval, with eval\'s data options', async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'eval', 'collab', '--items', items, '--events', events, '--cloud', 'srm', '--cloud-dim', '16', '--cloud-budget', '2s', '--device-dim', '8', '--device-budget', '1s', '--candidates', '10', '--rates', '0.2', '--random-draws', '1', '--seed', '2', '--cold-share', 'auto', '--json'],
        { cwd: root },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      );
    });
    expect(r.stderr).toContain('target: the policy beats random requests');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as CollabEvalResult;
    expect(result).toMatchObject({ candidates: 10, cloudModel: { kind: 'srm', dim: 16 }, deviceModel: { dim: 8 } });
    expect(result.curve.map((p) => p.rate)).toEqual([0.2]);
    // --cold-share auto: every other test user says how many targets are cold, the rest are measured
    expect(r.stderr).toMatch(/cold targets among the last events of 200 test users set aside: [0-9.]+%/);
    expect(result.testUsers).toBe(200);
  });
});
