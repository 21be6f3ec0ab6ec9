/** BERT-style encoders: the ONNX graphs against the TypeScript reference. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfig, type EncoderConfig } from '../src/lm/config.js';
import { encoderWeights } from '../src/lm/encoder-weights.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { encoderForward } from './oracle/encoder.js';
import { Safetensors } from '../src/lm/safetensors.js';
import { maxAbsDiff } from './helpers/compare.js';
import { writeTinyEncoder } from './helpers/tiny-models.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-bert-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('BERT-style encoders', () => {
  for (const legacyNames of [false, true]) {
    it(`every layer within 1e-4 of the reference${legacyNames ? " ('bert.' prefix, gamma/beta names)" : ''}`, async () => {
      const dir = path.join(root, `bert-${legacyNames}`);
      writeTinyEncoder(dir, { legacyNames, seed: legacyNames ? 2 : 1 });
      const c = readConfig(dir) as EncoderConfig;
      const w = encoderWeights(Safetensors.open(dir), c);
      const ids = [2, 17, 5, 42, 9, 11, 0, 60, 7, 3];
      const ref = encoderForward(c, w, ids);
      const lm = await LanguageModel.load(dir, { blockSize: 2, cacheDir: false });
      const layers = Array.from({ length: c.layers + 1 }, (_, l) => l);
      const got = await lm.hiddenStates(ids, { layers: [...layers, 'final'] });
      for (const l of layers) expect(maxAbsDiff(got[l]!, ref.layers[l]!), `layer ${l}`).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(got[c.layers + 1]!, ref.final)).toBeLessThanOrEqual(1e-4);
      await expect(lm.logits(ids)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      await lm.close();
    });
  }

  it('attends both ways, and padding does not leak into batched encodings', async () => {
    const dir = path.join(root, 'bert-pad');
    writeTinyEncoder(dir, { seed: 5, layers: 2 });
    const lm = await LanguageModel.load(dir, { cacheDir: false });
    const c = readConfig(dir) as EncoderConfig;
    const w = encoderWeights(Safetensors.open(dir), c);
    const inputs = [[1, 2, 3, 4, 5, 6, 7], [9, 8], [30, 31, 32]];
    const batched = await lm.encode(inputs, { layer: 'final', pooling: 'mean' });
    inputs.forEach((ids, i) => {
      const ref = encoderForward(c, w, ids).final;
      const mean = new Float32Array(c.hidden);
      for (let t = 0; t < ids.length; t++) for (let h = 0; h < c.hidden; h++) mean[h] = mean[h]! + ref[t * c.hidden + h]! / ids.length;
      expect(maxAbsDiff(batched[i]!, mean)).toBeLessThanOrEqual(1e-4);
    });
    // bidirectional: the first token's state depends on the last token
    const [a] = await lm.hiddenStates([1, 2, 3], { layers: [1] });
    const [b] = await lm.hiddenStates([1, 2, 4], { layers: [1] });
    expect(maxAbsDiff(a!.subarray(0, c.hidden), b!.subarray(0, c.hidden))).toBeGreaterThan(1e-4);
    await expect(lm.hiddenStates(Array.from({ length: 41 }, () => 1), { layers: [1] })).rejects.toMatchObject({ code: 'INPUT_TOO_LONG' });
    await lm.close();
  });

  it('int8 keeps pooled states at cosine >= 0.99', async () => {
    const dir = path.join(root, 'bert-int8');
    writeTinyEncoder(dir, { seed: 7, hidden: 64, intermediate: 128 });
    const fp32 = await LanguageModel.load(dir, { cacheDir: false });
    const int8 = await LanguageModel.load(dir, { cacheDir: false, precision: 'int8' });
    const inputs = [[1, 2, 3, 4, 5, 6, 7, 8], [10, 20, 30]];
    const a = await fp32.encode(inputs, { normalize: true });
    const b = await int8.encode(inputs, { normalize: true });
    a.forEach((v, i) => expect(v.reduce((s, x, j) => s + x * b[i]![j]!, 0)).toBeGreaterThanOrEqual(0.99));
    await fp32.close();
    await int8.close();
  });
});
