/**
 * npm run bench:train [-- --quick] [-- --no-quality]   (about 15 minutes; --no-quality: 2)
 *
 * lmrec's own LM training. Throughput: tokens/s of one training step (forward, backward,
 * clipping, AdamW) of a 4-layer, 256-wide Llama-style decoder (vocab 4096, SwiGLU 704, 16
 * sequences of 128 tokens) on the machine's threads, against PyTorch running the same model,
 * batch and threads (bench/train_torch.py with Debian's python3-torch on OpenBLAS; skipped with
 * the reason when it is not installed). Quality, on the synthetic catalog: the item head of a
 * model pretrained from the bundled default against the SRM's test NDCG@10 on the same split,
 * held-out perplexity against a unigram model's, and a 2-layer student distilled from an
 * 8-layer, 128-wide teacher trained from scratch (quality kept, encode speed-up). Writes bench/results/train.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectInteractions } from '../src/data/interactions.js';
import { writeSynthetic } from '../src/data/synthetic.js';
import { evaluate, leaveOneOut } from '../src/eval/leave-one-out.js';
import { native } from '../src/addon/loader.js';
import { distill } from '../src/pretrain/distill.js';
import { pretrain } from '../src/pretrain/pretrain.js';
import { SequentialRecommender } from '../src/srm/sequential-recommender.js';
import { Random } from '../src/util/random.js';
import { printTable, writeJson } from './measure.js';

const QUICK = process.argv.includes('--quick');
const QUALITY = !process.argv.includes('--no-quality');
const THREADS = native.hardwareThreads();
const here = path.dirname(fileURLToPath(import.meta.url));
const MODEL = { vocab: 4096, dim: 256, layers: 4, heads: 8, kvHeads: 8, ffn: 704, seqLen: 128, seqs: 16 };
const STEPS = QUICK ? 3 : 8;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function lmrecThroughput(kvHeads: number): Promise<{ tokensPerSecond: number; stepSeconds: number[] }> {
  const t = new native.NativeLmTrainer({ ...MODEL, kvHeads, maxPositions: 512, seed: 1 });
  const rng = new Random(1);
  const n = MODEL.seqs * (MODEL.seqLen + 1);
  const tokens = Int32Array.from({ length: n }, () => rng.int(MODEL.vocab));
  const offsets = Float64Array.from({ length: MODEL.seqs + 1 }, (_, i) => i * (MODEL.seqLen + 1));
  // seqLen + 1 tokens a sequence: seqLen predictions each, as PyTorch's shifted targets.
  t.setCorpus({ tokens, offsets }, { batchTokens: n, context: MODEL.seqLen + 1, totalSteps: 1000, threads: THREADS }, false);
  await t.train(2);
  const times: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    await t.train(1);
    times.push((performance.now() - t0) / 1000);
  }
  t.close();
  return { tokensPerSecond: (MODEL.seqs * MODEL.seqLen) / median(times), stepSeconds: times };
}

/**
 * PyTorch's best of two thread layouts: OpenBLAS with the machine's threads, or single-threaded
 * under PyTorch's own intra-op threads (the two can oversubscribe the cores, so either can win).
 */
function torchThroughput(kvHeads: number): { tokensPerSecond?: number; torch?: string; openblasThreads?: number; skipped?: string } {
  const python = process.env.LMREC_TORCH_PYTHON ?? '/usr/bin/python3';
  const config = JSON.stringify({ ...MODEL, kvHeads, threads: THREADS, steps: STEPS, warmup: 2 });
  let best: { tokensPerSecond: number; torch: string; openblasThreads: number } | undefined;
  for (const openblasThreads of [THREADS, 1]) {
    const env = { ...process.env, OMP_NUM_THREADS: String(THREADS), OPENBLAS_NUM_THREADS: String(openblasThreads) };
    const r = spawnSync(python, [path.join(here, 'train_torch.py'), config], { encoding: 'utf8', env });
    if (r.status !== 0) {
      return { skipped: `PyTorch did not run (${(r.stderr || String(r.error)).trim().split('\n').at(-1)}); apt-get install python3-torch libopenblas0-pthread` };
    }
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { tokensPerSecond: number; torch: string };
    if (!best || out.tokensPerSecond > best.tokensPerSecond) best = { ...out, openblasThreads };
  }
  return best!;
}

async function quality(dir: string): Promise<Record<string, unknown>> {
  const syn = writeSynthetic(dir, { items: QUICK ? 500 : 1000, users: QUICK ? 600 : 2000, seed: 7 });
  const items = path.join(dir, 'items.jsonl');
  const events = path.join(dir, 'events.jsonl');
  const data = await collectInteractions(syn.events);
  // The SRM on the same split (ids in catalog order, as pretrain reads them).
  const catalog = new Map(syn.items.map((it, i) => [it.id, i]));
  const seqs = data.sequences.map((s) => Int32Array.from(s, (i) => catalog.get(data.items.name(i))!));
  const split = leaveOneOut(seqs);
  const t0 = performance.now();
  const srm = await SequentialRecommender.fit(split.train, syn.items.length, { valid: split.valid, maxSeconds: QUICK ? 30 : 180, threads: THREADS });
  const srmTest = await evaluate(split.test, syn.items.length, srm.scorer(), [10]);
  const srmSeconds = (performance.now() - t0) / 1000;
  srm.close();
  const log = (what: string) => (p: { step: number; totalSteps: number; lmLoss: number; itemLoss: number }) => {
    if (p.step % 50 === 0) console.log(`${what}: step ${p.step}/${p.totalSteps} loss ${p.lmLoss.toFixed(3)} item ${p.itemLoss.toFixed(3)}`);
  };
  const pre = await pretrain({
    items, events, out: path.join(dir, 'lm'), model: 'default', template: '{title}', context: 192,
    epochs: QUICK ? 2 : 6, threads: THREADS, onProgress: log('pretrain'),
  });
  const teacher = await pretrain({
    items, events, out: path.join(dir, 'teacher'), template: '{title}', context: 192, vocabSize: 512,
    dim: 128, layers: 8, heads: 4, kvHeads: 2, ffn: 352, epochs: QUICK ? 2 : 6, threads: THREADS, onProgress: log('teacher'),
  });
  const student = await distill({
    teacher: path.join(dir, 'teacher'), items, events, out: path.join(dir, 'student'), layers: 2, blocks: 2,
    epochs: QUICK ? 2 : 6, threads: THREADS, onProgress: log('student'),
  });
  const ndcg = (m: Record<string, number> | undefined) => m?.['NDCG@10'] ?? NaN;
  return {
    srm: { testNdcg10: ndcg(srmTest), seconds: srmSeconds },
    pretrained: {
      testNdcg10: ndcg(pre.itemHead.test),
      ofSrm: ndcg(pre.itemHead.test) / ndcg(srmTest),
      perplexity: pre.validation.perplexity,
      unigramPerplexity: pre.validation.unigramPerplexity,
      perplexityRatio: pre.validation.perplexity / pre.validation.unigramPerplexity,
      seconds: pre.seconds,
      tokensPerSecond: pre.tokensPerSecond,
    },
    distillation: {
      teacherLayers: 8,
      studentLayers: 2,
      teacherTestNdcg10: ndcg(teacher.itemHead.test),
      studentTestNdcg10: ndcg(student.student.itemHead.test),
      kept: ndcg(student.student.itemHead.test) / ndcg(teacher.itemHead.test),
      encodeSpeedup: student.encode.speedup,
      teacherSeconds: teacher.seconds,
      studentSeconds: student.seconds,
    },
  };
}

const rows: Record<string, unknown>[] = [];
const results: Record<string, unknown> = { machine: { threads: THREADS }, model: MODEL, throughput: [] as unknown[] };
for (const kvHeads of [8, 4]) {
  const ours = await lmrecThroughput(kvHeads);
  const torch = torchThroughput(kvHeads);
  const row = {
    case: `4x256, kv ${kvHeads}`,
    threads: THREADS,
    'lmrec tok/s': ours.tokensPerSecond,
    'torch tok/s': torch.tokensPerSecond ?? NaN,
    'vs torch': torch.tokensPerSecond ? ours.tokensPerSecond / torch.tokensPerSecond : NaN,
  };
  rows.push(row);
  (results.throughput as unknown[]).push({ kvHeads, lmrec: ours, torch });
  if (torch.skipped) console.log(torch.skipped);
}
printTable(rows, ['case', 'threads', 'lmrec tok/s', 'torch tok/s', 'vs torch']);
const file = path.join(here, 'results', QUICK ? 'train-quick.json' : 'train.json');
if (QUALITY) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-bench-train-'));
  try {
    results.quality = await quality(dir);
    results.qualityDate = new Date().toISOString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(results.quality, null, 1));
} else if (existsSync(file)) {
  // --no-quality re-measures speed only: the last quality figures stay, with their date.
  const previous = JSON.parse(readFileSync(file, 'utf8')) as { quality?: unknown; qualityDate?: string; date?: string };
  if (previous.quality) Object.assign(results, { quality: previous.quality, qualityDate: previous.qualityDate ?? previous.date });
}
writeJson(file, { date: new Date().toISOString(), ...results });
console.log(`wrote bench/results/${QUICK ? 'train-quick.json' : 'train.json'}`);
