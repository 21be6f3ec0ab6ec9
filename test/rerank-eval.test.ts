/**
 * `lmrec eval rerank`: the LM stage's settings chosen on validation users. Each grid point's
 * test NDCG@10 against the product's own stage (Recommender.rerank at that weight and history
 * length, scored here), the choice against the grid, and the command's output.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalogIds, readInteractions } from '../src/data/interactions.js';
import { readItems, type ItemRecord } from '../src/data/records.js';
import { leaveOneOut, type Split } from '../src/eval/leave-one-out.js';
import { chooseRerank } from '../src/eval/rerank-choice.js';
import { pretrain } from '../src/pretrain/pretrain.js';
import { LmRanker } from '../src/recommender/lm-ranker.js';
import { Recommender } from '../src/recommender/recommender.js';
import { fitServedModel } from './helpers/served-model.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-rerank-eval-'));
const items = path.join(dir, 'items.jsonl');
const events = path.join(dir, 'events.jsonl');
const tuned = path.join(dir, 'tuned');
let model: string;

beforeAll(async () => {
  ({ model } = await fitServedModel(dir));
  const full = path.join(dir, 'full');
  await pretrain({ dim: 32, layers: 4, heads: 2, kvHeads: 1, ffn: 64, vocabSize: 300, context: 96, batchTokens: 1024, threads: 1, items, events, out: full, steps: 30, lr: 1e-2, seed: 2 });
  await pretrain({ items, events, out: tuned, model: full, localLayers: 2, freezeLayers: 2, steps: 10, lr: 1e-2, threads: 1 });
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ndcg10 = (ranked: string[], target: string) => {
  const r = ranked.slice(0, 10).indexOf(target);
  return r < 0 ? 0 : 1 / Math.log2(r + 2);
};

describe('lmrec eval rerank', () => {
  it("each grid point is the stage's own NDCG@10; the choice is the best on validation", async () => {
    const catalog = await readCatalogIds(items);
    const split = leaveOneOut((await readInteractions(events, { items: catalog })).sequences);
    const records: ItemRecord[] = [];
    for await (const r of readItems(items)) records.push(r);
    const rec = await Recommender.load(model);
    const ranker = await LmRanker.load(tuned, records, { threads: 1 });
    try {
      const pick = { valid: split.valid.slice(0, 60), test: split.test.slice(0, 60) };
      const weights = [0, 0.5, 3];
      const choice = await chooseRerank(rec, ranker, pick, (i) => catalog.name(i), { candidates: 20, weights, events: [3, 8] });
      expect(choice.grid).toHaveLength(6);
      const history = (s: Split) => Array.from(s.history, (i) => catalog.name(i));
      const mean = async (splits: Split[], weight: number, m: number) => {
        let sum = 0;
        for (const s of splits) {
          const r = weight === 0 ? rec.recommend({ history: history(s), k: 10 }) : await rec.rerank({ history: history(s), k: 10 }, { model: ranker, weight, candidates: 20, events: m });
          sum += ndcg10(r.items.map((x) => x.id), catalog.name(s.target));
        }
        return sum / splits.length;
      };
      for (const g of choice.grid) {
        expect(g.testNdcg10).toBeCloseTo(await mean(pick.test, g.weight, g.events), 10);
        expect(g.validNdcg10).toBeCloseTo(await mean(pick.valid, g.weight, g.events), 10);
      }
      expect(choice.aloneTestNdcg10).toBeCloseTo(await mean(pick.test, 0, 3), 10);
      expect(choice.grid.some((g) => g.weight > 0 && g.testNdcg10 !== choice.aloneTestNdcg10)).toBe(true); // the LM moves rankings
      const best = Math.max(...choice.grid.map((g) => g.validNdcg10));
      expect(choice.validNdcg10).toBe(best);
      expect(choice.grid.find((g) => g.weight === choice.weight && g.events === choice.events)!.validNdcg10).toBe(best);
      expect(choice.gain).toBeCloseTo(choice.testNdcg10 / choice.aloneTestNdcg10 - 1, 12);
    } finally {
      await ranker.close();
      await rec.close();
    }
  }, 60_000);

  it('reports users with a cold target apart from the others; coldShare weights validation to that share', async () => {
    const catalog = await readCatalogIds(items);
    const split = leaveOneOut((await readInteractions(events, { items: catalog })).sequences);
    const records: ItemRecord[] = [];
    for await (const r of readItems(items)) records.push(r);
    const pick = { valid: split.valid.slice(0, 60), test: split.test.slice(0, 60) };
    // items without training events: the targets of a few of the users measured
    const cold = new Set([...pick.valid.slice(0, 8), ...pick.test.slice(0, 8)].map((s) => catalog.name(s.target)));
    const rec = await Recommender.fit({ items, events, coldItems: [...cold], sweepLayers: [1], dim: 16, epochs: 2, seed: 1, srm: { dim: 16, maxLen: 16 } });
    const ranker = await LmRanker.load(tuned, records, { threads: 1 });
    try {
      const o = { candidates: 20, weights: [0, 0.5, 3], events: [3, 8] };
      const warm = rec.srm.idMask(); // the items held out, and any no training history holds
      for (const id of cold) expect(warm[catalog.get(id)!]).toBe(0);
      const isCold = (s: Split) => warm[s.target] !== 1;
      const mean = async (splits: Split[], weight: number, m: number) => {
        let sum = 0;
        for (const s of splits) {
          const history = Array.from(s.history, (i) => catalog.name(i));
          const r = weight === 0 ? rec.recommend({ history, k: 10 }) : await rec.rerank({ history, k: 10 }, { model: ranker, weight, candidates: 20, events: m });
          sum += ndcg10(r.items.map((x) => x.id), catalog.name(s.target));
        }
        return sum / splits.length;
      };
      const plain = await chooseRerank(rec, ranker, pick, (i) => catalog.name(i), o);
      expect(plain.validColdShare).toBe(pick.valid.filter(isCold).length / 60);
      expect(plain.testColdShare).toBe(pick.test.filter(isCold).length / 60);
      expect(plain.validColdShare).toBeGreaterThan(0);
      expect(plain).toMatchObject({ weighted: false, coldShare: plain.validColdShare }); // none given: validation as it is
      const groups = { valid: pick.valid, test: pick.test };
      for (const g of plain.grid) {
        for (const part of ['valid', 'test'] as const) {
          expect(g.cold[part]).toBeCloseTo(await mean(groups[part].filter(isCold), g.weight, g.events), 10);
          expect(g.warm[part]).toBeCloseTo(await mean(groups[part].filter((s) => !isCold(s)), g.weight, g.events), 10);
        }
      }
      expect(plain.aloneGroups.cold).toBeCloseTo(await mean(pick.test.filter(isCold), 0, 3), 12); // weight 0: recommend() alone
      expect(plain.aloneGroups.warm).toBeCloseTo(await mean(pick.test.filter((s) => !isCold(s)), 0, 3), 12);

      const weighted = await chooseRerank(rec, ranker, pick, (i) => catalog.name(i), { ...o, coldShare: 0.9 });
      expect(weighted).toMatchObject({ weighted: true, coldShare: 0.9 });
      for (const g of weighted.grid) expect(g.validNdcg10).toBeCloseTo(0.9 * g.cold.valid + 0.1 * g.warm.valid, 12);
      expect(weighted.validNdcg10).toBe(Math.max(...weighted.grid.map((g) => g.validNdcg10)));
      await expect(chooseRerank(rec, ranker, pick, (i) => catalog.name(i), { ...o, coldShare: 1.5 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      await ranker.close();
      await rec.close();
    }
  }, 60_000);

  it('the command prints the grid, the choice and the serve line, and writes the JSON', async () => {
    const out = path.join(dir, 'rerank.json');
    const svg = path.join(dir, 'rerank.svg');
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'eval', 'rerank', '--items', items, '--events', events, '--model', model, '--lm', tuned, '--users', '40', '--candidates', '20', '--cold-share', 'auto', '--threads', '1', '--out', out, '--svg', svg, '--json'],
      { cwd: path.resolve(import.meta.dirname, '..') },
    );
    const result = JSON.parse(stdout) as { weight: number; events: number; grid: unknown[]; candidates: number; lm: string; weighted: boolean; validColdShare: number };
    expect(result).toMatchObject({ candidates: 20, lm: tuned, model });
    expect(result.grid).toHaveLength(16); // 8 weights x 2 history lengths
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(result);
    const chart = readFileSync(svg, 'utf8');
    expect(chart.startsWith('<svg')).toBe(true);
    for (const name of ['test, every user', 'test, warm targets', 'validation (what the choice maximised)']) expect(chart).toContain(name);
    expect(stderr).toMatch(/scoring 40 validation and 40 test users/);
    expect(stderr).toMatch(/cold targets among the last events of 160 test users left out of the measure: [0-9.]+%/); // the 200 users but the 40 measured
    // weighted where validation has users of both kinds; said either way
    expect(result.weighted).toBe(result.validColdShare > 0 && result.validColdShare < 1);
    expect(stderr).toMatch(result.weighted ? /; validation weighted to [0-9.]+%/ : /--cold-share ignored: validation has no users with a cold target, or only those/);
    expect(stderr).toMatch(/cold targets \(no training events\): [0-9.]+% of validation, [0-9.]+% of test users/);
    expect(stderr).toMatch(/users with a cold target: .*; with a warm one: [0-9.]+ re-ranked, [0-9.]+ alone/);
    expect(stderr).toMatch(/chosen: weight [0-9.]+, the last (10|20) events/);
    expect(stderr).toMatch(result.weight > 0 ? new RegExp(`serve it: lmrec serve --model .* --rerank-weight ${result.weight} --rerank-events ${result.events}`) : /serve without --rerank/);
  }, 60_000);

  it('needs --lm', async () => {
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'eval', 'rerank', '--items', items, '--events', events, '--model', model], { cwd: path.resolve(import.meta.dirname, '..') });
    await expect(run).rejects.toMatchObject({ stderr: expect.stringMatching(/--lm <dir> is required/) });
  });
});
