/**
 * pretrain() and distill() end to end on a tiny synthetic catalog: the model directory they
 * write loads in LanguageModel and in `lmrec eval --lm`, a run stopped and resumed writes the
 * same bytes as one that never stopped, and bad input or a failing disk are typed errors that
 * leave no broken model directory behind.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runEval } from '../src/cli/eval.js';
import { LanguageModel, LmrecError } from '../src/index.js';
import { distill, pretrain, type PretrainOptions } from '../src/train.js';
import { writeSynthetic } from '../src/tools.js';
import { rejection } from './helpers/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-pretrain-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeSynthetic(path.join(dir, 'data'), { items: 120, users: 90, eventsPerUser: [4, 9], seed: 3 });
const items = path.join(dir, 'data', 'items.jsonl');
const events = path.join(dir, 'data', 'events.jsonl');
const tiny: Partial<PretrainOptions> = {
  dim: 32, layers: 2, heads: 2, kvHeads: 1, ffn: 64, vocabSize: 400, template: '{title}', context: 64, batchTokens: 1024, threads: 2,
};

describe('pretrain', () => {
  it('trains from scratch and writes a model directory every part of lmrec loads', async () => {
    const out = path.join(dir, 'scratch');
    const progress: number[] = [];
    const r = await pretrain({ ...tiny, items, events, out, steps: 60, lr: 1e-2, itemWeight: 1, onProgress: (p) => progress.push(p.step) });
    expect(r.stopReason).toBe('steps');
    expect(r.steps).toBe(60);
    expect(progress.at(-1)).toBe(60);
    expect(r.corpus.vocab).toBe(400);
    // Text alone beats a unigram model on the held-out events.
    expect(r.validation.perplexity).toBeLessThan(r.validation.unigramPerplexity);
    expect(r.itemHead.test['NDCG@10']).toBeGreaterThan(0);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'item_head.safetensors', 'lmrec.json']) {
      expect(existsSync(path.join(out, f))).toBe(true);
    }
    expect(existsSync(`${out}.checkpoint`)).toBe(false); // a finished run leaves no checkpoint
    const info = JSON.parse(readFileSync(path.join(out, 'lmrec.json'), 'utf8')) as { items: string[]; template: string };
    expect(info.items).toHaveLength(120);
    expect(info.template).toBe('{title}');
    const lm = await LanguageModel.load(out, { precision: 'fp32' });
    try {
      expect(lm.config).toMatchObject({ family: 'decoder', hidden: 32, layers: 2, vocab: 400, tiedEmbeddings: true });
      const [v] = await lm.encode(['kalo mine'], { pooling: 'last' });
      expect(v!.every(Number.isFinite)).toBe(true);
    } finally {
      await lm.close();
    }
    // `lmrec eval --lm` ranks with the item head: the same figures as pretrain reported.
    const report = await runEval({ items, events, srm: false, lm: out });
    expect(report.models.lm!.test['NDCG@10']).toBeCloseTo(r.itemHead.test['NDCG@10']!, 6);
  });

  it('a run stopped by its signal and resumed writes the same bytes as one that never stopped', async () => {
    const base = { ...tiny, items, events, steps: 40, checkpointEverySeconds: 1e-3 } as const;
    await pretrain({ ...base, out: path.join(dir, 'straight') });
    const stop = new AbortController();
    const out = path.join(dir, 'resumed');
    const first = await pretrain({ ...base, out, onProgress: (p) => p.step >= 15 && stop.abort(), signal: stop.signal });
    expect(first.stopReason).toBe('aborted');
    expect(first.steps).toBeLessThan(40);
    expect(existsSync(`${out}.checkpoint`)).toBe(true);
    const second = await pretrain({ ...base, out, resume: true });
    expect(second.stopReason).toBe('steps');
    expect(second.steps).toBe(40);
    const bytes = (d: string) => readFileSync(path.join(d, 'model.safetensors'));
    expect(bytes(out).equals(bytes(path.join(dir, 'straight')))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-') || f.includes('.old-'))).toEqual([]);
  });

  it("continues the bundled default model ('default') on the catalog for a time budget", async () => {
    const out = path.join(dir, 'from-default');
    const r = await pretrain({ items, events, out, model: 'default', template: '{title}', context: 64, budgetSeconds: 3, batchTokens: 1024, threads: 2 });
    expect(r.stopReason === 'time-budget' || r.stopReason === 'steps').toBe(true);
    expect(r.steps).toBeGreaterThan(0);
    expect(r.corpus.vocab).toBe(4096);
    const defaults = path.resolve('models/default');
    expect(readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).toBe(readFileSync(path.join(defaults, 'tokenizer.json'), 'utf8'));
  });

  it('bad input is a typed error and writes no model', async () => {
    const bad = path.join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    const noText = path.join(bad, 'no-text.jsonl');
    writeFileSync(noText, '{"id":"a"}\n{"id":"b"}\n');
    const noEvents = path.join(bad, 'none.jsonl');
    writeFileSync(noEvents, '');
    const out = path.join(bad, 'model');
    // (with no template: the default one finds no text field)
    expect(await rejection(pretrain({ ...tiny, template: undefined, items: noText, events, out, steps: 1 }))).toMatchObject({ code: 'INVALID_DATA' });
    expect(await rejection(pretrain({ ...tiny, items, events: noEvents, out, steps: 1 }))).toMatchObject({ code: 'INVALID_DATA' });
    // More tokens than the item texts can make.
    expect(await rejection(pretrain({ ...tiny, items, events, out, steps: 1, vocabSize: 50_000 }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await rejection(pretrain({ ...tiny, items, events, out, steps: 1, layers: 0 }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await rejection(pretrain({ ...tiny, items, events, out, model: path.join(bad, 'nowhere') }))).toBeInstanceOf(LmrecError);
    expect(existsSync(out)).toBe(false);
  });

  it('never replaces a directory that is not a model, and restores a model an export killed mid-swap set aside', async () => {
    const data = path.join(dir, 'not-a-model');
    mkdirSync(data, { recursive: true });
    writeFileSync(path.join(data, 'events.jsonl'), 'precious\n');
    expect(await rejection(pretrain({ ...tiny, items, events, out: `${data}/`, steps: 1 }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(readFileSync(path.join(data, 'events.jsonl'), 'utf8')).toBe('precious\n');
    // A model moved aside by an export that died (pid 2^22 + 1 is beyond Linux's pid range) comes back.
    const out = path.join(dir, 'swapped');
    await pretrain({ ...tiny, items, events, out, steps: 1 });
    const aside = `${out}.old-${2 ** 22 + 1}`;
    renameSync(out, aside);
    await pretrain({ ...tiny, items, events, out, steps: 2 });
    expect(existsSync(aside)).toBe(false);
    expect(JSON.parse(readFileSync(path.join(out, 'lmrec.json'), 'utf8')).steps).toBe(2);
  });

  it('a disk that fills up while checkpointing is an IO_ERROR, and the last good model stays whole', async () => {
    // A file-size limit makes writes past it fail with EFBIG, as a full disk fails them with ENOSPC.
    const out = path.join(dir, 'full-disk');
    await pretrain({ ...tiny, items, events, out, steps: 2 });
    const before = readFileSync(path.join(out, 'model.safetensors'));
    const script = `
      import { pretrain } from ${JSON.stringify(path.resolve('src/train.ts'))};
      try {
        await pretrain(${JSON.stringify({ ...tiny, items, events, out, steps: 5 })});
        console.log('NO ERROR');
      } catch (e) { console.log('CODE', e.code, e.message); }`;
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 64; exec "${process.execPath}" --import tsx -e "$0"`, script], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/CODE IO_ERROR/);
    expect(readFileSync(path.join(out, 'model.safetensors')).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.startsWith('full-disk') && f !== 'full-disk')).toEqual([]);
  });
});

describe('distill', () => {
  it('distils a 4-layer teacher into a 2-layer student, aligned at block boundaries, and reports both', async () => {
    const teacher = path.join(dir, 'teacher');
    await pretrain({ ...tiny, layers: 4, items, events, out: teacher, steps: 30, lr: 1e-2 });
    const r = await distill({ teacher, items, events, out: path.join(dir, 'student'), layers: 2, blocks: 2, steps: 20, context: 64, batchTokens: 1024, threads: 2 });
    expect(r.alignment).toEqual([{ student: 1, teacher: 2 }, { student: 2, teacher: 4 }]);
    expect(r.student.layers).toBe(2);
    expect(r.student.parameters).toBeLessThan(r.teacher.parameters);
    expect(r.teacher.itemHead?.test['NDCG@10']).toBeGreaterThan(0);
    expect(r.student.itemHead.test['NDCG@10']).toBeGreaterThan(0);
    // Speed is bench:train's to measure: at this size onnxruntime's per-call cost dominates.
    expect(r.encode.teacherSeconds).toBeGreaterThan(0);
    expect(r.encode.studentSeconds).toBeGreaterThan(0);
    const lm = await LanguageModel.load(path.join(dir, 'student'), { precision: 'fp32' });
    expect(lm.config).toMatchObject({ layers: 2, hidden: 32 });
    await lm.close();
  });
});
