import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSynthetic } from '../src/data/synthetic.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-cli-'));
beforeAll(() => writeSynthetic(dir, { items: 300, users: 120, seed: 2 }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI from source as a user would run the built one. */
function lmrec(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const data = (name: string) => path.join(dir, name);

describe('the lmrec command', () => {
  it('prints its version', async () => {
    const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    expect(await lmrec('--version')).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('prints the eval report as JSON on stdout, with the SRM history, and progress on stderr', async () => {
    const r = await lmrec('eval', '--items', data('items.jsonl'), '--events', data('events.jsonl'), '--json',
      '--srm-epochs', '2', '--srm-dim', '16', '--srm-max-len', '20', '--srm-heads', '2', '--srm-dropout', '0.1', '--srm-lr', '0.002',
      '--srm-batch-size', '32', '--srm-beta1', '0.8', '--srm-beta2', '0.99', '--srm-validate-every', '1', '--srm-max-seconds', '600');
    expect(r.stderr).toMatch(/^srm epoch 1: loss/m);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ items: 300, users: 120, srm: { epochs: 2 } });
    expect(report.srm.history).toEqual([1, 2].map((epoch) => ({
      epoch,
      loss: expect.any(Number),
      seconds: expect.any(Number),
      eventsPerSecond: expect.any(Number),
      valid: { 'NDCG@10': expect.any(Number), 'HR@10': expect.any(Number) },
      best: expect.any(Boolean),
    })));
    expect(Object.keys(report.models)).toEqual(['popularity', 'srm']);
  });

  it('answers a missing file with [IO_ERROR] and exit code 1, without a stack', async () => {
    const r = await lmrec('eval', '--items', data('nothing.jsonl'), '--events', data('events.jsonl'), '--no-srm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^lmrec: \[IO_ERROR\] cannot read '.*nothing\.jsonl'/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('rejects out-of-range numbers and unknown choices', async () => {
    const base = ['eval', '--items', data('items.jsonl'), '--events', data('events.jsonl')];
    for (const bad of [['--srm-dropout', '1'], ['--srm-max-seconds', '0'], ['--srm-loss', 'huge']]) {
      const r = await lmrec(...base, ...bad);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(bad[0]);
    }
  });
  it('pretrain and distill: progress on stderr, the report as JSON, a model eval --lm ranks with', async () => {
    const out = data('lm');
    const tiny = ['--dim', '32', '--layers', '2', '--heads', '2', '--kv-heads', '1', '--ffn', '64', '--vocab-size', '300', '--context', '64', '--batch-tokens', '1024'];
    const p = await lmrec('pretrain', '--items', data('items.jsonl'), '--events', data('events.jsonl'), '--out', out, '--template', '{title}', '--steps', '8', '--json', ...tiny);
    expect(p.code).toBe(0);
    expect(p.stderr).toMatch(/held-out perplexity/);
    const report = JSON.parse(p.stdout);
    expect(report).toMatchObject({ steps: 8, stopReason: 'steps', corpus: { vocab: 300 } });
    const e = await lmrec('eval', '--items', data('items.jsonl'), '--events', data('events.jsonl'), '--no-srm', '--lm', out, '--json');
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout).models.lm.test['NDCG@10']).toBeCloseTo(report.itemHead.test['NDCG@10'], 6);
    const d = await lmrec('distill', '--teacher', out, '--items', data('items.jsonl'), '--events', data('events.jsonl'), '--out', data('student'),
      '--layers', '1', '--blocks', '1', '--steps', '3', '--batch-tokens', '1024');
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/student: 1 layers/);
    const bad = await lmrec('pretrain', '--items', data('items.jsonl'), '--events', data('events.jsonl'), '--out', out, '--budget', 'soon');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/duration/);
  });
});
