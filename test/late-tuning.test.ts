/**
 * Tuning a model for late interaction and serving it: pretrain with segment-local bottom layers
 * (frozen, so cached states stay valid) continues a full-attention model on its own catalog
 * (item head kept, template inherited, localLayers recorded); the serving path (LmRanker:
 * historySegments → LateInteraction with the segment cache → ItemHead) gives the native trainer's
 * item scores with the same segment-local layers, and measurably not the full-attention ones.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LmRanker } from '../src/late.js';
import { pretrain, type PretrainOptions } from '../src/train.js';
import { ItemHead } from '../src/lm/item-head.js';
import { SegmentCache } from '../src/lm/segment-cache.js';
import { tokenizerFromJson } from '../src/lm/tokenizer.js';
import { native } from '../src/addon/loader.js';
import { historyCorpus, historySegments } from '../src/pretrain/behaviour-corpus.js';
import { behaviourEncoder, readBehaviour } from '../src/pretrain/behaviour-data.js';
import { fillParams, importModel } from '../src/pretrain/hf-model.js';
import { writeSynthetic } from '../src/tools.js';
import { rejection } from './helpers/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-late-tuning-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeSynthetic(path.join(dir, 'data'), { items: 100, users: 80, eventsPerUser: [4, 9], seed: 4 });
const items = path.join(dir, 'data', 'items.jsonl');
const events = path.join(dir, 'data', 'events.jsonl');
const full = path.join(dir, 'full');
const tuned = path.join(dir, 'tuned');
const tiny: Partial<PretrainOptions> = { dim: 32, layers: 4, heads: 2, kvHeads: 1, ffn: 64, vocabSize: 300, context: 96, batchTokens: 1024, threads: 2 };

beforeAll(async () => {
  await pretrain({ ...tiny, items, events, out: full, template: '{title}', steps: 40, lr: 1e-2 });
  await pretrain({ items, events, out: tuned, model: full, localLayers: 2, freezeLayers: 2, steps: 20, lr: 1e-2, threads: 2 });
}, 120_000);

describe('tuning for late interaction', () => {
  it('continues the model on its catalog: head kept, template inherited, cached layers frozen, split recorded', async () => {
    const a = importModel(full);
    const b = importModel(tuned);
    expect(b.info?.localLayers).toBe(2);
    expect(b.info?.template).toBe('{title}');
    expect(b.info?.context).toBe(96);
    for (const name of ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.1.mlp.down_proj.weight']) {
      expect(b.tensors.get(name)).toEqual(a.tensors.get(name));
    }
    expect(b.tensors.get('model.layers.3.mlp.down_proj.weight')).not.toEqual(a.tensors.get('model.layers.3.mlp.down_proj.weight'));
    // The head went on from the full model's: a run that barely moves leaves it where it was.
    const still = path.join(dir, 'still');
    await pretrain({ items, events, out: still, model: full, steps: 1, lr: 1e-12, threads: 2 });
    const head = importModel(still).tensors.get('item_head.weight')!;
    const before = a.tensors.get('item_head.weight')!;
    expect(Math.max(...head.map((x, i) => Math.abs(x - before[i]!)))).toBeLessThan(1e-6);
  });

  it('serving (LmRanker: segments, cache, top layers, item head) gives the native segment-local item scores', async () => {
    const m = importModel(tuned);
    const data = await readBehaviour(items, events, m.info!.template);
    const tokenizer = tokenizerFromJson(JSON.parse(m.tokenizer['tokenizer.json']) as object, JSON.parse(m.tokenizer['tokenizer_config.json']) as object, tuned);
    const encoder = behaviourEncoder(data, tokenizer, { bos: m.bos, eos: m.eos, context: m.info!.context!, separator: m.info!.separator });
    const histories = data.split.test.slice(0, 6).map((s) => s.history);
    const trainer = new native.NativeLmTrainer(m.shape);
    const cache = new SegmentCache({ budgetBytes: 2 ** 22, storage: 'f32' });
    const ranker = await LmRanker.load(tuned, data.records, { cache, threads: 1 });
    try {
      trainer.setParams(fillParams(trainer, m.tensors, trainer.params()));
      const corpus = historyCorpus(histories, encoder);
      const local = await trainer.itemScores(corpus, { localLayers: 2, threads: 1 });
      const global = await trainer.itemScores(corpus, { localLayers: 0, threads: 1 });
      expect(ranker.items).toEqual(m.info!.items);
      expect(historySegments(histories[0]!, encoder)).toHaveLength(histories[0]!.length);
      const I = ranker.items.length;
      let worst = 0;
      let apart = 0;
      for (const [u, h] of histories.entries()) {
        const scores = await ranker.scores(Array.from(h, (i) => data.catalog.name(i)));
        for (let i = 0; i < I; i++) {
          worst = Math.max(worst, Math.abs(scores[i]! - local[u * I + i]!));
          apart = Math.max(apart, Math.abs(scores[i]! - global[u * I + i]!));
        }
      }
      expect(worst).toBeLessThan(1e-3);
      expect(apart).toBeGreaterThan(100 * worst); // full attention reads differently: the check has teeth
      expect(cache.stats.hits).toBeGreaterThan(0); // items recur across users
    } finally {
      trainer.close();
      await ranker.close();
      cache.close();
    }
  });

  it('ItemHead: a model without one is UNSUPPORTED, a head that disagrees with lmrec.json CORRUPT_FILE', async () => {
    await expect(ItemHead.load(path.join(dir, 'data'))).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    const info = JSON.parse(readFileSync(path.join(tuned, 'lmrec.json'), 'utf8')) as { items: string[] };
    writeFileSync(path.join(tuned, 'lmrec.json'), JSON.stringify({ ...info, items: info.items.slice(1) }));
    await expect(ItemHead.load(tuned)).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
    writeFileSync(path.join(tuned, 'lmrec.json'), '{not json');
    await expect(ItemHead.load(tuned)).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
    const head = await ItemHead.load(full);
    expect(() => head.scores(new Float32Array(5))).toThrowError(expect.objectContaining({ code: 'DIM_MISMATCH' }));
    // some rows, in a given order, for two states: those rows of the full scoring
    const states = Float32Array.from({ length: 2 * head.dim }, (_, i) => Math.sin(i));
    const all = head.scores(states, 2);
    const rows = [3, 0, head.items.length - 1, 3];
    const some = head.scores(states, 2, rows);
    for (let r = 0; r < 2; r++) rows.forEach((row, j) => expect(some[r * rows.length + j]).toBeCloseTo(all[r * head.items.length + row]!, 4));
    expect(() => head.scores(states, 2, [head.items.length])).toThrowError(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    const trainer = new native.NativeLmTrainer(importModel(full).shape);
    try {
      expect((await rejection(trainer.itemScores({ tokens: new Int32Array([1, 2]), offsets: new Float64Array([0, 2]) }, { localLayers: 9 }))).code).toBe('INVALID_ARGUMENT');
    } finally {
      trainer.close();
    }
  });
});
