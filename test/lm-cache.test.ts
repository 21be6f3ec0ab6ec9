import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LanguageModel } from '../src/lm/language-model.js';
import { maxAbsDiff } from './helpers/compare.js';
import { writeTinyDecoder } from './helpers/tiny-models.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('graph cache', () => {
  const model = path.join(root, 'model');
  const cacheDir = path.join(root, 'cache');
  writeTinyDecoder(model, { seed: 31, layers: 3 });
  const ids = [3, 1, 4, 1, 5, 9, 2, 6];

  it('builds graphs once, reuses them, and keys them by options', async () => {
    const first = await LanguageModel.load(model, { cacheDir, blockSize: 2 });
    const [a] = await first.hiddenStates(ids, { layers: ['final'] });
    await first.close();
    const keys = readdirSync(cacheDir);
    expect(keys).toHaveLength(1);
    expect(readdirSync(path.join(cacheDir, keys[0]!)).sort()).toEqual(['head.onnx', 'layers_0_2.onnx', 'layers_2_1.onnx']);
    const again = await LanguageModel.load(model, { cacheDir, blockSize: 2 });
    const [b] = await again.hiddenStates(ids, { layers: ['final'] });
    expect(Array.from(b!)).toEqual(Array.from(a!));
    await again.close();
    await (await LanguageModel.load(model, { cacheDir, blockSize: 1 })).close();
    await (await LanguageModel.load(model, { cacheDir, precision: 'int8' })).close();
    expect(readdirSync(cacheDir)).toHaveLength(3);
  });

  it('builds a block\'s every-layer variant only when a layer inside the block is asked for', async () => {
    const lm = await LanguageModel.load(model, { cacheDir, blockSize: 2 });
    const key = readdirSync(cacheDir).find((k) => readdirSync(path.join(cacheDir, k)).includes('layers_0_2.onnx'))!;
    await lm.encode([ids], { layer: 2 });
    expect(readdirSync(path.join(cacheDir, key))).not.toContain('layers_0_2_all.onnx');
    const [inner, end] = await lm.hiddenStates(ids, { layers: [1, 2] });
    expect(readdirSync(path.join(cacheDir, key))).toContain('layers_0_2_all.onnx');
    const fresh = await LanguageModel.load(model, { cacheDir: false, blockSize: 1 });
    const [want1, want2] = await fresh.hiddenStates(ids, { layers: [1, 2] });
    // different graph shapes may fuse differently: equal up to float rounding
    expect(maxAbsDiff(inner!, want1!)).toBeLessThan(1e-5);
    expect(maxAbsDiff(end!, want2!)).toBeLessThan(1e-5);
    await lm.close();
    await fresh.close();
  });

  it('rebuilds a damaged cache file', async () => {
    const key = readdirSync(cacheDir).find((k) => readdirSync(path.join(cacheDir, k)).includes('layers_0_2.onnx'))!;
    writeFileSync(path.join(cacheDir, key, 'layers_0_2.onnx'), 'garbage');
    const lm = await LanguageModel.load(model, { cacheDir, blockSize: 2 });
    const fresh = await LanguageModel.load(model, { cacheDir: false, blockSize: 2 });
    expect(await lm.hiddenStates(ids, { layers: [2] })).toEqual(await fresh.hiddenStates(ids, { layers: [2] }));
    await lm.close();
    await fresh.close();
  });

  it('changes key when the weights change', async () => {
    writeTinyDecoder(model, { seed: 32, layers: 3 });
    await (await LanguageModel.load(model, { cacheDir, blockSize: 2 })).close();
    expect(readdirSync(cacheDir)).toHaveLength(4);
  });
});
