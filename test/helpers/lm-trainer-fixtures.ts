/**
 * Tiny decoder shapes and corpora for test/lm-trainer.test.ts, deterministic in their seeds.
 * Kept apart so the child process of the kill -9 test builds exactly the same corpus.
 */
import type { NativeLlamaShape, NativeLmCorpus, NativeLmTrainOptions } from '../../src/addon/lm-trainer.js';
import { Random } from '../../src/util/random.js';

/** GQA (4 query heads over 2 key/value heads), an item head and one auxiliary head. */
export const TINY: NativeLlamaShape = {
  vocab: 17,
  dim: 16,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  ffn: 24,
  maxPositions: 32,
  items: 5,
  auxHeads: 1,
  tied: true,
};

/**
 * Sequences of the given lengths with an event every 2-4 tokens (the last event of a sequence
 * ends at its last token and predicts nothing), and, with `teacherPoints`, random teacher states.
 */
export function tinyCorpus(
  seed: number,
  lengths: number[],
  shape: NativeLlamaShape = TINY,
  teacherPoints = 0,
): NativeLmCorpus {
  const rng = new Random(seed);
  const tokens: number[] = [];
  const offsets = [0];
  const eventEnds: number[] = [];
  const nextItems: number[] = [];
  for (const n of lengths) {
    const start = tokens.length;
    for (let i = 0; i < n; i++) tokens.push(rng.int(shape.vocab));
    let at = start + 1 + rng.int(3);
    while (at < start + n - 1) {
      eventEnds.push(at);
      nextItems.push(rng.int(shape.items ?? 1));
      at += 2 + rng.int(3);
    }
    eventEnds.push(start + n - 1);
    nextItems.push(-1);
    offsets.push(tokens.length);
  }
  const corpus: NativeLmCorpus = {
    tokens: Int32Array.from(tokens),
    offsets: Float64Array.from(offsets),
    eventEnds: Float64Array.from(eventEnds),
    nextItems: Int32Array.from(nextItems),
  };
  if (teacherPoints) {
    const dim = shape.dim ?? 256;
    corpus.teacher = Float32Array.from({ length: lengths.length * teacherPoints * dim }, () => rng.normal());
    corpus.teacherPoints = teacherPoints;
  }
  return corpus;
}

/** A small model, corpus and schedule for the determinism, resume and kill -9 tests. */
export const RUN_SHAPE: NativeLlamaShape = { ...TINY, seed: 5 };
export const RUN_CORPUS_SEED = 31;
export const RUN_LENGTHS = [9, 12, 7, 14, 10, 11, 8, 13];
export function runCorpus(): NativeLmCorpus {
  return tinyCorpus(RUN_CORPUS_SEED, RUN_LENGTHS, RUN_SHAPE, 2);
}
/** Several batches an epoch (batchTokens 24 of 84 tokens), so steps see different windows. */
export const RUN_OPTIONS: NativeLmTrainOptions = {
  lr: 1e-2,
  warmupSteps: 5,
  totalSteps: 40,
  batchTokens: 24,
  context: 16,
  alignWeight: 0.5,
  localLayers: 1,
  seed: 9,
  threads: 1,
};
