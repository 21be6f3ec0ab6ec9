import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runEval } from '../src/cli/eval.js';
import { writeSynthetic } from '../src/data/synthetic.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lmrec eval', () => {
  it('evaluates the popularity baseline, prints a table and writes the JSON report', async () => {
    writeSynthetic(dir, { items: 800, users: 300, seed: 4 });
    const lines: string[] = [];
    const out = path.join(dir, 'report', 'eval.json');
    const report = await runEval({ items: path.join(dir, 'items.jsonl'), events: path.join(dir, 'events.jsonl'), out }, (l) => lines.push(l));
    expect(report).toMatchObject({ items: 800, users: 300, unknownItems: 0, evaluatedUsers: 300 });
    const test = report.models.popularity!.test;
    expect(test['HR@10']).toBeGreaterThan(test['HR@1']!);
    expect(test['HR@20']).toBeGreaterThanOrEqual(test['HR@10']!);
    expect(test['NDCG@10']).toBeLessThanOrEqual(test['HR@10']!);
    expect(lines.some((l) => /^popularity\s+test\s+[0-9.]+/.test(l))).toBe(true);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(report);
  });
});
