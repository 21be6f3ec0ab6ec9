/**
 * Behaviour written as text, the way M6-Rec feeds it to a language model: a user's history is
 * the texts of their items, oldest first, one event after another, and the LM learns from it
 * like from any other text. Here: the packed, token-level corpus a trainer reads, with the
 * position of every event's last token (where the hidden state should predict the next item);
 * the items' texts come from their templates (src/text/item-template.ts).
 *
 * Held-out events are the evaluation's: train on `leaveOneOut(sequences).train` (every user's
 * history without its last two events) and encode a split's `history` to score its `target`.
 */
import { LmrecError } from '../errors.js';

export interface BehaviourTokenizer {
  /** Token ids of the text, without special tokens (BOS/EOS are placed here). */
  encode(text: string): number[];
}

export interface EncodeBehaviourOptions {
  bos: number;
  eos: number;
  /** Written between consecutive events; default '\n'. */
  separator?: string;
  /** Most tokens per sequence, BOS and EOS included; at least 3. */
  maxTokens: number;
}

/** Sequences of behaviour text, packed. */
export interface BehaviourCorpus {
  /** Every sequence's tokens, concatenated. */
  tokens: Int32Array;
  /** Sequence i is tokens[offsets[i] .. offsets[i+1]); one sequence per history, in order. */
  offsets: Uint32Array;
  /** Absolute index in `tokens` of the last token of each event kept, in order. */
  eventEnds: Int32Array;
  /** The item of each event. */
  eventItems: Int32Array;
  /** The item of the event after it in the same sequence, or -1 for a sequence's last event. */
  nextItems: Int32Array;
  /** Sequence i's events are eventEnds[eventOffsets[i] .. eventOffsets[i+1]). */
  eventOffsets: Uint32Array;
  /** Events dropped because their history did not fit in maxTokens (the oldest ones). */
  droppedEvents: number;
  /** Events whose text alone did not fit and was cut (each the last of its history). */
  truncatedEvents: number;
}

const MAX_TOKENS_TOTAL = 2 ** 31 - 1;

/**
 * Encodes histories (item ids, oldest first) as `BOS item₀ sep item₁ ... sep itemₙ₋₁ EOS`.
 *
 * Each item's text is tokenized once, on first use, and so is the separator: an event's tokens
 * are the separator's followed by the item's, which can differ from tokenizing `sep + text` as
 * one string (a BPE merge across the boundary) but is what makes long logs affordable, and the
 * same rule applies at training and at inference. An event's last token is the last of its
 * item's text (of its separator when the text is empty, of BOS when both are).
 *
 * A history longer than maxTokens keeps its most recent events that fit whole; when even the
 * last event alone does not fit, its text keeps its first maxTokens-2 tokens (a text's start
 * names the item: templates put the title first) and it is the sequence's only event. An
 * empty history gives an empty sequence, so sequence i stays history i.
 */
export function encodeBehaviour(
  histories: readonly Int32Array[],
  itemTexts: readonly string[],
  tokenizer: BehaviourTokenizer,
  options: EncodeBehaviourOptions,
): BehaviourCorpus {
  const { bos, eos, maxTokens } = options;
  const separator = options.separator ?? '\n';
  if (!Number.isInteger(maxTokens) || maxTokens < 3) {
    throw new LmrecError(`maxTokens must be an integer >= 3 (BOS, a token, EOS), got ${maxTokens}`, 'INVALID_ARGUMENT');
  }
  for (const [name, id] of [['bos', bos], ['eos', eos]] as const) {
    if (!isTokenId(id)) throw new LmrecError(`${name} must be a token id (an integer in 0..2^31-1), got ${id}`, 'INVALID_ARGUMENT');
  }
  const encode = (text: string, what: string): Int32Array => {
    const ids = tokenizer.encode(text);
    for (const id of ids) {
      if (!isTokenId(id)) throw new LmrecError(`the tokenizer returned ${id} for ${what}, not a token id`, 'INVALID_ARGUMENT');
    }
    return Int32Array.from(ids);
  };
  const sep = separator ? encode(separator, 'the separator') : new Int32Array(0);
  const cache = new Map<number, Int32Array>(); // the items met, not an array over the catalog per call (one request's history)
  const itemTokens = (item: number, h: number, e: number): Int32Array => {
    let t = cache.get(item);
    if (t) return t;
    const text = itemTexts[item];
    if (!Number.isInteger(item) || text === undefined) {
      throw new LmrecError(`history ${h}, event ${e}: no item has the number ${item} (${itemTexts.length} items have texts)`, 'UNKNOWN_ID');
    }
    t = encode(text, `item ${item}`);
    cache.set(item, t);
    return t;
  };

  // Pass 1: which events each sequence keeps and how many tokens it takes, so that the packed
  // arrays are allocated once, at their size, after their size is checked.
  const firstKept = new Int32Array(histories.length);
  let totalTokens = 0;
  let totalEvents = 0;
  let droppedEvents = 0;
  let truncatedEvents = 0;
  histories.forEach((history, h) => {
    const n = history.length;
    if (n === 0) return;
    let used = 2 + itemTokens(history[n - 1]!, h, n - 1).length; // BOS, EOS, the newest event
    let first = n - 1;
    while (first > 0) {
      const more = sep.length + itemTokens(history[first - 1]!, h, first - 1).length;
      if (used + more > maxTokens) break;
      used += more;
      first--;
    }
    if (used > maxTokens) {
      used = maxTokens;
      truncatedEvents++;
    }
    firstKept[h] = first;
    droppedEvents += first;
    totalEvents += n - first;
    totalTokens += used;
  });
  if (totalTokens > MAX_TOKENS_TOTAL) {
    throw new LmrecError(`the corpus would have ${totalTokens} tokens, more than 2^31-1 (encode fewer histories at a time)`, 'INVALID_ARGUMENT');
  }

  const tokens = new Int32Array(totalTokens);
  const offsets = new Uint32Array(histories.length + 1);
  const eventOffsets = new Uint32Array(histories.length + 1);
  const eventEnds = new Int32Array(totalEvents);
  const eventItems = new Int32Array(totalEvents);
  const nextItems = new Int32Array(totalEvents);
  let at = 0;
  let ev = 0;
  histories.forEach((history, h) => {
    const n = history.length;
    if (n > 0) {
      const end = at + maxTokens; // only a cut event reaches it: pass 1 kept the rest within maxTokens
      tokens[at++] = bos;
      for (let e = firstKept[h]!; e < n; e++) {
        if (e > firstKept[h]!) {
          tokens.set(sep, at);
          at += sep.length;
        }
        const item = history[e]!;
        const text = cache.get(item)!;
        const room = end - 1 - at; // EOS still to come
        const kept = text.length <= room ? text : text.subarray(0, room);
        tokens.set(kept, at);
        at += kept.length;
        eventEnds[ev] = at - 1;
        eventItems[ev] = item;
        nextItems[ev] = e + 1 < n ? history[e + 1]! : -1;
        ev++;
      }
      tokens[at++] = eos;
    }
    offsets[h + 1] = at;
    eventOffsets[h + 1] = ev;
  });
  return { tokens, offsets, eventEnds, eventItems, nextItems, eventOffsets, droppedEvents, truncatedEvents };
}

function isTokenId(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id <= MAX_TOKENS_TOTAL;
}
