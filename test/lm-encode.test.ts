import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LanguageModel } from '../src/lm/language-model.js';
import { maxAbsDiff } from './helpers/compare.js';
import { writeTinyDecoder, writeTinyTokenizer } from './helpers/tiny-models.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-encode-'));
const words = ['the', 'cat', 'sat', 'on', 'mat', 'dog', 'ran', 'a', 'red', 'ball', '##s', '.'];
let lm: LanguageModel;
let plain: LanguageModel;

beforeAll(async () => {
  writeTinyDecoder(path.join(root, 'with-tokenizer'), { seed: 9, layers: 4 });
  writeTinyTokenizer(path.join(root, 'with-tokenizer'), words);
  lm = await LanguageModel.load(path.join(root, 'with-tokenizer'), { blockSize: 2, threads: 1 });
  writeTinyDecoder(path.join(root, 'ids-only'), { seed: 9 });
  plain = await LanguageModel.load(path.join(root, 'ids-only'));
});
afterAll(async () => {
  await lm.close();
  await plain.close();
  rmSync(root, { recursive: true, force: true });
});


function pool(states: Float32Array, H: number, rows: number[]): Float32Array {
  const v = new Float32Array(H);
  for (const t of rows) for (let h = 0; h < H; h++) v[h] = v[h]! + states[t * H + h]! / rows.length;
  return v;
}

describe('LanguageModel text and encode', () => {
  it('tokenizes text with the model tokenizer.json', async () => {
    expect(lm.tokenize('The cats sat.')).toEqual([1, 2, 11, 3, 12]);
    const [a] = await lm.hiddenStates('The cats sat.', { layers: [2] });
    const [b] = await lm.hiddenStates([1, 2, 11, 3, 12], { layers: [2] });
    expect(maxAbsDiff(a!, b!)).toBe(0);
  });

  it('without tokenizer.json, token ids work and text names the missing file', async () => {
    expect((await plain.hiddenStates([1, 2, 3], { layers: [1] }))[0]).toHaveLength(3 * 32);
    await expect(plain.hiddenStates('the cat', { layers: [1] })).rejects.toMatchObject({ code: 'NO_TOKENIZER', message: expect.stringContaining('tokenizer.json') });
  });

  it('pads batches without leaking: batched vectors equal one-at-a-time vectors', async () => {
    const inputs: (string | number[])[] = ['the cat sat on the mat.', 'a dog ran', [5, 9], 'the red balls', [7, 7, 7, 7, 7, 7, 7, 7, 7, 1]];
    const H = lm.config.hidden;
    for (const layer of [1, 3, 'final'] as const) {
      const batched = await lm.encode(inputs, { layer, batchSize: 16 });
      const pairs = await lm.encode(inputs, { layer, batchSize: 2 });
      for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i]!;
        const ids = typeof input === 'string' ? lm.tokenize(input) : input;
        const [states] = await lm.hiddenStates(ids, { layers: [layer] });
        const alone = pool(states!, H, ids.map((_, t) => t));
        expect(maxAbsDiff(batched[i]!, alone), `input ${i} layer ${layer}`).toBeLessThan(1e-5);
        expect(maxAbsDiff(pairs[i]!, alone)).toBeLessThan(1e-5);
      }
    }
  });

  it('pools the last token, a marker token, and normalizes', async () => {
    const ids = [1, 12, 2, 3, 12, 4];
    const H = lm.config.hidden;
    const [states] = await lm.hiddenStates(ids, { layers: [2] });
    const [last] = await lm.encode([ids], { layer: 2, pooling: 'last' });
    expect(maxAbsDiff(last!, states!.subarray(5 * H, 6 * H))).toBeLessThan(1e-6);
    const [marker] = await lm.encode([ids, [4, 4]].slice(0, 1), { layer: 2, pooling: 'marker', marker: 12 });
    expect(maxAbsDiff(marker!, states!.subarray(4 * H, 5 * H))).toBeLessThan(1e-6);
    const [unit] = await lm.encode([ids], { layer: 2, normalize: true });
    expect(Math.hypot(...unit!)).toBeCloseTo(1, 5);
    await expect(lm.encode([[4, 4]], { pooling: 'marker', marker: 12 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(lm.encode([[4]], { pooling: 'marker' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(lm.encode([[4]], { layer: 9 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
