/**
 * Bounded requests: the model's context (max_position_embeddings, bounded by a sliding
 * window), INPUT_TOO_LONG or truncation past it, and the per-run memory budget.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, readConfig, type DecoderConfig } from '../src/lm/config.js';
import { decoderWeights } from '../src/lm/decoder-weights.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { runBytes } from '../src/lm/run-memory.js';
import { Safetensors } from '../src/lm/safetensors.js';
import { maxAbsDiff } from './helpers/compare.js';
import { rejection } from './helpers/errors.js';
import { writeTinyDecoder } from './helpers/tiny-models.js';
import { decoderForward } from './oracle/decoder.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-bounds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, t) => (from + t * 7) % 61);

/** Rewrites fields of a model directory's config.json. */
function patchConfig(dir: string, fields: Record<string, unknown>): void {
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), ...fields }));
}

describe("the model's context", () => {
  const base = { hidden_size: 8, intermediate_size: 8, num_hidden_layers: 2, num_attention_heads: 2, vocab_size: 4 };
  const positions = (raw: object) => parseConfig(raw).maxPositions;

  it("is max_position_embeddings, else transformers' default for the model type", () => {
    expect(positions({ ...base, model_type: 'llama', max_position_embeddings: 512 })).toBe(512);
    expect(positions({ ...base, model_type: 'llama' })).toBe(2048);
    expect(positions({ ...base, model_type: 'qwen2' })).toBe(32768);
    expect(positions({ ...base, model_type: 'mistral', sliding_window: null })).toBe(131072);
    const bert = { ...base, model_type: 'bert' };
    expect(positions(bert)).toBe(512);
    expect(positions({ ...bert, max_position_embeddings: 40 })).toBe(40);
    expect(readConfig(path.resolve(__dirname, 'fixtures/transformers/qwen2')).maxPositions).toBe(64);
  });

  it('is bounded by a sliding window where one applies, as transformers decides', () => {
    const mistral = { ...base, model_type: 'mistral', max_position_embeddings: 32768 };
    expect(positions({ ...mistral, sliding_window: 4000 })).toBe(4000);
    expect(positions(mistral)).toBe(4096); // MistralConfig's default window
    expect(positions({ ...mistral, sliding_window: null })).toBe(32768);
    // Qwen2 configs carry sliding_window but use it only with use_sliding_window, from max_window_layers on
    const qwen2 = { ...base, model_type: 'qwen2', max_position_embeddings: 32768, sliding_window: 4096 };
    expect(positions(qwen2)).toBe(32768);
    expect(positions({ ...qwen2, use_sliding_window: false, max_window_layers: 0 })).toBe(32768);
    expect(positions({ ...qwen2, use_sliding_window: true, max_window_layers: 2 })).toBe(32768);
    expect(positions({ ...qwen2, use_sliding_window: true, max_window_layers: 1 })).toBe(4096);
    // transformers 5 writes layer_types, which decides when present
    expect(positions({ ...qwen2, layer_types: ['full_attention', 'full_attention'] })).toBe(32768);
    expect(positions({ ...qwen2, layer_types: ['full_attention', 'sliding_attention'] })).toBe(4096);
    expect(() => parseConfig({ ...qwen2, layer_types: ['full_attention', 'chunked_attention'] })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    expect(() => parseConfig({ ...qwen2, sliding_window: 0, layer_types: ['sliding_attention', 'sliding_attention'] })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('a Mistral with a sliding window runs exactly within it, and refuses more', async () => {
    const dir = path.join(root, 'mistral-window');
    writeTinyDecoder(dir, { modelType: 'mistral', seed: 41 });
    const window = 8;
    patchConfig(dir, { sliding_window: window, max_position_embeddings: 64 });
    const c = readConfig(dir) as DecoderConfig;
    expect(c.maxPositions).toBe(window);
    const w = decoderWeights(Safetensors.open(dir), c);
    const input = ids(window, 3);
    // attention over at most the window's tokens is full attention: the window mask changes nothing
    const full = decoderForward(c, w, input);
    const windowed = decoderForward(c, w, input, { allowed: (t, s) => s <= t && t - s < window });
    expect(maxAbsDiff(windowed.final, full.final)).toBe(0);
    const lm = await LanguageModel.load(dir, { cacheDir: false });
    const [final] = await lm.hiddenStates(input, { layers: ['final'] });
    expect(maxAbsDiff(final!, full.final)).toBeLessThanOrEqual(1e-4);
    const longer = [...input, 5];
    expect((await rejection(lm.hiddenStates(longer))).code).toBe('INPUT_TOO_LONG');
    expect(await lm.hiddenStates(longer, { truncate: true })).toEqual(await lm.hiddenStates(input));
    await lm.close();
  });
});

describe('inputs longer than the context', () => {
  let lm: LanguageModel;
  const context = 64;
  beforeAll(async () => {
    const dir = path.join(root, 'llama-64');
    writeTinyDecoder(dir, { maxPositions: context, seed: 42 });
    lm = await LanguageModel.load(dir, { cacheDir: false, blockSize: 2 });
  });
  afterAll(() => lm.close());

  it('are INPUT_TOO_LONG naming the input, in every call', async () => {
    const long = ids(context + 1);
    const e = await rejection(lm.hiddenStates(long, { layers: [1] }));
    expect(e).toMatchObject({ code: 'INPUT_TOO_LONG', message: expect.stringMatching(/the input has 65 tokens.*context of 64.*truncate: true/) });
    expect((await rejection(lm.logits(long))).code).toBe('INPUT_TOO_LONG');
    const batch = await rejection(lm.encode([ids(3), ids(context), long]));
    expect(batch).toMatchObject({ code: 'INPUT_TOO_LONG', message: expect.stringContaining('input 2 has 65 tokens') });
    // exactly the context is fine
    expect((await lm.hiddenStates(ids(context)))[0]).toHaveLength(context * lm.config.hidden);
  });

  it('with truncate: true, run their first maxPositions tokens', async () => {
    const long = ids(context + 30, 5);
    const head = long.slice(0, context);
    expect(await lm.hiddenStates(long, { layers: [1, 'final'], truncate: true })).toEqual(await lm.hiddenStates(head, { layers: [1, 'final'] }));
    expect(await lm.logits(long, { truncate: true })).toEqual(await lm.logits(head));
    const [a, b] = await lm.encode([long, ids(4)], { truncate: true, pooling: 'last' });
    const [want] = await lm.encode([head], { pooling: 'last' });
    expect(maxAbsDiff(a!, want!)).toBeLessThanOrEqual(1e-5);
    expect(b).toHaveLength(lm.config.hidden);
    // token ids past the cut are not even looked at
    expect(await lm.logits([...head, 1e9], { truncate: true })).toEqual(await lm.logits(head));
  });
});

describe('the memory budget', () => {
  const dir = path.join(root, 'llama-long');
  const config = writeTinyDecoder(dir, { layers: 2, maxPositions: 32768, seed: 43 });

  it('estimates runs from the attention scores, the bias and the activations', () => {
    const one = runBytes(config, { batch: 1, tokens: 1024, outputs: 1 });
    // doubling the batch doubles it; doubling the length about quadruples it (T² terms dominate here)
    expect(runBytes(config, { batch: 2, tokens: 1024, outputs: 1 })).toBe(2 * one);
    const longer = runBytes(config, { batch: 1, tokens: 2048, outputs: 1 }) / one;
    expect(longer).toBeGreaterThan(3.8);
    expect(longer).toBeLessThan(4);
    // at least the scores of one layer's softmax (input and output) and the bias
    expect(one).toBeGreaterThanOrEqual(4 * 1024 * 1024 * (2 * config.heads + 1));
  });

  it('refuses a sequence that cannot fit with REQUEST_TOO_LARGE, by default past about 1 GiB', async () => {
    const lm = await LanguageModel.load(dir, { cacheDir: false });
    const huge = ids(20_000);
    const e = await rejection(lm.hiddenStates(huge));
    expect(e).toMatchObject({ code: 'REQUEST_TOO_LARGE', message: expect.stringMatching(/the input \(20000 tokens\) needs about .* MiB.*maxBatchBytes \(1024.0 MiB\)/) });
    expect((await rejection(lm.logits(huge))).code).toBe('REQUEST_TOO_LARGE');
    // in a batch: named, and before any of the batch runs
    expect(await rejection(lm.encode([ids(3), huge], { truncate: false }))).toMatchObject({ code: 'REQUEST_TOO_LARGE', message: expect.stringContaining('input 1') });
    await lm.close();
  });

  it('splits encode batches to fit, with the same vectors', async () => {
    const inputs = [ids(300), ids(20), ids(280, 1), ids(5), ids(290, 2)];
    const roomy = await LanguageModel.load(dir, { cacheDir: false });
    // room for one 300-token sequence at a time, not two
    const budget = runBytes(config, { batch: 1, tokens: 300, outputs: 1 }) * 1.5;
    const tight = await LanguageModel.load(dir, { cacheDir: false, maxBatchBytes: Math.ceil(budget) });
    const want = await roomy.encode(inputs);
    const got = await tight.encode(inputs);
    got.forEach((v, i) => expect(maxAbsDiff(v, want[i]!), `input ${i}`).toBeLessThanOrEqual(1e-5));
    await roomy.close();
    await tight.close();
  });

  it('holds the peak memory of encode near the budget, and allocates nothing for a refused input', () => {
    // in a fresh process, so the peak RSS is this work's alone
    const budget = 64 * 2 ** 20;
    const script = `
      const { LanguageModel } = await import(${JSON.stringify(path.resolve(__dirname, '../src/lm/language-model.ts'))});
      const lm = await LanguageModel.load(${JSON.stringify(dir)}, { cacheDir: false, blockSize: 1, maxBatchBytes: ${budget} });
      const ids = (n) => Array.from({ length: n }, (_, t) => (t * 7) % 61);
      await lm.encode([ids(8)]);
      const growth = (from) => process.resourceUsage().maxRSS * 1024 - from;
      let from = process.memoryUsage().rss;
      const code = await lm.hiddenStates(ids(4096)).then(() => 'ran', (e) => e.code);
      const refused = growth(from);
      from = process.memoryUsage().rss;
      const vectors = await lm.encode(Array.from({ length: 16 }, () => ids(1024)));
      console.log(JSON.stringify({ code, refused, encoded: growth(from), count: vectors.length }));
      await lm.close();`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { code: string; refused: number; encoded: number; count: number };
    expect(r.code).toBe('REQUEST_TOO_LARGE');
    expect(r.refused).toBeLessThan(16 * 2 ** 20); // running it would take ~600 MB
    expect(r.count).toBe(16);
    // One batch of all 16 would take ~600 MB. Split to fit, onnxruntime stays within the
    // budget, but the C allocator keeps freed blocks of a few MB per thread: 1.4-1.8x measured.
    expect(r.encoded).toBeLessThan(2.5 * budget);
  });
});
