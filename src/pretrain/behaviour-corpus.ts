/**
 * Behaviour text in the shapes the native trainer reads: the training corpus (every event's
 * end predicts the next item), the held-out corpus for perplexity (only the held-out event's
 * tokens are scored), and histories to score items after (cut at their last event's end,
 * where the item head was trained to read).
 */
import { LmrecError } from '../errors.js';
import type { Split } from '../eval/leave-one-out.js';
import type { NativeLmCorpus } from '../addon/lm-trainer.js';
import { encodeBehaviour, type BehaviourCorpus, type BehaviourTokenizer, type EncodeBehaviourOptions } from './behaviour-text.js';

export interface BehaviourEncoder {
  texts: readonly string[];
  tokenizer: BehaviourTokenizer;
  options: EncodeBehaviourOptions;
}

function nativeCorpus(c: BehaviourCorpus): NativeLmCorpus {
  return {
    tokens: c.tokens,
    offsets: Float64Array.from(c.offsets),
    eventEnds: Float64Array.from(c.eventEnds),
    nextItems: c.nextItems,
  };
}

/** Training text: one sequence per history. */
export function trainingCorpus(histories: readonly Int32Array[], e: BehaviourEncoder): NativeLmCorpus & { source: BehaviourCorpus } {
  const c = encodeBehaviour(histories, e.texts, e.tokenizer, e.options);
  if (c.tokens.length === 0) throw new LmrecError('there is no behaviour to train on: no user has an event in the catalog', 'INVALID_DATA');
  return { ...nativeCorpus(c), source: c };
}

/**
 * Each split's history followed by its target, scored from the target's separator on: the
 * held-out text given its history.
 */
export function heldOutCorpus(splits: readonly Split[], e: BehaviourEncoder): NativeLmCorpus {
  const seqs = splits.map((s) => {
    const seq = new Int32Array(s.history.length + 1);
    seq.set(s.history);
    seq[s.history.length] = s.target;
    return seq;
  });
  const c = encodeBehaviour(seqs, e.texts, e.tokenizer, e.options);
  const scoreFrom = new Float64Array(splits.length);
  for (let i = 0; i < splits.length; i++) {
    const first = c.eventOffsets[i]!, last = c.eventOffsets[i + 1]! - 1;
    // The held-out event starts after the previous event's last token (or after BOS).
    scoreFrom[i] = last > first ? c.eventEnds[last - 1]! + 1 : c.offsets[i]! + 1;
  }
  return { ...nativeCorpus(c), scoreFrom };
}

/**
 * Histories to score items after: each cut just past its last event (no EOS). Event ends come
 * along (with no next item) so that segment-local layers see the events as training did.
 */
export function historyCorpus(histories: readonly Int32Array[], e: BehaviourEncoder): NativeLmCorpus {
  const c = encodeBehaviour(histories, e.texts, e.tokenizer, e.options);
  const offsets = new Float64Array(histories.length + 1);
  const parts: Int32Array[] = [];
  const ends: number[] = [];
  for (let i = 0; i < histories.length; i++) {
    const begin = c.offsets[i]!;
    const firstEvent = c.eventOffsets[i]!;
    const lastEvent = c.eventOffsets[i + 1]! - 1;
    if (lastEvent < firstEvent) throw new LmrecError(`history ${i} is empty: there is nothing to recommend after`, 'INVALID_ARGUMENT');
    const end = c.eventEnds[lastEvent]! + 1;
    for (let ev = firstEvent; ev <= lastEvent; ev++) ends.push(offsets[i]! + c.eventEnds[ev]! - begin);
    parts.push(c.tokens.subarray(begin, end));
    offsets[i + 1] = offsets[i]! + (end - begin);
  }
  const tokens = new Int32Array(offsets[histories.length]!);
  let at = 0;
  for (const p of parts) {
    tokens.set(p, at);
    at += p.length;
  }
  return { tokens, offsets, eventEnds: Float64Array.from(ends), nextItems: new Int32Array(ends.length).fill(-1) };
}

/**
 * One history as the segments segment-local layers read (late interaction's input): BOS and
 * the first event's item text, then each later event's separator and item text — split where
 * the trainer starts a segment (after each event's last token), so the cached bottom states
 * of an item's segment are the ones training saw.
 */
export function historySegments(history: Int32Array, e: BehaviourEncoder): Int32Array[] {
  const c = historyCorpus([history], e);
  const segs: Int32Array[] = [];
  let from = 0;
  for (const end of c.eventEnds!) {
    segs.push(c.tokens.slice(from, end + 1));
    from = end + 1;
  }
  return segs;
}

/**
 * Perplexity of a unigram model of the training tokens (add-one smoothed over the vocabulary)
 * on the tokens `held` scores: the baseline a language model must beat.
 */
export function unigramPerplexity(train: Int32Array, held: NativeLmCorpus, vocab: number): number {
  const counts = new Float64Array(vocab).fill(1);
  for (const t of train) counts[t]! += 1;
  const total = train.length + vocab;
  let nll = 0;
  let n = 0;
  const seqs = held.offsets.length - 1;
  for (let s = 0; s < seqs; s++) {
    const from = Math.max(held.offsets[s]! + 1, held.scoreFrom ? held.scoreFrom[s]! : 0);
    for (let i = from; i < held.offsets[s + 1]!; i++) {
      nll -= Math.log(counts[held.tokens[i]!]! / total);
      n++;
    }
  }
  return Math.exp(nll / Math.max(n, 1));
}
