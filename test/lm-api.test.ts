/**
 * LanguageModel's boundary: every misuse is a typed LmrecError before onnxruntime sees it,
 * close() and CLOSED, damaged (non-finite) weights, onnxruntime loaded only with a model, and
 * files written through the durable atomic writer.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphKey } from '../src/lm/graph-cache.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { Safetensors, writeSafetensors, type SafetensorsDtype } from '../src/lm/safetensors.js';
import { maxAbsDiff } from './helpers/compare.js';
import { rejection } from './helpers/errors.js';
import { writeTinyDecoder, writeTinyEncoder } from './helpers/tiny-models.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-api-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const decoderDir = path.join(root, 'decoder');
const encoderDir = path.join(root, 'encoder');
writeTinyDecoder(decoderDir, { seed: 51 });
writeTinyEncoder(encoderDir, { seed: 52 });

/** The code a call fails with, sync or async. */
async function code(call: () => unknown): Promise<string> {
  return (await rejection(Promise.resolve().then(call))).code;
}

/** Rewrites a checkpoint with `value` at element `at` of tensor `name`, stored as `dtype`. */
function poison(dir: string, name: string, at: number, value: number, dtype: SafetensorsDtype = 'F32'): void {
  const st = Safetensors.open(dir);
  const tensors = st.names().map((n) => {
    const data = st.get(n).slice();
    if (n === name) data[at] = value;
    return { name: n, shape: st.info(n).shape, data, dtype };
  });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
}

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

describe('LanguageModel.load arguments', () => {
  it('a missing or non-string directory is INVALID_ARGUMENT', async () => {
    for (const dir of [undefined, null, 42, '', { dir: decoderDir }]) {
      expect(await code(() => LanguageModel.load(dir as never)), String(dir)).toBe('INVALID_ARGUMENT');
    }
  });

  it('every option is type-checked: INVALID_ARGUMENT, never an onnxruntime error', async () => {
    const bad: unknown[] = [
      'fast',
      { threads: -1 },
      { threads: 1.5 },
      { threads: '2' },
      { threads: 0 },
      { blockSize: 0 },
      { blockSize: '2' },
      { precision: 'int4' },
      { cacheDir: true },
      { cacheDir: '' },
      { cacheDir: 42 },
      { maxBatchBytes: 0 },
      { maxBatchBytes: -1 },
      { maxBatchBytes: Number.NaN },
      { blocksize: 2 }, // a typo is not silently ignored
    ];
    for (const options of bad) {
      expect(await code(() => LanguageModel.load(decoderDir, options as never)), JSON.stringify(options)).toBe('INVALID_ARGUMENT');
    }
  });

  it('a cacheDir that cannot be a directory is IO_ERROR', async () => {
    const file = path.join(root, 'a-file');
    writeFileSync(file, 'not a directory');
    const e = await rejection(LanguageModel.load(decoderDir, { cacheDir: file }));
    expect(e).toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('cacheDir: false') });
    expect(await code(() => LanguageModel.load(decoderDir, { cacheDir: path.join(file, 'below') }))).toBe('IO_ERROR');
  });
});

describe('LanguageModel calls', () => {
  let lm: LanguageModel;
  let bert: LanguageModel;
  beforeAll(async () => {
    lm = await LanguageModel.load(decoderDir, { cacheDir: false, blockSize: 2 });
    bert = await LanguageModel.load(encoderDir, { cacheDir: false });
  });
  afterAll(async () => {
    await lm.close();
    await bert.close();
  });

  it('encode checks its inputs and every option before running', async () => {
    const ok = [[1, 2, 3]];
    const bad: [unknown, unknown][] = [
      [ok, { batchSize: 0 }],
      [ok, { batchSize: 2.5 }],
      [ok, { pooling: 'max' }],
      [ok, { pooling: 'marker' }],
      [ok, { marker: 3 }], // a marker without marker pooling
      [ok, { pooling: 'marker', marker: '3' }],
      [ok, { layer: '2' }],
      [ok, { layer: 99 }],
      [ok, { normalize: 'yes' }],
      [ok, { truncate: 1 }],
      [ok, { layers: [2] }], // hiddenStates' option: a typo here
      [ok, 'mean'],
      ['the cat', {}],
      [[5], {}],
      [[null], {}],
      [[{ ids: [1] }], {}],
      [[[1, 2.5]], {}],
    ];
    for (const [inputs, options] of bad) {
      expect(await code(() => lm.encode(inputs as never, options as never)), JSON.stringify([inputs, options])).toBe('INVALID_ARGUMENT');
    }
  });

  it('encode of no inputs is no vectors', async () => {
    expect(await lm.encode([])).toEqual([]);
  });

  it("hiddenStates defaults to ['final'], and checks its options", async () => {
    expect(await lm.hiddenStates([1, 2, 3])).toEqual(await lm.hiddenStates([1, 2, 3], { layers: ['final'] }));
    for (const options of [{ layers: [] }, { layers: 'final' }, { layers: [1.5] }, { layer: 1 }, { truncate: 'no' }, 7]) {
      expect(await code(() => lm.hiddenStates([1, 2, 3], options as never)), JSON.stringify(options)).toBe('INVALID_ARGUMENT');
    }
    expect(await code(() => lm.hiddenStates(42 as never))).toBe('INVALID_ARGUMENT');
  });

  it('logits and tokenize check their arguments', async () => {
    expect(await code(() => lm.logits([1, 2], { truncate: 'yes' } as never))).toBe('INVALID_ARGUMENT');
    expect(await code(() => lm.logits([1, 2], { layers: [1] } as never))).toBe('INVALID_ARGUMENT');
    expect(await code(() => lm.tokenize(42 as never))).toBe('INVALID_ARGUMENT');
  });

  it("'cls' pools the first token of an encoder, and is refused for a decoder", async () => {
    const ids = [4, 8, 15, 16, 23];
    const [states] = await bert.hiddenStates(ids, { layers: [2] });
    const [cls] = await bert.encode([ids], { layer: 2, pooling: 'cls' });
    expect(maxAbsDiff(cls!, states!.subarray(0, bert.config.hidden))).toBe(0);
    expect(await rejection(lm.encode([ids], { pooling: 'cls' }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining("'last'") });
  });
});

describe('close()', () => {
  it('waits for running calls, then any use is CLOSED; closing again does nothing', async () => {
    const lm = await LanguageModel.load(decoderDir, { cacheDir: false });
    const running = lm.encode([[1, 2, 3], [4, 5]], { layer: 1 });
    await lm.close();
    expect(await running).toHaveLength(2);
    for (const use of [
      () => lm.encode([[1]]),
      () => lm.hiddenStates([1]),
      () => lm.logits([1]),
      () => lm.tokenize('a'),
    ]) {
      expect(await code(use)).toBe('CLOSED');
    }
    await lm.close();
  });
});

describe('non-finite weights', () => {
  it('are NON_FINITE naming the tensor, when a decoder is loaded', async () => {
    const dir = path.join(root, 'nan-decoder');
    writeTinyDecoder(dir, { seed: 53 });
    poison(dir, 'model.layers.1.mlp.up_proj.weight', 17, Number.NaN);
    const e = await rejection(LanguageModel.load(dir, { cacheDir: false }));
    expect(e).toMatchObject({ code: 'NON_FINITE', message: expect.stringMatching(/'model\.layers\.1\.mlp\.up_proj\.weight' holds NaN at element 17/) });
  });

  it('are NON_FINITE for an encoder, infinities in fp16 files too', async () => {
    const dir = path.join(root, 'inf-encoder');
    writeTinyEncoder(dir, { seed: 54 });
    poison(dir, 'encoder.layer.0.attention.self.key.bias', 3, -Infinity, 'F16');
    expect(await rejection(LanguageModel.load(dir, { cacheDir: false }))).toMatchObject({
      code: 'NON_FINITE',
      message: expect.stringContaining("'encoder.layer.0.attention.self.key.bias' holds -Infinity"),
    });
  });
});

describe('onnxruntime', () => {
  it("is not loaded by import 'lmrec', only by LanguageModel.load", () => {
    // the native library being mapped into the process is the cost a user of the index alone must not pay
    const script = `
      const loaded = () => process.report.getReport().sharedObjects.some((f) => /onnxruntime/.test(f));
      const { LanguageModel } = await import(${JSON.stringify(path.resolve(__dirname, '../src/index.ts'))});
      const before = loaded();
      await (await LanguageModel.load(${JSON.stringify(decoderDir)}, { cacheDir: false })).close();
      console.log(JSON.stringify({ before, after: loaded() }));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ before: false, after: true });
  });
});

describe('files lmrec writes', () => {
  it('graph cache files go through the durable writer, which sweeps temp files of dead writers', async () => {
    const cacheDir = path.join(root, 'cache');
    const key = await graphKey(decoderDir, { precision: 'fp32', blockSize: 4 });
    mkdirSync(path.join(cacheDir, key), { recursive: true });
    const stale = path.join(cacheDir, key, `layers_0_3.onnx.tmp-${deadPid()}-0`);
    writeFileSync(stale, 'left by a killed process');
    await (await LanguageModel.load(decoderDir, { cacheDir })).close();
    expect(existsSync(stale)).toBe(false);
    expect(readdirSync(path.join(cacheDir, key)).sort()).toEqual(['head.onnx', 'layers_0_3.onnx']);
  });

  it("checkpoint directories' config.json too", () => {
    const dir = path.join(root, 'written');
    mkdirSync(dir, { recursive: true });
    const stale = path.join(dir, `config.json.tmp-${deadPid()}-0`);
    writeFileSync(stale, '{');
    writeTinyDecoder(dir);
    expect(existsSync(stale)).toBe(false);
  });
});
