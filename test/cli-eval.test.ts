import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runEval } from '../src/cli/eval.js';
import { writeSynthetic } from '../src/data/synthetic.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lmrec eval', () => {
  it('evaluates popularity and the SRM, prints a table and writes the JSON report and the model', async () => {
    writeSynthetic(dir, { items: 800, users: 300, seed: 4 });
    const lines: string[] = [];
    const out = path.join(dir, 'report', 'eval.json');
    const srmOut = path.join(dir, 'srm.bin');
    const report = await runEval(
      { items: path.join(dir, 'items.jsonl'), events: path.join(dir, 'events.jsonl'), out, srm: { epochs: 3, dim: 16, maxLen: 20 }, srmOut },
      (l) => lines.push(l),
    );
    expect(report.srm).toMatchObject({ epochs: 3 });
    expect(lines.filter((l) => /^srm epoch \d: loss [0-9.]+, valid NDCG@10/.test(l))).toHaveLength(3);
    expect(lines.some((l) => /^srm\s+test\s+[0-9.]+/.test(l))).toBe(true);
    expect(report.models.srm!.test['HR@10']).toBeGreaterThanOrEqual(0);
    expect(existsSync(srmOut)).toBe(true);
    expect(report).toMatchObject({ items: 800, users: 300, unknownItems: 0, evaluatedUsers: 300 });
    const test = report.models.popularity!.test;
    expect(test['HR@10']).toBeGreaterThan(test['HR@1']!);
    expect(test['HR@20']).toBeGreaterThanOrEqual(test['HR@10']!);
    expect(test['NDCG@10']).toBeLessThanOrEqual(test['HR@10']!);
    expect(lines.some((l) => /^popularity\s+test\s+[0-9.]+/.test(l))).toBe(true);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(report);
  });
});
