import { mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LmrecError } from '../src/errors.js';
import { parseConfig, readConfig, type DecoderConfig } from '../src/lm/config.js';
import { decoderWeights } from '../src/lm/decoder-weights.js';
import { decoderForward } from './oracle/decoder.js';
import { Safetensors, writeSafetensors } from '../src/lm/safetensors.js';
import { writeTinyDecoder } from './helpers/tiny-models.js';

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-lm-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LmrecError);
    return (e as LmrecError).code;
  }
  throw new Error('expected an LmrecError');
}

describe('safetensors', () => {
  const values = Float32Array.from([0, 1, -2.5, 3.1415927, 1e-3, -65504, 7e-8, 123.456]);

  it('round-trips F32 exactly and F16/BF16 within their precision', () => {
    const dir = path.join(root, 'dtypes');
    writeSafetensors(`${dir}.safetensors`, [
      { name: 'a', shape: [2, 4], data: values },
      { name: 'b', shape: [8], data: values, dtype: 'F16' },
      { name: 'c', shape: [8], data: values, dtype: 'BF16' },
    ]);
    writeTinyDecoder(dir); // so open() finds a directory; then replace its weights file
    writeFileSync(path.join(dir, 'model.safetensors'), readFileSync(`${dir}.safetensors`));
    const st = Safetensors.open(dir);
    expect(st.names().sort()).toEqual(['a', 'b', 'c']);
    expect(Array.from(st.get('a', [2, 4]))).toEqual(Array.from(values));
    const b = st.get('b');
    const c = st.get('c');
    values.forEach((v, i) => {
      expect(Math.abs(b[i]! - v)).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -11, 2 ** -24));
      expect(Math.abs(c[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8);
    });
    expect(st.info('c')).toMatchObject({ dtype: 'BF16', shape: [8] });
  });

  it('reads sharded checkpoints', () => {
    const dir = path.join(root, 'sharded');
    writeTinyDecoder(dir);
    rmSync(path.join(dir, 'model.safetensors'));
    writeSafetensors(path.join(dir, 'a.safetensors'), [{ name: 'x', shape: [2], data: Float32Array.from([1, 2]) }]);
    writeSafetensors(path.join(dir, 'b.safetensors'), [{ name: 'y', shape: [1], data: Float32Array.from([3]) }]);
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: 'a.safetensors', y: 'b.safetensors' } }));
    const st = Safetensors.open(dir);
    expect(Array.from(st.get('x'))).toEqual([1, 2]);
    expect(Array.from(st.get('y'))).toEqual([3]);
  });

  it('names the problem in damaged checkpoints', () => {
    const dir = path.join(root, 'damaged');
    writeTinyDecoder(dir);
    const file = path.join(dir, 'model.safetensors');
    const good = readFileSync(file);
    expect(code(() => Safetensors.open(dir).get('nope'))).toBe('CORRUPT_FILE');
    expect(code(() => Safetensors.open(dir).get('model.norm.weight', [7]))).toBe('DIM_MISMATCH');
    truncateSync(file, statSync(file).size - 10);
    expect(code(() => Safetensors.open(dir))).toBe('TRUNCATED_FILE');
    truncateSync(file, 5);
    expect(code(() => Safetensors.open(dir))).toBe('TRUNCATED_FILE');
    const garbage = Buffer.from(good);
    garbage.write('not json', 8);
    writeFileSync(file, garbage);
    expect(code(() => Safetensors.open(dir))).toBe('CORRUPT_FILE');
    writeSafetensors(file, [{ name: 'x', shape: [1], data: new Float32Array(1) }]);
    const i64 = readFileSync(file).toString('latin1').replace('"F32"', '"I32"');
    writeFileSync(file, Buffer.from(i64, 'latin1'));
    expect(code(() => Safetensors.open(dir))).toBe('UNSUPPORTED');
    rmSync(file);
    expect(code(() => Safetensors.open(dir))).toBe('IO_ERROR');
  });
});

describe('config.json', () => {
  it('rejects unsupported architectures and features by name', () => {
    expect(code(() => parseConfig({ model_type: 'gpt2' }))).toBe('UNSUPPORTED');
    const llama = { model_type: 'llama', hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 4 };
    expect(parseConfig(llama)).toMatchObject({ kvHeads: 2, headDim: 4, ropeTheta: 10000, qkvBias: false });
    expect(parseConfig({ ...llama, model_type: 'qwen2' })).toMatchObject({ qkvBias: true });
    expect(code(() => parseConfig({ ...llama, rope_scaling: { rope_type: 'llama3' } }))).toBe('UNSUPPORTED');
    expect(code(() => parseConfig({ ...llama, hidden_act: 'gelu' }))).toBe('UNSUPPORTED');
    expect(code(() => parseConfig({ ...llama, hidden_size: -1 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => parseConfig({ ...llama, num_key_value_heads: 3 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => readConfig(path.join(root, 'missing')))).toBe('IO_ERROR');
  });

  it('loads a missing lm_head of an untied model as an error', () => {
    const dir = path.join(root, 'untied');
    writeTinyDecoder(dir, { tied: true });
    const cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, tie_word_embeddings: false }));
    expect(code(() => decoderWeights(Safetensors.open(dir), readConfig(dir) as DecoderConfig))).toBe('CORRUPT_FILE');
  });
});

describe('reference decoder', () => {
  it('runs Qwen2-style biases and bf16 weights', () => {
    const dir = path.join(root, 'qwen');
    writeTinyDecoder(dir, { modelType: 'qwen2', dtype: 'BF16' });
    const c = readConfig(dir) as DecoderConfig;
    const out = decoderForward(c, decoderWeights(Safetensors.open(dir), c), [3, 1, 4, 1, 5]);
    expect(out.layers).toHaveLength(c.layers + 1);
    expect(out.final.every(Number.isFinite)).toBe(true);
  });

  it('segment-local attention with restarted positions equals running segments alone', () => {
    // the property late interaction relies on
    const dir = path.join(root, 'segments');
    writeTinyDecoder(dir, { seed: 3 });
    const c = readConfig(dir) as DecoderConfig;
    const w = decoderWeights(Safetensors.open(dir), c);
    const a = [5, 9, 2];
    const b = [7, 7, 1, 30];
    const seg = [0, 0, 0, 1, 1, 1, 1];
    const joint = decoderForward(c, w, [...a, ...b], {
      positions: [0, 1, 2, 0, 1, 2, 3],
      allowed: (t, s) => s <= t && seg[s] === seg[t],
    });
    const alone = decoderForward(c, w, b);
    const H = c.hidden;
    const last = joint.layers[c.layers]!.subarray(3 * H);
    alone.layers[c.layers]!.forEach((v, i) => expect(Math.abs(v - last[i]!)).toBeLessThan(1e-5));
  });
});
