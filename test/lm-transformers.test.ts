/**
 * lmrec against an oracle it did not write: tiny random models made by the transformers
 * library (bench/crosscheck/make_reference.py --tiny) with their hidden states, committed under
 * test/fixtures/transformers. Both the ONNX graphs and the test oracle must match them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig, type EncoderConfig, type ModelConfig } from '../src/lm/config.js';
import { decoderWeights } from '../src/lm/decoder-weights.js';
import { encoderWeights } from '../src/lm/encoder-weights.js';
import { LanguageModel, type LayerRef } from '../src/lm/language-model.js';
import { Safetensors } from '../src/lm/safetensors.js';
import { maxAbsDiff } from './helpers/compare.js';
import { decoderForward, lastLogits } from './oracle/decoder.js';
import { encoderForward } from './oracle/encoder.js';

interface TransformersReference {
  transformers: string;
  input_ids: number[];
  /** [0] embeddings, [l] layer l; for decoders the last entry is after the final norm */
  hidden_states: number[][][];
  /** decoders: the last layer before the final norm */
  last_layer_prenorm?: number[][];
  /** decoders: logits at the last position */
  last_logits?: number[];
}

const fixtures = path.resolve(__dirname, 'fixtures/transformers');
const TOLERANCE = 1e-4;

/** What transformers says each of lmrec's layers is: 0..L, then 'final' (bench/crosscheck/compare.ts maps them the same way). */
function expected(c: ModelConfig, ref: TransformersReference): Float32Array[] {
  const L = c.layers;
  const rows = (m: number[][]) => Float32Array.from(m.flat());
  const layers = ref.hidden_states.slice(0, L).map(rows);
  layers.push(rows(c.family === 'decoder' ? ref.last_layer_prenorm! : ref.hidden_states[L]!));
  layers.push(rows(ref.hidden_states[L]!));
  return layers;
}

function meanPool(states: Float32Array, H: number): Float32Array {
  const T = states.length / H;
  const v = new Float32Array(H);
  for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) v[h] = v[h]! + states[t * H + h]! / T;
  return v;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! ** 2;
    bb += b[i]! ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

describe.each(['qwen2', 'llama-bf16', 'bert'])('%s made by transformers', (name) => {
  const dir = path.join(fixtures, name);
  const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as TransformersReference;
  const c = readConfig(dir);
  const want = expected(c, ref);
  const refs: LayerRef[] = [...Array.from({ length: c.layers + 1 }, (_, l) => l), 'final'];
  const label = (i: number) => String(refs[i]);
  let fp32: LanguageModel;
  let int8: LanguageModel;

  beforeAll(async () => {
    fp32 = await LanguageModel.load(dir, { blockSize: 2, cacheDir: false });
    int8 = await LanguageModel.load(dir, { blockSize: 2, cacheDir: false, precision: 'int8' });
  });
  afterAll(async () => {
    await fp32.close();
    await int8.close();
  });

  it(`the ONNX graphs match every layer, 'final' and the logits within ${TOLERANCE}`, async () => {
    const got = await fp32.hiddenStates(ref.input_ids, { layers: refs });
    got.forEach((states, i) => expect(maxAbsDiff(states, want[i]!), `layer ${label(i)}`).toBeLessThanOrEqual(TOLERANCE));
    if (c.family === 'decoder') expect(maxAbsDiff(await fp32.logits(ref.input_ids), ref.last_logits!)).toBeLessThanOrEqual(TOLERANCE);
  });

  it(`the test oracle matches every layer, 'final' and the logits within ${TOLERANCE}`, () => {
    const st = Safetensors.open(dir);
    let out;
    if (c.family === 'decoder') {
      const w = decoderWeights(st, c);
      out = decoderForward(c, w, ref.input_ids);
      expect(maxAbsDiff(lastLogits(c, w, out), ref.last_logits!)).toBeLessThanOrEqual(TOLERANCE);
    } else {
      out = encoderForward(c, encoderWeights(st, c), ref.input_ids);
    }
    [...out.layers, out.final].forEach((states, i) => expect(maxAbsDiff(states, want[i]!), `layer ${label(i)}`).toBeLessThanOrEqual(TOLERANCE));
  });

  // int8 rounds each weight to 1/254 of its output channel's range and each product's input
  // to 1/255 of the tensor's range. Here that leaves the pooled states 1-1.5% off in norm,
  // and 1 - cosine is about half the square of that: 0.9999 measured. 0.999 allows 4.5%, 3x
  // the measured error, while a wrong graph fails it: the states of the layer before (a layer
  // skipped) have cosine 0.32-0.94 with these.
  it('int8 keeps the mean-pooled states of every layer at cosine >= 0.999', async () => {
    for (let i = 1; i < refs.length; i++) {
      const [v] = await int8.encode([ref.input_ids], { layer: refs[i] });
      expect(cosine(v!, meanPool(want[i]!, c.hidden)), `layer ${label(i)}`).toBeGreaterThanOrEqual(0.999);
    }
    // embeddings are a lookup, not a product: exact
    const [embeddings] = await int8.hiddenStates(ref.input_ids, { layers: [0] });
    expect(maxAbsDiff(embeddings!, want[0]!)).toBeLessThanOrEqual(TOLERANCE);
  });

  // encoders only (a decoder refuses 'cls', tested in lm-api)
  if (c.family === 'encoder') it("'cls' pooling is transformers' first-token state", async () => {
    const H = c.hidden;
    for (const layer of [1, 'final'] as const) {
      const [cls] = await fp32.encode([ref.input_ids], { layer, pooling: 'cls' });
      const states = want[layer === 'final' ? c.layers + 1 : layer]!;
      expect(maxAbsDiff(cls!, states.subarray(0, H)), `layer ${layer}`).toBeLessThanOrEqual(TOLERANCE);
    }
    // in a batch, with padding after the shorter input
    const short = ref.input_ids.slice(0, 5);
    const [, batched] = await fp32.encode([ref.input_ids, short], { pooling: 'cls' });
    const e = c as EncoderConfig;
    const oracle = encoderForward(e, encoderWeights(Safetensors.open(dir), e), short).final;
    expect(maxAbsDiff(batched!, oracle.subarray(0, H))).toBeLessThanOrEqual(TOLERANCE);
  });
});
