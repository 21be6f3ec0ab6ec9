/**
 * The quality table (src/eval/quality.ts compareModels) on a tiny synthetic shop: the rows in
 * order with finite metrics and the epochs they trained, the mean and spread over two seeds,
 * one split (the same cold items and test targets) behind every row, the baselines equal to
 * the same scorers run here by hand, and the Markdown table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectInteractions, IdMap } from '../src/data/interactions.js';
import { writeSynthetic, type SyntheticData } from '../src/data/synthetic.js';
import { contentScorer, FUSION_WEIGHTS } from '../src/eval/baselines.js';
import { evaluate, leaveOneOut, popularityScorer, type Scorer } from '../src/eval/leave-one-out.js';
import { qualityMarkdown } from '../src/cli/reports.js';
import { compareModels, QUALITY_MODELS, type QualityResult, type QualityRow } from '../src/eval/quality.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { renderItemTexts } from '../src/text/item-template.js';
import { DEFAULT_MODEL_DIR } from '../src/lm/default-model.js';
import { TfidfVectors } from '../src/text/tfidf.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-quality-'));
const items = path.join(dir, 'items.jsonl');
const events = path.join(dir, 'events.jsonl');
let data: SyntheticData;
let lm: LanguageModel;
let result: QualityResult;
const steps: { index: number; total: number }[] = [];

beforeAll(async () => {
  data = writeSynthetic(dir, { items: 200, users: 300, topics: 8, seed: 5 });
  lm = await LanguageModel.load(DEFAULT_MODEL_DIR);
  result = await compareModels({
    items,
    events,
    model: lm,
    seeds: [1, 2],
    epochs: 2,
    layer: 0,
    dim: 16,
    srm: { dim: 16, maxLen: 20 },
    variants: ['int8', 'fp32'],
    template: '{title} {text}',
    onProgress: (_what, _p, step) => step && steps.push(step),
  });
}, 120_000);
afterAll(async () => {
  await lm?.close();
  rmSync(dir, { recursive: true, force: true });
});

const row = (model: string): QualityRow => result.rows.find((r) => r.model === model)!;

describe('compareModels', () => {
  it('returns the rows in order, with finite metrics and the epochs each trained', () => {
    expect(result.rows.map((r) => r.model)).toEqual(['popularity', 'content TF-IDF', 'ID-only SRM', 'SRM + content', 'SRM + content, cold weight', 'lmrec', 'lmrec (fp32 codes)']);
    expect(result.aborted).toBe(false);
    expect(result.coldTargets).toBeGreaterThan(0);
    for (const r of result.rows) {
      expect(r.seeds.map((s) => s.seed)).toEqual([1, 2]);
      for (const s of r.seeds) {
        for (const part of [s.warm, s.cold]) {
          expect(Object.keys(part).sort()).toEqual(['HR@10', 'MRR', 'NDCG@10']);
          for (const v of Object.values(part)) expect(Number.isFinite(v) && v >= 0 && v <= 1).toBe(true);
        }
        expect(s.coverage).toBeGreaterThan(0);
        expect(s.coverage).toBeLessThanOrEqual(1);
        expect(s.popularShare).toBeGreaterThanOrEqual(0);
        expect(s.popularShare).toBeLessThanOrEqual(1);
        expect(s.seconds).toBeGreaterThanOrEqual(0);
        // popularity and content do not train; the rest ran their 2 epochs (no early stop within 2)
        expect(s.epochs).toBe(['popularity', 'content TF-IDF'].includes(r.model) ? 0 : 2);
      }
    }
    // popularity gives nearly everyone the same list; the SRM learned something
    for (const m of ['content TF-IDF', 'ID-only SRM', 'lmrec']) expect(row('popularity').mean.coverage).toBeLessThan(row(m).mean.coverage);
    expect(row('ID-only SRM').mean.warm['NDCG@10']).toBeGreaterThan(0);
    // the text carries the synthetic topics: content ranks cold items, the ID-only SRM cannot
    expect(row('content TF-IDF').mean.cold['NDCG@10']).toBeGreaterThan(row('popularity').mean.cold['NDCG@10']!);
    for (const s of row('SRM + content').seeds) expect(FUSION_WEIGHTS).toContain(s.weight);
    for (const s of row('lmrec').seeds) expect(s.layer).toBe(0);
    expect(result.layer).toBe(0);
    // a step per row and seed, numbered up to their total
    expect(steps.at(-1)).toEqual({ index: 2 + 2 * 5, total: 2 + 2 * 5 });
    for (const s of row('SRM + content, cold weight').seeds) expect(FUSION_WEIGHTS).toContain(s.coldWeight);
  });

  it('reports the mean, min, max and standard deviation over seeds', () => {
    for (const r of result.rows) {
      const [a, b] = r.seeds as [(typeof r.seeds)[0], (typeof r.seeds)[0]];
      const check = (mean: number, spread: { min: number; max: number; std: number }, x: number, y: number) => {
        expect(mean).toBeCloseTo((x + y) / 2, 12);
        expect(spread.min).toBe(Math.min(x, y));
        expect(spread.max).toBe(Math.max(x, y));
        expect(spread.std).toBeCloseTo(Math.abs(x - y) / Math.SQRT2, 12);
      };
      for (const part of ['warm', 'cold'] as const) for (const k of Object.keys(a[part])) check(r.mean[part][k]!, r.spread[part][k]!, a[part][k]!, b[part][k]!);
      for (const k of ['coverage', 'popularShare', 'epochs', 'seconds'] as const) check(r.mean[k], r.spread[k], a[k], b[k]);
      if (([QUALITY_MODELS.fused, QUALITY_MODELS.fusedCold, QUALITY_MODELS.lmrec, QUALITY_MODELS.lmrecFp32] as string[]).includes(r.model)) check(r.mean.weight!, r.spread.weight!, a.weight!, b.weight!);
      else expect(r.mean.weight).toBeUndefined();
    }
    // the trained models differ between seeds; the baselines do not depend on them
    expect(row('lmrec').seeds[0]!.warm).not.toEqual(row('lmrec').seeds[1]!.warm);
    expect(row('content TF-IDF').spread.warm['NDCG@10']!.std).toBe(0);
  });

  it('scores every row on one split: the same cold items and test targets', async () => {
    expect(result.coldItems).toBe(20);
    expect(new Set(result.coldIds).size).toBe(20);
    for (const r of result.rows) for (const s of r.seeds) expect(s.targets).toEqual({ warm: result.warmTargets, cold: result.coldTargets });
    // the Recommender had at least these items cold (items no training sequence holds are cold too)
    for (const r of [row('lmrec'), row('lmrec (fp32 codes)')]) for (const s of r.seeds) expect(s.coldItems).toBeGreaterThanOrEqual(20);

    // the split and the baselines by hand: popularity and content scored on it match the rows
    const catalog = new IdMap();
    for (const it of data.items) catalog.add(it.id);
    const seqs = await collectInteractions(data.events, { items: catalog });
    const split = leaveOneOut(seqs.sequences);
    const cold = new Set(result.coldIds.map((id) => catalog.get(id)!));
    const train = split.train.map((s) => s.filter((i) => !cold.has(i)));
    const warmTest = split.test.filter((s) => !cold.has(s.target));
    const coldTest = split.test.filter((s) => cold.has(s.target));
    expect([warmTest.length, coldTest.length]).toEqual([result.warmTargets, result.coldTargets]);
    const texts = renderItemTexts(data.items, '{title} {text}').texts;
    const scorers: [string, Scorer][] = [
      ['popularity', popularityScorer(train, data.items.length)],
      ['content TF-IDF', contentScorer(TfidfVectors.fit(texts))],
    ];
    for (const [model, scorer] of scorers) {
      expect(row(model).mean.warm).toEqual(await evaluate(warmTest, data.items.length, scorer, [10]).then(pick));
      expect(row(model).mean.cold).toEqual(await evaluate(coldTest, data.items.length, scorer, [10]).then(pick));
    }
    expect(result.template).toBe('{title} {text}');
  });

  it('renders the table: mean ± standard deviation, the fusion weight, epochs and fit seconds', () => {
    const md = qualityMarkdown(result).split('\n');
    expect(md[0]).toBe('| model | warm HR@10 | warm NDCG@10 | cold HR@10 | cold NDCG@10 | coverage@10 | top-1% share | epochs | fit s |');
    expect(md).toHaveLength(2 + result.rows.length);
    expect(md[2]).toMatch(/^\| popularity \| [0-9.]+ \| /); // no spread: the same for every seed
    expect(md[2]).toMatch(/ \| - \| [0-9.]+ \|$/); // untrained: no epochs
    expect(md[4]).toMatch(/^\| ID-only SRM \| [0-9.]+( ± [0-9.]+)? \| .*±.* \| 2 \| [0-9.]+ \|$/);
    expect(md[5]).toMatch(/^\| SRM \+ content \(w [0-9.]+(–[0-9.]+)?\) \| /);
    expect(md[6]).toMatch(/^\| SRM \+ content, cold weight \(w [0-9.]+(–[0-9.]+)?, cold [0-9.]+(–[0-9.]+)?\) \| /);
    expect(md[7]).toMatch(/^\| lmrec \(w [0-9.]+(–[0-9.]+)?, cold [0-9.]+(–[0-9.]+)?\) \| /);
    // one seed: no spread anywhere
    const one = qualityMarkdown({ rows: result.rows.map((r) => ({ ...r, seeds: r.seeds.slice(0, 1) })) });
    expect(one).not.toContain('±');
  });

  it('stops before any fit when the signal is already aborted, keeping the baselines', async () => {
    const stop = new AbortController();
    stop.abort();
    const r = await compareModels({ items, events, model: lm, seeds: [1], epochs: 1, signal: stop.signal });
    expect(r.aborted).toBe(true);
    expect(r.rows.map((x) => x.model)).toEqual(['popularity', 'content TF-IDF']);
    expect(r.template).toBe('{title}');
  });

  it('rejects bad options', async () => {
    await expect(compareModels({ items, events, model: lm, seeds: [] })).rejects.toThrow(/seeds/);
    await expect(compareModels({ items, events, model: lm, coldFraction: 1 })).rejects.toThrow(/coldFraction/);
    await expect(compareModels({ items, events, model: lm, epochs: 0 })).rejects.toThrow(/epochs/);
    await expect(compareModels({ items, events, model: lm, variants: ['int4' as 'int8'] })).rejects.toThrow(/variants/);
  });
});

function pick(m: Record<string, number>): Record<string, number> {
  return { 'HR@10': m['HR@10']!, 'NDCG@10': m['NDCG@10']!, MRR: m.MRR! };
}
