/**
 * Trains a byte-level BPE tokenizer (GPT-2's scheme) on a corpus, as the Hugging Face
 * `tokenizer.json` + `tokenizer_config.json` that `@huggingface/tokenizers` (so `loadTokenizer`)
 * and Python transformers load. All 256 bytes are tokens, so any text encodes and decodes back.
 */
import { Buffer } from 'node:buffer';
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { parseOptions } from '../util/options.js';

export interface TrainTokenizerOptions {
  /** Tokens in the vocabulary: the special tokens, the 256 bytes and one per merge (default 4096). */
  vocabSize?: number;
  /** Pairs seen fewer times than this in the corpus are never merged (default 2). */
  minFrequency?: number;
  /**
   * Added tokens, ids 0 on, never split and never learned from the text. The first is BOS, EOS
   * and the document separator, the second (if any) padding. Default `['<|endoftext|>', '<|pad|>']`.
   */
  specialTokens?: string[];
  /**
   * Longer pre-tokens (runs of letters, digits, spaces or punctuation) are counted in pieces of
   * this many characters: it bounds the work per word and the longest token (default 64).
   */
  maxWordChars?: number;
  /** Return a smaller vocabulary when the corpus runs out of pairs, rather than INVALID_ARGUMENT. */
  allowSmaller?: boolean;
}

export interface TrainedTokenizer {
  /** The content of `tokenizer.json`. */
  readonly json: object;
  /** The added tokens, ids 0 on: the first is BOS, EOS and the separator, the second (if any) padding. */
  readonly specialTokens: readonly string[];
  /** Tokens in the vocabulary (below the asked vocabSize only with allowSmaller). */
  readonly vocabSize: number;
  /** Merges learned (one per token after the bytes, unless two merges spell the same token). */
  readonly merges: number;
}

export interface TokenizerFiles {
  /** The tokenizer itself (vocabulary, merges, pre-tokenizer), as JSON text. */
  'tokenizer.json': string;
  /** The Hugging Face config: special tokens, model_max_length, no clean-up of spaces. */
  'tokenizer_config.json': string;
}

const DEFAULT_SPECIAL_TOKENS = ['<|endoftext|>', '<|pad|>'];
const MAX_VOCAB = 1_000_000;

const optionsSchema = z.strictObject({
  vocabSize: z.number().int().min(1).max(MAX_VOCAB).optional(),
  minFrequency: z.number().int().min(1).optional(),
  specialTokens: z.array(z.string().min(1)).min(1).optional(),
  maxWordChars: z.number().int().min(1).optional(),
  allowSmaller: z.boolean().optional(),
}) satisfies z.ZodType<TrainTokenizerOptions>;
const filesSchema = z.strictObject({ modelMaxLength: z.number().int().min(1).optional() });

/** The ByteLevel pre-tokenizer's split (GPT-2's), as @huggingface/tokenizers runs it. */
const PRE_TOKEN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's byte → character map: printable bytes stand for themselves, the others for U+0100 on,
 * so that no token holds a space or a control character.
 */
const BYTE_CHARS: readonly string[] = (() => {
  const chars: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars.push(String.fromCharCode(printable ? b : next++));
  }
  return chars;
})();

/** Pre-tokens and how often each occurs, in order of first occurrence. */
function countWords(texts: Iterable<string>, specials: readonly string[], maxWordChars: number): Map<string, number> {
  // Special tokens are cut out first, as the runtime does (longest first, like its trie).
  const escaped = [...specials].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const special = new RegExp(escaped.join('|'));
  const piece = new RegExp(`[\\s\\S]{1,${maxWordChars}}`, 'gu'); // whole code points
  const counts = new Map<string, number>();
  const add = (word: string) => counts.set(word, (counts.get(word) ?? 0) + 1);
  for (const text of texts) {
    if (typeof text !== 'string') throw new LmrecError(`the corpus holds a ${typeof text}, not a string`, 'INVALID_ARGUMENT');
    for (const section of text.split(special)) {
      for (const word of section.match(PRE_TOKEN) ?? []) {
        if (word.length <= maxWordChars) add(word);
        else for (const p of word.match(piece) ?? []) add(p);
      }
    }
  }
  return counts;
}

/**
 * The corpus as token ids per distinct word, and every adjacent pair of tokens, numbered: its
 * count (weighted by the words' frequencies) and the words it may occur in, kept up to date
 * merge by merge so that a merge costs the words it touches, not the corpus. Pairs are numbered
 * rather than keyed a * 2^20 + b, which is past V8's small integers (and 10-15% slower).
 */
class Corpus {
  readonly first: number[] = [];
  readonly second: number[] = [];
  readonly counts: number[] = [];
  /** Words a pair occurs or once occurred in: a stale entry costs a scan of its word, no more. */
  private readonly where: number[][] = [];
  /** byFirst[a].get(b): the pair (a, b). */
  private readonly byFirst: Map<number, number>[] = [];

  constructor(
    private readonly words: number[][],
    private readonly freqs: number[],
  ) {
    words.forEach((s, w) => {
      for (let i = 0; i + 1 < s.length; i++) this.grow(this.pair(s[i]!, s[i + 1]!), freqs[w]!, w);
    });
  }

  get pairs(): number {
    return this.counts.length;
  }

  private pair(a: number, b: number): number {
    const next = (this.byFirst[a] ??= new Map());
    let p = next.get(b);
    if (p === undefined) {
      p = this.counts.length;
      next.set(b, p);
      this.first.push(a);
      this.second.push(b);
      this.counts.push(0);
      this.where.push([]);
    }
    return p;
  }

  private grow(p: number, n: number, w: number): void {
    this.counts[p]! += n;
    const list = this.where[p]!;
    if (list[list.length - 1] !== w) list.push(w);
  }

  /**
   * Replaces every pair p (a b) by z, left to right in each word, and returns the pairs whose
   * count grew (all of them hold z). Updating in place keeps neighbouring merges exact: in
   * `a b a b` the second merge sees the first's z on its left.
   */
  merge(p: number, z: number): Set<number> {
    const a = this.first[p]!;
    const b = this.second[p]!;
    const grown = new Set<number>();
    for (const w of this.where[p]!) {
      const s = this.words[w]!;
      const f = this.freqs[w]!;
      let k = 0;
      for (let i = 0; i < s.length; ) {
        if (s[i] === a && s[i + 1] === b) {
          if (k > 0) {
            const left = s[k - 1]!;
            this.counts[this.pair(left, a)]! -= f;
            const q = this.pair(left, z);
            this.grow(q, f, w);
            grown.add(q);
          }
          if (i + 2 < s.length) {
            const right = s[i + 2]!;
            this.counts[this.pair(b, right)]! -= f;
            const q = this.pair(z, right);
            this.grow(q, f, w);
            grown.add(q);
          }
          s[k++] = z;
          i += 2;
        } else {
          s[k++] = s[i++]!;
        }
      }
      if (k < s.length) s.length = k; // not for stale entries: the setter is slow
    }
    this.counts[p] = 0; // no a b is left anywhere
    this.where[p] = [];
    return grown;
  }
}

/** A max-heap of (count, pair): most frequent first, ties to the pair of lower token ids. */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly pairs: number[] = [];

  constructor(private readonly corpus: Corpus) {}

  private before(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    if (ci !== cj) return ci > cj;
    const { first, second } = this.corpus;
    const pi = this.pairs[i]!;
    const pj = this.pairs[j]!;
    return first[pi]! < first[pj]! || (first[pi] === first[pj] && second[pi]! < second[pj]!);
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
    [this.pairs[i], this.pairs[j]] = [this.pairs[j]!, this.pairs[i]!];
  }

  push(count: number, pair: number): void {
    this.counts.push(count);
    this.pairs.push(pair);
    for (let i = this.counts.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; pair: number } | undefined {
    if (this.counts.length === 0) return undefined;
    const top = { count: this.counts[0]!, pair: this.pairs[0]! };
    const lastCount = this.counts.pop()!;
    const lastPair = this.pairs.pop()!;
    const n = this.counts.length;
    if (n > 0) {
      this.counts[0] = lastCount;
      this.pairs[0] = lastPair;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < n && this.before(l, best)) best = l;
        if (r < n && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/**
 * Learns merges from `texts` until the vocabulary holds `vocabSize` tokens: each step merges
 * the most frequent adjacent pair (ties: the pair of lower token ids), so the same corpus, in
 * any order, gives the same tokenizer. Ids: the special tokens, then byte b at
 * `specialTokens.length + b`, then the merges' tokens in the order learned.
 *
 * INVALID_ARGUMENT: bad options, a corpus with no text, and a corpus whose pairs run out before
 * vocabSize (unless `allowSmaller`).
 * @param texts The corpus: e.g. the catalog's item texts.
 * @param options Vocabulary size, minimum pair frequency, special tokens, piece length, and whether a smaller vocabulary may be returned.
 */
export function trainTokenizer(texts: Iterable<string>, options?: TrainTokenizerOptions): TrainedTokenizer {
  const o = parseOptions(optionsSchema, options, 'tokenizer training');
  const specials = [...(o.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
  const vocabSize = o.vocabSize ?? 4096;
  const minFrequency = o.minFrequency ?? 2;
  const base = specials.length + 256;
  const bad = (what: string) => new LmrecError(what, 'INVALID_ARGUMENT');
  if (new Set(specials).size !== specials.length) throw bad(`the special tokens ${JSON.stringify(specials)} repeat one`);
  // A special token spelled like a byte's character would take that byte's token.
  const clash = specials.find((s) => BYTE_CHARS.includes(s));
  if (clash !== undefined) throw bad(`the special token '${clash}' is spelled like a byte's token`);
  if (vocabSize < base) {
    throw bad(`vocabSize ${vocabSize} is below the ${base} tokens every vocabulary holds (${specials.length} special + 256 bytes)`);
  }

  const wordCounts = countWords(texts, specials, o.maxWordChars ?? 64);
  if (wordCounts.size === 0) throw bad('the corpus is empty: it holds no text besides special tokens');
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [word, f] of wordCounts) {
    words.push(Array.from(Buffer.from(word, 'utf8'), (byte) => specials.length + byte));
    freqs.push(f);
  }
  const corpus = new Corpus(words, freqs);
  const heap = new PairHeap(corpus);
  for (let p = 0; p < corpus.pairs; p++) if (corpus.counts[p]! >= minFrequency) heap.push(corpus.counts[p]!, p);

  const tokens = [...specials, ...BYTE_CHARS];
  const ids = new Map(tokens.map((t, id) => [t, id]));
  const merges: string[] = [];
  while (tokens.length < vocabSize) {
    const top = heap.pop();
    if (top === undefined) break;
    // The heap holds only pairs seen minFrequency times. Counts only fall, except for pairs
    // holding a merge's token, which are pushed anew: an entry above its pair's count is stale
    // (requeued at the count), one below has a twin above it.
    const count = corpus.counts[top.pair]!;
    if (top.count !== count) {
      if (top.count > count && count >= minFrequency) heap.push(count, top.pair);
      continue;
    }
    const a = corpus.first[top.pair]!;
    const b = corpus.second[top.pair]!;
    const text = tokens[a]! + tokens[b]!;
    // Should two merges spell the same token, they share its id, as in HF's trainer: a
    // vocabulary names each string once.
    let z = ids.get(text);
    if (z === undefined) {
      z = tokens.length;
      tokens.push(text);
      ids.set(text, z);
    }
    merges.push(`${tokens[a]} ${tokens[b]}`);
    for (const p of corpus.merge(top.pair, z)) {
      if (corpus.counts[p]! >= minFrequency) heap.push(corpus.counts[p]!, p);
    }
  }
  if (tokens.length < vocabSize && !o.allowSmaller) {
    throw bad(
      `the corpus allows ${tokens.length} tokens with minFrequency ${minFrequency}, not vocabSize ${vocabSize}: ` +
        'add text, lower vocabSize or minFrequency, or pass allowSmaller: true',
    );
  }
  return { json: tokenizerJson(tokens, specials, merges), specialTokens: specials, vocabSize: tokens.length, merges: merges.length };
}

function tokenizerJson(tokens: readonly string[], specials: readonly string[], merges: readonly string[]): object {
  // No prototype: a special token may be spelled '__proto__'.
  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, id) => (vocab[t] = id));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      vocab,
      // "a b" strings, which every tokenizers version reads; byte-level tokens hold no space.
      merges,
    },
  };
}

/**
 * The two files of `t`, as text. `modelMaxLength` is the context the model will have (default
 * 2048). The config names the first special token BOS and EOS, the second (else the first) pad,
 * and turns off the clean-up of spaces before punctuation so that decoding gives the text back.
 * @param t A tokenizer from trainTokenizer.
 * @param options What the config says.
 * @param options.modelMaxLength The context the model will have, in tokens (default 2048).
 */
export function tokenizerFiles(t: TrainedTokenizer, options?: { modelMaxLength?: number }): TokenizerFiles {
  const { modelMaxLength = 2048 } = parseOptions(filesSchema, options, 'tokenizer files');
  const [eos, pad = eos, ...rest] = t.specialTokens;
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: eos,
    eos_token: eos,
    pad_token: pad,
    ...(rest.length > 0 ? { additional_special_tokens: rest } : {}),
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
    model_max_length: modelMaxLength,
    added_tokens_decoder: Object.fromEntries(
      t.specialTokens.map((content, id) => [
        String(id),
        { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      ]),
    ),
  };
  return {
    'tokenizer.json': `${JSON.stringify(t.json, null, 2)}\n`,
    'tokenizer_config.json': `${JSON.stringify(config, null, 2)}\n`,
  };
}
