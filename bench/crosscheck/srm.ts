/**
 * npx tsx bench/crosscheck/srm.ts [--grad-only]
 *
 * Holds lmrec's native SRM against an independent PyTorch SASRec (srm_torch.py; needs python3
 * with torch, e.g. `pip install --no-deps <torch wheel>`):
 *  1. gradients: the same weights and sequences, lmrec's hand-written backward pass against
 *     PyTorch autograd in float64 (loss and every tensor's gradient);
 *  2. quality: both trained from scratch with the same recipe (full cross-entropy, Adam, early
 *     stopping on validation NDCG@10) on one synthetic log, then leave-one-out test metrics.
 * Writes bench/results/srm-crosscheck.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectInteractions, IdMap } from '../../src/data/interactions.js';
import { generateSynthetic } from '../../src/data/synthetic.js';
import { evaluate, leaveOneOut } from '../../src/eval/leave-one-out.js';
import { native } from '../../src/addon/loader.js';
import { SequentialRecommender } from '../../src/srm/sequential-recommender.js';
import { Random } from '../../src/util/random.js';
import { writeJson } from '../measure.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'lmrec-srm-xcheck-'));

function torch(mode: 'grad' | 'train', input: unknown): any {
  const src = path.join(work, `${mode}-in.json`);
  const dst = path.join(work, `${mode}-out.json`);
  writeFileSync(src, JSON.stringify(input));
  execFileSync('python3', [path.join(here, 'srm_torch.py'), mode, src, dst], { stdio: ['ignore', 'inherit', 'inherit'] });
  return JSON.parse(readFileSync(dst, 'utf8'));
}

function gradients(): Record<string, unknown> {
  const shape = { items: 20, dim: 8, blocks: 2, heads: 2, maxLen: 6 };
  const m = new native.NativeSrm({ ...shape, seed: 3 });
  const rng = new Random(7);
  const params = m.params();
  for (const t of m.layout())
    if (!t.name.startsWith('item') && !t.name.startsWith('pos') && t.rows === 1)
      for (let i = 0; i < t.cols; i++) params[t.offset + i] = (t.name.includes('gain') ? 1 : 0) + 0.3 * rng.normal();
  m.setParams(params);
  // lengths past maxLen + 1 make several windows per sequence
  const sequences = [2, 5, 7, 9, 16, 3].map((n) => Array.from({ length: n }, () => rng.int(shape.items)));
  const flat = Int32Array.from(sequences.flat());
  const offsets = Float64Array.from([0, ...sequences.map((_, i) => sequences.slice(0, i + 1).flat().length)]);
  const mine = m.lossAndGradients(flat, offsets, { loss: 'full', dropout: 0 }, 1);
  const ref = torch('grad', { shape, layout: m.layout(), params: Array.from(params), sequences });
  const perTensor: Record<string, number> = {};
  let worst = 0;
  // Relative to the tensor's largest gradient, floored at 1e-3 of the largest of all: the key
  // bias's gradient is zero in exact arithmetic (it shifts every score of a row equally).
  const all = Math.max(...Object.values(ref.gradients as Record<string, number[]>).flat().map(Math.abs));
  for (const t of m.layout()) {
    const g = ref.gradients[t.name] as number[];
    const scale = Math.max(1e-3 * all, ...g.map(Math.abs));
    let diff = 0;
    g.forEach((v, i) => (diff = Math.max(diff, Math.abs(mine.gradients[t.offset + i]! - v))));
    perTensor[t.name] = diff / scale;
    worst = Math.max(worst, diff / scale);
  }
  const out = { loss_lmrec: mine.loss, loss_torch: ref.loss, loss_abs_diff: Math.abs(mine.loss - ref.loss), worst_relative_gradient_diff: worst, per_tensor: perTensor };
  console.log(`gradients: loss ${mine.loss.toFixed(6)} vs torch ${ref.loss.toFixed(6)}; worst gradient difference ${worst.toExponential(2)} of the tensor's largest`);
  return out;
}

async function quality(): Promise<Record<string, unknown>> {
  const syn = generateSynthetic({ items: 2000, users: 3000, seed: 3 });
  const ids = new IdMap();
  syn.items.forEach((it) => ids.add(it.id));
  const data = await collectInteractions(syn.events, { items: ids });
  const split = leaveOneOut(data.sequences);
  const shape = { items: ids.size, dim: 64, blocks: 2, heads: 1, maxLen: 50 };
  const train = { dropout: 0.2, lr: 1e-3, batchSize: 128, epochs: 100, patience: 5 };
  const t0 = performance.now();
  const srm = await SequentialRecommender.fit(split.train, ids.size, { ...shape, ...train, loss: 'full', valid: split.valid, seed: 1 });
  const lmrecSeconds = (performance.now() - t0) / 1000;
  const lmrec = await evaluate(split.test, ids.size, srm.scorer());
  const t1 = performance.now();
  const ref = torch('train', {
    shape,
    train,
    threads: native.hardwareThreads(),
    train_sequences: split.train.map((s) => Array.from(s)),
    valid: split.valid.map((s) => ({ history: Array.from(s.history), target: s.target })),
    test: split.test.map((s) => ({ history: Array.from(s.history), target: s.target })),
  });
  const torchSeconds = (performance.now() - t1) / 1000;
  const row = (name: string, m: Record<string, number>, epochs: number, seconds: number) =>
    console.log(`${name.padEnd(8)} HR@10 ${m['HR@10']!.toFixed(4)}  NDCG@10 ${m['NDCG@10']!.toFixed(4)}  MRR ${m.MRR!.toFixed(4)}  (${epochs} epochs, ${seconds.toFixed(0)} s)`);
  row('lmrec', lmrec, srm.history.length, lmrecSeconds);
  row('pytorch', ref.test, ref.history.length, torchSeconds);
  return {
    data: { items: ids.size, users: data.users.size, events: data.events },
    shape,
    train,
    lmrec: { test: lmrec, epochs: srm.history.length, seconds: lmrecSeconds },
    pytorch: { test: ref.test, epochs: ref.history.length, seconds: torchSeconds },
  };
}

try {
  const result: Record<string, unknown> = { date: new Date().toISOString(), gradients: gradients() };
  if (!process.argv.includes('--grad-only')) result.quality = await quality();
  writeJson(path.join(here, '..', 'results', 'srm-crosscheck.json'), result);
} finally {
  rmSync(work, { recursive: true, force: true });
}
