import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEval } from '../src/cli/eval.js';
import { writeSynthetic } from '../src/data/synthetic.js';
import { rejection } from './helpers/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-eval-'));
const items = path.join(dir, 'items.jsonl');
const events = path.join(dir, 'events.jsonl');
beforeAll(() => writeSynthetic(dir, { items: 800, users: 300, seed: 4 }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lmrec eval', () => {
  it('evaluates popularity and the SRM, prints a table and writes the JSON report and the model', async () => {
    const lines: string[] = [];
    const out = path.join(dir, 'report', 'eval.json');
    const srmOut = path.join(dir, 'srm.bin');
    // Enough epochs with a short patience that early stopping ends the run past the best epoch.
    const report = await runEval({ items, events, out, srm: { epochs: 40, patience: 2, dim: 16, maxLen: 20, lr: 0.01 }, srmOut }, (l) => lines.push(l));
    const srm = report.srm!;
    expect(srm.history).toHaveLength(srm.epochs);
    expect(lines.filter((l) => /^srm epoch \d+: loss [0-9.]+, valid NDCG@10/.test(l))).toHaveLength(srm.epochs);
    expect(lines.some((l) => /^srm\s+test\s+[0-9.]+/.test(l))).toBe(true);
    // The model evaluated is the best epoch's, not the last one's.
    const best = srm.history.filter((r) => r.best).at(-1)!;
    expect(srm.bestEpoch).toBe(best.epoch);
    expect(srm.bestEpoch).toBeLessThan(srm.epochs);
    expect(report.models.srm!.valid['NDCG@10']).toBeCloseTo(best.valid!['NDCG@10'], 12);
    expect(report.models.srm!.valid['HR@10']).toBeCloseTo(best.valid!['HR@10'], 12);
    // The synthetic users follow topic habits that popularity cannot see.
    expect(report.models.srm!.test['NDCG@10']).toBeGreaterThan(1.5 * report.models.popularity!.test['NDCG@10']!);
    expect(existsSync(srmOut)).toBe(true);
    expect(report).toMatchObject({ items: 800, users: 300, unknownItems: 0, evaluatedUsers: 300 });
    const test = report.models.popularity!.test;
    expect(test['HR@10']).toBeGreaterThan(test['HR@1']!);
    expect(test['HR@20']).toBeGreaterThanOrEqual(test['HR@10']!);
    expect(test['NDCG@10']).toBeLessThanOrEqual(test['HR@10']!);
    expect(lines.some((l) => /^popularity\s+test\s+[0-9.]+/.test(l))).toBe(true);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(report);
  });

  it('rejects an --out or --srm-out it cannot write with IO_ERROR', async () => {
    const plain = path.join(dir, 'plain-file');
    writeFileSync(plain, 'not a directory');
    const e = await rejection(runEval({ items, events, out: path.join(plain, 'eval.json'), srm: false }));
    expect(e.code).toBe('IO_ERROR');
    expect(e.message).toContain('plain-file');
    const s = await rejection(runEval({ items, events, srm: { epochs: 1, dim: 8, maxLen: 10 }, srmOut: path.join(plain, 'srm.bin') }));
    expect(s.code).toBe('IO_ERROR');
  });
});
