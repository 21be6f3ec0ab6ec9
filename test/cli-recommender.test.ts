/**
 * The recommender's commands on a tiny synthetic shop with tiny budgets: `lmrec fit` (JSON,
 * stage bars, SVG, Ctrl-C saves the best model so far), `recommend` (a user, a history, a
 * category, the popularity fallback), `similar`, `sweep`, typed errors for a bad model
 * directory, and `eval quality` (and its deprecated alias `eval --cold-items`). The CLI runs
 * from source as in cli-main.test.ts; the cheap checks call the command functions directly.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRecommend, runSimilar } from '../src/cli/recommender.js';
import { writeSynthetic, type SyntheticData } from '../src/data/synthetic.js';
import { rejection } from './helpers/errors.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-cli-rec-'));
const items = path.join(dir, 'items.jsonl');
const events = path.join(dir, 'events.jsonl');
const model = path.join(dir, 'rec');
let data: SyntheticData;
let fit: { code: number; stdout: string; stderr: string };

function lmrec(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const tiny = ['--dim', '16', '--seed', '1'];

beforeAll(async () => {
  data = writeSynthetic(dir, { items: 120, users: 150, topics: 6, seed: 3 });
  fit = await lmrec('fit', '--items', items, '--events', events, '--out', model, '--layers', '0,2', '--budget', '4s', '--svg', path.join(dir, 'sweep.svg'), '--json', ...tiny);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const log = () => {
  const lines: string[] = [];
  return { lines, io: { log: (l: string) => lines.push(l) } };
};
const history = (user: string) => data.events.filter((e) => e.user === user).map((e) => e.item);
const titleOf = (id: string) => data.items.find((it) => it.id === id)!.title;

describe('lmrec fit', () => {
  it('saves a model, prints the report as JSON on stdout and one bar per stage on stderr, writes the sweep chart', () => {
    expect(fit.stderr).not.toMatch(/lmrec: \[/);
    expect(fit.code).toBe(0);
    const r = JSON.parse(fit.stdout);
    expect(r).toMatchObject({ model, aborted: false, svg: path.join(dir, 'sweep.svg'), report: { items: 120, users: 150, events: data.events.length } });
    expect(r.report.sweep.map((s: { layer: number }) => s.layer)).toEqual([0, 2]);
    expect([0, 2]).toContain(r.report.layer);
    expect(r.report.test['NDCG@10']).toBeGreaterThan(0);
    expect(existsSync(path.join(model, 'manifest.json'))).toBe(true);
    expect(readFileSync(path.join(dir, 'sweep.svg'), 'utf8')).toMatch(/^<svg/);
    // the summary goes to stderr with --json, beside the bars
    for (const stage of ['encoding', 'sweep', 'training']) expect(fit.stderr).toMatch(new RegExp(`^${stage} +\\[`, 'm'));
    expect(fit.stderr).toMatch(/layer \| probe HR@10 \| probe NDCG@10/);
    expect(fit.stderr).toMatch(/valid: HR@10 [0-9.]+ {2}NDCG@10 [0-9.]+ {4}test: HR@10/);
  });

  it('fit --budget shorter than an epoch still trains one and saves the model (the smallest budget works)', async () => {
    const out = path.join(dir, 'rec-short');
    const r = await lmrec('fit', '--items', items, '--events', events, '--out', out, '--layer', '1', '--budget', '0.01s', '--json', ...tiny);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { aborted: boolean };
    expect(report.aborted).toBe(false);
    expect(existsSync(path.join(out, 'manifest.json'))).toBe(true);
  });

  it('teaches with examples in --help; rejects a bad --layer, --budget or --out before fitting', async () => {
    const [help, badLayer, badBudget, badOut] = await Promise.all([
      lmrec('fit', '--help'),
      lmrec('fit', '--items', items, '--events', events, '--out', model, '--layer', 'middle'),
      lmrec('sweep', '--items', items, '--events', events, '--budget', 'soon'),
      lmrec('fit', '--items', items, '--events', events, '--out', dir),
    ]);
    expect(badOut.code).toBe(1);
    expect(badOut.stderr).toMatch(/^lmrec: \[INVALID_ARGUMENT\] .* exists and is not a saved recommender directory/);
    expect(badOut.stderr).not.toMatch(/^encoding/m);
    expect(help.stdout).toMatch(/Examples:\n {2}lmrec fit --items/);
    expect(badLayer.code).toBe(1);
    expect(badLayer.stderr).toContain('--layer');
    expect(badBudget.code).toBe(1);
    expect(badBudget.stderr).toMatch(/duration/);
  });

  it('Ctrl-C stops the fit and saves the best model so far', async () => {
    const out = path.join(dir, 'interrupted');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'fit', '--items', items, '--events', events, '--out', out, '--layer', '1', '--epochs', '100000', '--budget', '2m', '--json', ...tiny], { cwd: root });
    let stdout = '';
    let stderr = '';
    let interrupting = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      // the training bar shows a validated epoch: interrupt at once (once); early stopping needs
      // six epochs or more, so the fit is still training
      if (/^training .*epoch [1-9]/m.test(stderr) && !interrupting) {
        interrupting = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toMatch(/stopping the fit/);
    expect(code).toBe(0);
    const r = JSON.parse(stdout);
    // the signal stops the fit at its next step; on data this small the training may have
    // early-stopped by the time the signal lands (an epoch takes milliseconds)
    expect(r).toMatchObject({ aborted: true, report: { layer: 1, sweep: [] } });
    expect(['aborted', 'early-stopping']).toContain(r.report.stopReason);
    expect(existsSync(path.join(out, 'manifest.json'))).toBe(true);
  });
});

describe('lmrec recommend and similar', () => {
  it('recommends for a known user: k unseen items with titles, best first', async () => {
    const { lines, io } = log();
    const r = await runRecommend({ model, user: 'u3', k: 5 }, io);
    expect(r.fallback).toBeNull();
    expect(r.items).toHaveLength(5);
    for (const x of r.items) {
      expect(history('u3')).not.toContain(x.id);
      expect(x.title).toBe(titleOf(x.id));
    }
    for (let i = 1; i < r.items.length; i++) expect(r.items[i - 1]!.score).toBeGreaterThanOrEqual(r.items[i]!.score);
    expect(lines.join('\n')).toContain(`${r.items[0]!.id}`);
    expect(lines.join('\n')).toContain(r.items[0]!.title!);
  });

  it('recommends for an anonymous history, within a category, and says which history items it ignored', async () => {
    const { lines, io } = log();
    const h = history('u7').slice(0, 4);
    const r = await runRecommend({ model, history: [...h, 'no-such-item'], k: 8, exclude: ['i0'] }, io);
    expect(r.fallback).toBeNull();
    expect(r.ignored).toBe(1);
    expect(r.items.map((x) => x.id)).not.toContain('i0');
    expect(r.items.some((x) => h.includes(x.id))).toBe(false);
    expect(lines.join('\n')).toMatch(/1 history item is not in the catalog/);
    const category = data.items[5]!.category;
    const inCategory = await runRecommend({ model, user: 'u3', category: [category], k: 4 }, log().io);
    expect(inCategory.items.length).toBeGreaterThan(0);
    for (const x of inCategory.items) expect(data.items.find((it) => it.id === x.id)!.category).toBe(category);
  });

  it('says so when an unknown user gets the popularity fallback (CLI), and --json parses', async () => {
    const [text, json] = await Promise.all([
      lmrec('recommend', '--model', model, '--user', 'nobody', '--k', '3'),
      lmrec('recommend', '--model', model, '--history', history('u2').slice(-3).join(','), '--k', '4', '--json'),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/user 'nobody' has no known history.*popularity fallback/);
    expect(text.stdout.trim().split('\n')).toHaveLength(3 + 3); // note, heading, column names, 3 items
    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout);
    expect(r).toMatchObject({ fallback: null, ignored: 0 });
    expect(r.items).toHaveLength(4);
    expect(r.items[0]).toEqual({ id: expect.any(String), score: expect.any(Number), title: expect.any(String) });
  });

  it('similar: the items most like one item, itself left out', async () => {
    const { lines, io } = log();
    const r = await runSimilar({ model, item: 'i5', k: 6 }, io);
    expect(r.item).toEqual({ id: 'i5', title: titleOf('i5') });
    expect(r.items).toHaveLength(6);
    expect(r.items.map((x) => x.id)).not.toContain('i5');
    expect(r.items.every((x) => x.score <= 1.0001)).toBe(true);
    expect(lines[0]).toContain("items most like 'i5'");
  });

  it('a directory that is not a saved recommender: a typed error and exit code 1', async () => {
    const notModel = path.join(dir, 'not-a-model');
    mkdirSync(notModel, { recursive: true });
    expect((await rejection(runRecommend({ model: notModel, user: 'u1' }, log().io))).code).toBe('NOT_A_MODEL');
    expect((await rejection(runSimilar({ model, item: 'no-such-item' }, log().io))).code).toBe('UNKNOWN_ID');
    expect((await rejection(runRecommend({ model }, log().io))).code).toBe('INVALID_ARGUMENT');
    const [bad, missing] = await Promise.all([lmrec('recommend', '--model', notModel, '--user', 'u1'), lmrec('similar', '--model', path.join(dir, 'nothing'), '--item', 'i1')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^lmrec: \[NOT_A_MODEL\] .*not-a-model' is not a saved recommender/);
    expect(bad.stderr).not.toMatch(/^\s+at /m);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^lmrec: \[IO_ERROR\] .*nothing' does not exist/);
  });
});

describe('lmrec sweep and eval quality', () => {
  it('sweep prints the sweep table and saves no model', async () => {
    const r = await lmrec('sweep', '--items', items, '--events', events, '--layers', '0,1', '--budget', '3s', ...tiny);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^layer \| probe HR@10 \| probe NDCG@10 \| users \| seconds$/m);
    expect(r.stdout).toMatch(/^0( \*)? \| [0-9.]+ \| [0-9.]+ \| \d+ \| [0-9.]+$/m);
    expect(r.stdout).toMatch(/^1( \*)? \| /m);
    expect(r.stdout.match(/^\d \* \|/gm)).toHaveLength(1);
    expect(r.stderr).toMatch(/^sweep +\[/m);
  });

  it('eval quality prints the quality table (warm and cold targets, over seeds) and writes it as JSON', async () => {
    const out = path.join(dir, 'quality.json');
    const r = await lmrec('eval', 'quality', '--items', items, '--events', events, '--cold-items', '0.1', '--seeds', '1,2', '--epochs', '2', '--layers', '0,2', '--srm-dim', '16', '--out', out);
    expect(r.stderr).not.toMatch(/lmrec: \[/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\| model \| warm HR@10 \| warm NDCG@10 \| cold HR@10 \| cold NDCG@10 \| coverage@10 \| top-1% share \| epochs \| fit s \|$/m);
    for (const model of ['popularity', 'content TF-IDF', 'ID-only SRM', 'SRM + content (w ', 'lmrec']) expect(r.stdout).toContain(`| ${model}`);
    expect(r.stdout).not.toContain('| lmrec (fp32 codes)');
    expect(r.stdout).toMatch(/^12 items made cold/m);
    expect(r.stdout).toMatch(/mean ± standard deviation over seeds 1, 2/);
    expect(r.stderr).toMatch(/^quality +\[/m);
    const q = JSON.parse(readFileSync(out, 'utf8'));
    expect(q).toMatchObject({ coldItems: 12, seeds: [1, 2], epochs: 2, sweep: [{ layer: 0 }, { layer: 2 }] });
    expect(q.rows.map((x: { model: string }) => x.model)).toEqual(['popularity', 'content TF-IDF', 'ID-only SRM', 'SRM + content', 'SRM + content, cold weight', 'lmrec']);
    // the SRM settings given to eval reach the SRM rows; the others stay the recommender's
    expect(q.srm).toMatchObject({ dim: 16, maxLen: 50 });
    expect(q.rows[2].seeds).toHaveLength(2);
  });

  it('eval --cold-items still runs the quality table, with a deprecation note', async () => {
    const r = await lmrec('eval', '--items', items, '--events', events, '--cold-items', '0.1', '--srm-epochs', '1', '--layers', '0', '--srm-dim', '16', '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/`eval --cold-items` is deprecated: use `lmrec eval quality/);
    const q = JSON.parse(r.stdout);
    expect(q).toMatchObject({ coldItems: 12, seeds: [1], epochs: 1 });
    expect(q.rows.map((x: { model: string }) => x.model)).toEqual(['popularity', 'content TF-IDF', 'ID-only SRM', 'SRM + content', 'SRM + content, cold weight', 'lmrec']);
  });
});
