/**
 * npm run bench:lm [-- --quick]
 *
 * encode() throughput of the segmented ONNX runtime against onnxruntime-node running the same
 * model as one unsegmented graph, on random weights of realistic shapes: a Qwen2.5-0.5B-like
 * decoder and a 6-layer, 384-wide BERT (--quick: a 4-layer, 256-wide decoder and a 4-layer
 * BERT). fp32 and int8, full depth and truncated to the middle layer. Writes
 * bench/results/lm.json and prints a table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { writeDecoderCheckpoint, writeEncoderCheckpoint } from '../src/lm/checkpoint-writer.js';
import { readConfig, type DecoderConfig, type EncoderConfig } from '../src/lm/config.js';
import { decoderWeights } from '../src/lm/decoder-weights.js';
import { encoderWeights } from '../src/lm/encoder-weights.js';
import { attentionBias, LanguageModel, lmSessionOptions } from '../src/lm/language-model.js';
import { blockGraph } from '../src/lm/onnx/decoder-graphs.js';
import type { Precision } from '../src/lm/onnx/ops.js';
import { encoderBlockGraph } from '../src/lm/onnx/encoder-graphs.js';
import { Safetensors } from '../src/lm/safetensors.js';
import { printTable, writeJson } from './measure.js';
import { initSource } from './random-weights.js';

const QUICK = process.argv.includes('--quick');
const DECODER = QUICK
  ? { name: 'decoder-4x256 (quick)', layers: 4, hidden: 256, heads: 8, kvHeads: 2, intermediate: 704, vocab: 4000 }
  : // Qwen2.5-0.5B's shape; the vocabulary is cut to 32k (encode never runs the head)
    { name: 'qwen2.5-0.5b-like', layers: 24, hidden: 896, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 32000 };
// all-MiniLM-L6's shape (BERT, 6 layers, 384 wide)
const ENCODER = QUICK
  ? { name: 'bert-4x128 (quick)', layers: 4, hidden: 128, heads: 4, intermediate: 512, vocab: 4000, maxPositions: 512 }
  : { name: 'bert-6x384', layers: 6, hidden: 384, heads: 12, intermediate: 1536, vocab: 30522, maxPositions: 512 };
const BATCH = 4;
const TOKENS = 64;

function writeDecoder(dir: string): void {
  const { layers, hidden, heads, kvHeads, intermediate, vocab } = DECODER;
  const config: DecoderConfig = {
    family: 'decoder', modelType: 'qwen2', hidden, intermediate, layers, heads, kvHeads, headDim: hidden / heads, vocab,
    eps: 1e-6, ropeTheta: 1000000, tiedEmbeddings: true, qkvBias: true, maxPositions: 32768,
  };
  writeDecoderCheckpoint(dir, config, initSource());
}

function writeEncoder(dir: string): void {
  const { layers, hidden, heads, intermediate, vocab, maxPositions } = ENCODER;
  const config: EncoderConfig = {
    family: 'encoder', modelType: 'bert', hidden, intermediate, layers, heads, vocab, maxPositions, typeVocab: 2, eps: 1e-12, act: 'gelu',
  };
  writeEncoderCheckpoint(dir, config, initSource());
}

interface Row {
  model: string;
  precision: Precision;
  block_size: number | 'whole' | `${number}+arena`;
  layers_run: number;
  tokens_per_s: number;
  baseline_tokens_per_s: number;
  vs_baseline: number;
}

/** Runs every variant of one model; `blockSize` divides the depth so the middle layer ends a block. */
async function benchModel(name: string, write: (dir: string) => void, blockSize: number): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-bench-lm-'));
  try {
    console.error(`writing ${name} random weights...`);
    write(dir);
    const c = readConfig(dir);
    const inputs = Array.from({ length: BATCH }, (_, b) => Array.from({ length: TOKENS }, (_, t) => (b * 7919 + t * 104729) % c.vocab));
    const tokens = BATCH * TOKENS;
    // Every variant is loaded first and then run in interleaved rounds, so drift on a shared
    // machine hits all of them alike; each figure is the median over the rounds.
    const rounds = 9;
    interface Variant {
      precision: Precision;
      /** 'whole' = one bare graph; 'N+arena' = blocks of N with onnxruntime's memory arena kept. */
      block_size: number | 'whole' | `${number}+arena`;
      layers_run: number;
      run: () => Promise<unknown>;
      times: number[];
    }
    const variants: Variant[] = [];
    const closers: (() => Promise<void>)[] = [];
    for (const precision of ['fp32', 'int8'] as Precision[]) {
      console.error(`${name} ${precision}: building graphs...`);
      const graph =
        c.family === 'decoder'
          ? blockGraph(c, decoderWeights(Safetensors.open(dir), c), 0, c.layers, precision)
          : encoderBlockGraph(c, encoderWeights(Safetensors.open(dir), c), 0, c.layers, precision);
      const whole = await ort.InferenceSession.create(graph, lmSessionOptions());
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(inputs.flat().map(BigInt)), [BATCH, TOKENS]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(inputs.flat().map((_, i) => BigInt(i % TOKENS))), [BATCH, TOKENS]),
        attention_bias: new ort.Tensor('float32', attentionBias(inputs.map((s) => s.length), TOKENS, c.family === 'decoder'), [BATCH, 1, TOKENS, TOKENS]),
      };
      variants.push({ precision, block_size: 'whole', layers_run: c.layers, run: () => whole.run(feeds, [c.family === 'decoder' ? 'final' : `hidden_${c.layers}`]), times: [] });
      closers.push(() => whole.release());
      // blocks of `layers`: the unsegmented graph driven by encode (the JS work included), so
      // the difference to blocks of `blockSize` is what segmentation alone costs
      for (const size of new Set([blockSize, 1, c.layers])) {
        const lm = await LanguageModel.load(dir, { precision, blockSize: size, cacheDir: false });
        closers.push(() => lm.close());
        for (const layer of size === blockSize ? [c.layers, c.layers / 2] : [c.layers]) {
          variants.push({ precision, block_size: size, layers_run: layer, run: () => lm.encode(inputs, { layer: layer === c.layers ? 'final' : layer, batchSize: BATCH }), times: [] });
        }
      }
      // int8 blocks with the arena kept: what running without it costs (int8 only: one more
      // fp32 copy of the large model would not fit in this machine's memory beside the others)
      if (precision === 'int8') {
        const arena = await LanguageModel.load(dir, { precision, blockSize, cacheDir: false, memoryArena: true });
        closers.push(() => arena.close());
        variants.push({ precision, block_size: `${blockSize}+arena`, layers_run: c.layers, run: () => arena.encode(inputs, { batchSize: BATCH }), times: [] });
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
      return { model: name, precision: v.precision, block_size: v.block_size, layers_run: v.layers_run, tokens_per_s: tps, baseline_tokens_per_s: baseline, vs_baseline: tps / baseline };
    });
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows = [
    ...(await benchModel(DECODER.name, writeDecoder, 4)),
    ...(await benchModel(ENCODER.name, writeEncoder, ENCODER.layers / 2)),
  ];
  const here = path.dirname(fileURLToPath(import.meta.url));
  if (!QUICK) writeJson(path.join(here, 'results', 'lm.json'), rows);
  printTable(rows as unknown as Record<string, unknown>[], ['model', 'precision', 'block_size', 'layers_run', 'tokens_per_s', 'baseline_tokens_per_s', 'vs_baseline']);
  for (const model of [DECODER.name, ENCODER.name]) {
    const mine = rows.filter((r) => r.model === model);
    const full = Math.max(...mine.map((r) => r.layers_run));
    const blocks = mine.find((r) => typeof r.block_size === 'number' && r.block_size > 1)!.block_size as number;
    const get = (p: Precision, b: Row['block_size'], l: number) => mine.find((r) => r.precision === p && r.block_size === b && r.layers_run === l)!;
    console.log(
      `\n${model}: segmentation cost (blocks of ${blocks}, full depth): fp32 ${((1 - get('fp32', blocks, full).vs_baseline) * 100).toFixed(1)}%, int8 ${((1 - get('int8', blocks, full).vs_baseline) * 100).toFixed(1)}%` +
        ` (against one block through encode: fp32 ${((1 - get('fp32', blocks, full).tokens_per_s / get('fp32', full, full).tokens_per_s) * 100).toFixed(1)}%, int8 ${((1 - get('int8', blocks, full).tokens_per_s / get('int8', full, full).tokens_per_s) * 100).toFixed(1)}%)` +
        `; int8 / fp32: ${(get('int8', blocks, full).tokens_per_s / get('fp32', blocks, full).tokens_per_s).toFixed(2)}x (one graph ${(get('int8', 'whole', full).tokens_per_s / get('fp32', 'whole', full).tokens_per_s).toFixed(2)}x)` +
        `; middle layer / full depth: fp32 ${(get('fp32', blocks, full / 2).tokens_per_s / get('fp32', blocks, full).tokens_per_s).toFixed(2)}x, int8 ${(get('int8', blocks, full / 2).tokens_per_s / get('int8', blocks, full).tokens_per_s).toFixed(2)}x` +
        `; int8 blocks without the memory arena / with it: ${(get('int8', blocks, full).tokens_per_s / get('int8', `${blocks}+arena`, full).tokens_per_s).toFixed(2)}x`,
    );
  }
}

await main();
