/**
 * npm run bench:lm [-- --quick]
 *
 * encode() throughput of the segmented ONNX runtime against onnxruntime-node running the same
 * model as one unsegmented graph, on random weights of a realistic shape (a Qwen2.5-0.5B-like
 * decoder; --quick: a 4-layer, 256-wide one). fp32 and int8, full depth and truncated to the
 * middle layer. Writes bench/results/lm.json and prints a table.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { readConfig, type DecoderConfig } from '../src/lm/config.js';
import { decoderWeights } from '../src/lm/decoder-weights.js';
import { attentionBias, LanguageModel, lmSessionOptions } from '../src/lm/language-model.js';
import { wholeGraph, type Precision } from '../src/lm/onnx/decoder-graphs.js';
import { Safetensors, writeSafetensors, type TensorToWrite } from '../src/lm/safetensors.js';
import { printTable, writeJson } from './measure.js';

const QUICK = process.argv.includes('--quick');
const shape = QUICK
  ? { name: 'decoder-4x256 (quick)', layers: 4, hidden: 256, heads: 8, kvHeads: 2, intermediate: 704, vocab: 4000 }
  : // Qwen2.5-0.5B's shape; the vocabulary is cut to 32k (encode never runs the head)
    { name: 'qwen2.5-0.5b-like', layers: 24, hidden: 896, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 32000 };
const BATCH = 4;
const TOKENS = QUICK ? 64 : 64;

/** Fast uniform weights with std `std` (speed only matters here, not the values). */
function randomTensor(n: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  const a = std * Math.sqrt(3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 4294967296 - 0.5) * 2 * a;
  }
  return out;
}

function writeModel(dir: string): void {
  const { layers, hidden: H, heads, kvHeads, intermediate: I, vocab } = shape;
  const hd = H / heads;
  let seed = 1;
  const t = (name: string, dims: number[], std = 0.02): TensorToWrite => ({
    name,
    shape: dims,
    data: std === 0 ? new Float32Array(dims[0]!).fill(1) : randomTensor(dims.reduce((x, y) => x * y, 1), std, seed++),
  });
  const tensors: TensorToWrite[] = [t('model.embed_tokens.weight', [vocab, H]), t('model.norm.weight', [H], 0)];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      t(`${p}input_layernorm.weight`, [H], 0),
      t(`${p}post_attention_layernorm.weight`, [H], 0),
      t(`${p}self_attn.q_proj.weight`, [heads * hd, H]),
      t(`${p}self_attn.q_proj.bias`, [heads * hd]),
      t(`${p}self_attn.k_proj.weight`, [kvHeads * hd, H]),
      t(`${p}self_attn.k_proj.bias`, [kvHeads * hd]),
      t(`${p}self_attn.v_proj.weight`, [kvHeads * hd, H]),
      t(`${p}self_attn.v_proj.bias`, [kvHeads * hd]),
      t(`${p}self_attn.o_proj.weight`, [H, heads * hd]),
      t(`${p}mlp.gate_proj.weight`, [I, H]),
      t(`${p}mlp.up_proj.weight`, [I, H]),
      t(`${p}mlp.down_proj.weight`, [H, I]),
    );
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      model_type: 'qwen2', hidden_size: H, intermediate_size: I, num_hidden_layers: layers, num_attention_heads: heads,
      num_key_value_heads: kvHeads, vocab_size: vocab, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true,
    }),
  );
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
}

interface Row {
  model: string;
  precision: Precision;
  block_size: number | 'whole';
  layers_run: number;
  tokens_per_s: number;
  baseline_tokens_per_s: number;
  vs_baseline: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-bench-lm-'));
  try {
    console.error(`writing ${shape.name} random weights...`);
    writeModel(dir);
    const c = readConfig(dir) as DecoderConfig;
    const inputs = Array.from({ length: BATCH }, (_, b) => Array.from({ length: TOKENS }, (_, t) => (b * 7919 + t * 104729) % c.vocab));
    const tokens = BATCH * TOKENS;
    // Every variant is loaded first and then run in interleaved rounds, so drift on a shared
    // machine hits all of them alike; each figure is the median over the rounds.
    const rounds = QUICK ? 5 : 5;
    interface Variant {
      precision: Precision;
      block_size: number | 'whole';
      layers_run: number;
      run: () => Promise<unknown>;
      times: number[];
    }
    const variants: Variant[] = [];
    const closers: (() => Promise<void>)[] = [];
    for (const precision of ['fp32', 'int8'] as Precision[]) {
      console.error(`${precision}: building graphs...`);
      const weights = decoderWeights(Safetensors.open(dir), c);
      const whole = await ort.InferenceSession.create(wholeGraph(c, weights, precision), lmSessionOptions());
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(inputs.flat().map(BigInt)), [BATCH, TOKENS]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(inputs.flat().map((_, i) => BigInt(i % TOKENS))), [BATCH, TOKENS]),
        attention_bias: new ort.Tensor('float32', attentionBias(inputs.map((s) => s.length), TOKENS), [BATCH, 1, TOKENS, TOKENS]),
      };
      variants.push({ precision, block_size: 'whole', layers_run: c.layers, run: () => whole.run(feeds), times: [] });
      closers.push(() => whole.release());
      for (const blockSize of [4, 1]) {
        const lm = await LanguageModel.load(dir, { precision, blockSize, cacheDir: false });
        closers.push(() => lm.release());
        for (const layer of blockSize === 4 ? [c.layers, c.layers / 2] : [c.layers]) {
          variants.push({ precision, block_size: blockSize, layers_run: layer, run: () => lm.encode(inputs, { layer: layer === c.layers ? 'final' : layer, batchSize: BATCH }), times: [] });
        }
      }
    }
    for (const v of variants) await v.run(); // warm-up
    for (let r = 0; r < rounds; r++) {
      console.error(`round ${r + 1}/${rounds}`);
      for (const v of variants) {
        const t0 = performance.now();
        await v.run();
        v.times.push(performance.now() - t0);
      }
    }
    await Promise.all(closers.map((close) => close()));
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    const rows: Row[] = variants.map((v) => {
      const tps = (tokens * 1000) / median(v.times);
      const base = variants.find((w) => w.precision === v.precision && w.block_size === 'whole')!;
      const baseline = (tokens * 1000) / median(base.times);
      return { model: shape.name, precision: v.precision, block_size: v.block_size, layers_run: v.layers_run, tokens_per_s: tps, baseline_tokens_per_s: baseline, vs_baseline: tps / baseline };
    });
    const here = path.dirname(fileURLToPath(import.meta.url));
    if (!QUICK) writeJson(path.join(here, 'results', 'lm.json'), rows);
    printTable(rows as unknown as Record<string, unknown>[], ['model', 'precision', 'block_size', 'layers_run', 'tokens_per_s', 'baseline_tokens_per_s', 'vs_baseline']);
    const get = (p: Precision, b: number | 'whole', l: number) => rows.find((r) => r.precision === p && r.block_size === b && r.layers_run === l)!;
    console.log(
      `\nsegmentation cost (blocks of 4, full depth): fp32 ${((1 - get('fp32', 4, c.layers).vs_baseline) * 100).toFixed(1)}%, int8 ${((1 - get('int8', 4, c.layers).vs_baseline) * 100).toFixed(1)}%` +
        `\nint8 / fp32 (segmented, full depth): ${(get('int8', 4, c.layers).tokens_per_s / get('fp32', 4, c.layers).tokens_per_s).toFixed(2)}x; one graph: ${(get('int8', 'whole', c.layers).tokens_per_s / get('fp32', 'whole', c.layers).tokens_per_s).toFixed(2)}x` +
        `\nmiddle layer / full depth: fp32 ${(get('fp32', 4, c.layers / 2).tokens_per_s / get('fp32', 4, c.layers).tokens_per_s).toFixed(2)}x, int8 ${(get('int8', 4, c.layers / 2).tokens_per_s / get('int8', 4, c.layers).tokens_per_s).toFixed(2)}x`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
