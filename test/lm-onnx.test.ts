/** The segmented ONNX graphs against the TypeScript reference and against transformers. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LmrecError } from '../src/errors.js';
import { readConfig, type DecoderConfig } from '../src/lm/config.js';
import { decoderWeights } from '../src/lm/decoder-weights.js';
import { attentionBias, LanguageModel } from '../src/lm/language-model.js';
import { blockGraph } from '../src/lm/onnx/decoder-graphs.js';
import ort from 'onnxruntime-node';
import { decoderForward, lastLogits } from './oracle/decoder.js';
import { Safetensors } from '../src/lm/safetensors.js';
import { maxAbsDiff } from './helpers/compare.js';
import { hasStories, storiesDir as fixture, storiesNote, storiesReference } from './helpers/stories.js';
import { writeTinyDecoder, type TinyDecoderOptions } from './helpers/tiny-models.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-onnx-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const models: [string, TinyDecoderOptions, number][] = [
  ['llama, grouped-query attention, untied head', { modelType: 'llama', heads: 4, kvHeads: 2 }, 1],
  ['qwen2 with q/k/v biases, tied head, bf16 weights', { modelType: 'qwen2', heads: 4, kvHeads: 1, tied: true, dtype: 'BF16' }, 2],
  ['mistral, multi-head attention, fp16 weights, 5 layers', { modelType: 'mistral', heads: 2, kvHeads: 2, layers: 5, dtype: 'F16' }, 3],
];

describe('segmented ONNX decoder graphs', () => {
  for (const [name, options, blockSize] of models) {
    it(`${name} (blocks of ${blockSize}): every layer within 1e-4 of the reference`, async () => {
      const dir = path.join(root, `${options.modelType}-${blockSize}`);
      writeTinyDecoder(dir, { ...options, seed: blockSize });
      const c = readConfig(dir) as DecoderConfig;
      const w = decoderWeights(Safetensors.open(dir), c);
      const ids = [3, 17, 5, 42, 9, 11, 0, 60, 7];
      const ref = decoderForward(c, w, ids);
      const lm = await LanguageModel.load(dir, { blockSize, threads: 1 });
      const layers = Array.from({ length: c.layers + 1 }, (_, l) => l);
      const got = await lm.hiddenStates(ids, { layers: [...layers, 'final'] });
      for (const l of layers) expect(maxAbsDiff(got[l]!, ref.layers[l]!), `layer ${l}`).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(got[c.layers + 1]!, ref.final)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(await lm.logits(ids), lastLogits(c, w, ref))).toBeLessThanOrEqual(1e-4);
      // asking for layers in any order, and a middle layer alone, gives the same arrays
      const [mid, emb] = await lm.hiddenStates(ids, { layers: [2, 0] });
      expect(maxAbsDiff(mid!, ref.layers[2]!)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(emb!, ref.layers[0]!)).toBe(0);
      await lm.close();
    });
  }

  it('int8 (DynamicQuantizeMatMul) keeps pooled states at cosine >= 0.99 at every layer', async () => {
    const dirs = [path.join(root, 'int8-llama'), path.join(root, 'int8-qwen2'), ...(hasStories ? [fixture] : [])];
    writeTinyDecoder(dirs[0]!, { modelType: 'llama', hidden: 64, intermediate: 96, seed: 21 });
    writeTinyDecoder(dirs[1]!, { modelType: 'qwen2', hidden: 48, kvHeads: 1, seed: 22 });
    for (const dir of dirs) {
      const fp32 = await LanguageModel.load(dir, { blockSize: 2 });
      const int8 = await LanguageModel.load(dir, { blockSize: 2, precision: 'int8' });
      const inputs = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 3, 5, 7, 11], [40, 41]];
      for (let layer = 1; layer <= fp32.config.layers; layer++) {
        const a = await fp32.encode(inputs, { layer, normalize: true });
        const b = await int8.encode(inputs, { layer, normalize: true });
        a.forEach((v, i) => {
          const cos = v.reduce((s, x, j) => s + x * b[i]![j]!, 0);
          expect(cos, `${dir} layer ${layer} input ${i}`).toBeGreaterThanOrEqual(0.99);
        });
      }
      await fp32.close();
      await int8.close();
    }
    await expect(LanguageModel.load(dirs[0]!, { precision: 'int4' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('the one-graph baseline (one block of every layer) computes what the segments compute', async () => {
    const dir = path.join(root, 'whole');
    writeTinyDecoder(dir, { modelType: 'mistral', layers: 4, seed: 23 });
    const c = readConfig(dir) as DecoderConfig;
    const session = await ort.InferenceSession.create(blockGraph(c, decoderWeights(Safetensors.open(dir), c), 0, c.layers));
    const ids = [4, 8, 15, 16, 23, 42];
    const T = ids.length;
    const r = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, T]),
      attention_bias: new ort.Tensor('float32', attentionBias([T], T), [1, 1, T, T]),
    });
    const lm = await LanguageModel.load(dir, { blockSize: 2 });
    const [final] = await lm.hiddenStates(ids, { layers: ['final'] });
    expect(maxAbsDiff(r.final!.data as Float32Array, final!)).toBeLessThanOrEqual(1e-5);
    await lm.close();
    await session.release();
  });

  it('rejects bad token ids and layers', async () => {
    const dir = path.join(root, 'errors');
    writeTinyDecoder(dir);
    const lm = await LanguageModel.load(dir);
    for (const [ids, layers] of [
      [[1, 99999], [1]],
      [[1, -1], [1]],
      [[1.5], [1]],
      [[], [1]],
      [[1, 2], [7]],
      [[1, 2], [-1]],
    ] as [number[], number[]][]) {
      await expect(lm.hiddenStates(ids, { layers })).rejects.toBeInstanceOf(LmrecError);
    }
    await expect(LanguageModel.load(dir, { blockSize: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  describe.runIf(hasStories)(`stories260K (vs transformers)${storiesNote}`, () => {
    const ref = hasStories ? storiesReference() : (undefined as never);

    it.each([1, 2, 5])('blocks of %i: every layer within 1e-4, and the same 40 greedy tokens', async (blockSize) => {
      const lm = await LanguageModel.load(fixture, { blockSize, threads: 1 });
      const L = lm.config.layers;
      const got = await lm.hiddenStates(ref.input_ids, { layers: [0, 1, 2, 3, 4, 5, 'final'] });
      for (let l = 0; l < L; l++) expect(maxAbsDiff(got[l]!, ref.hidden_states[l]!.flat()), `layer ${l}`).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(got[L]!, ref.last_layer_prenorm.flat())).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(got[L + 1]!, ref.hidden_states[L]!.flat())).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(await lm.logits(ref.input_ids), ref.last_logits)).toBeLessThanOrEqual(1e-4);
      if (blockSize === 1) {
        const ids = [...ref.input_ids];
        for (let i = 0; i < ref.greedy_next_ids.length; i++) {
          const logits = await lm.logits(ids);
          let best = 0;
          for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
          ids.push(best);
        }
        expect(ids.slice(ref.input_ids.length)).toEqual(ref.greedy_next_ids);
      }
      await lm.close();
    });
  });
});
