/**
 * The byte-level BPE trainer: its files load in @huggingface/tokenizers (and lmrec's own
 * loadTokenizer), any text round-trips, bytes sit at fixed ids, the merges are exactly those of a
 * naive BPE over the runtime's own pre-tokenizer, training is deterministic and fast, and every
 * misuse is INVALID_ARGUMENT.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { LmrecError } from '../src/errors.js';
import { loadTokenizer } from '../src/lm/tokenizer.js';
import { tokenizerFiles, trainTokenizer, type TrainedTokenizer, type TrainTokenizerOptions } from '../src/lm/tokenizer-trainer.js';

const SPECIALS = ['<|endoftext|>', '<|pad|>'];

interface BpeModel {
  vocab: Record<string, number>;
  merges: string[];
}

const model = (t: TrainedTokenizer) => (t.json as { model: BpeModel }).model;

/** The vocabulary's tokens by id (a JSON object lists integer-like keys such as '7' first). */
const tokensById = (t: TrainedTokenizer) => Object.entries(model(t).vocab).sort((a, b) => a[1] - b[1]).map(([token]) => token);

function load(t: TrainedTokenizer): Tokenizer {
  const files = tokenizerFiles(t);
  return new Tokenizer(JSON.parse(files['tokenizer.json']), JSON.parse(files['tokenizer_config.json']));
}

/** decode(encode(text)); the runtime refuses to decode no ids, which only '' gives. */
function roundTrip(tok: Tokenizer, text: string): string {
  const ids = tok.encode(text).ids;
  return ids.length === 0 ? '' : tok.decode(ids);
}

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * About `bytes` of text shaped like a catalog's: words from a made-up lexicon drawn by Zipf's
 * law, with punctuation, digits, line breaks and some non-Latin script.
 */
function catalogText(bytes: number, seed: number): string {
  const rnd = random(seed);
  const syllable = () => 'bcdfghklmnprstvz'[Math.floor(rnd() * 16)]! + 'aeiou'[Math.floor(rnd() * 5)]! + (rnd() < 0.3 ? 'nrst'[Math.floor(rnd() * 4)]! : '');
  const lexicon = Array.from({ length: 20_000 }, () => Array.from({ length: 1 + Math.floor(rnd() * 4) }, syllable).join(''));
  lexicon.push('lipstick', 'été', '口紅', '💄', '2024');
  const cdf: number[] = [];
  let total = 0;
  for (let i = 0; i < lexicon.length; i++) cdf.push((total += 1 / (i + 1)));
  const pick = () => {
    const x = rnd() * total;
    let lo = 0;
    for (let hi = cdf.length - 1; lo < hi; ) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lexicon[lo]!;
  };
  const parts: string[] = [];
  for (let n = 0; n < bytes; ) {
    const r = rnd();
    const word = r < 0.02 ? 'lipstick' : r < 0.03 ? `${Math.floor(rnd() * 1000)}` : pick();
    parts.push(word, rnd() < 0.05 ? '.\n' : rnd() < 0.05 ? ', ' : ' ');
    n += Buffer.byteLength(word) + 1;
  }
  return parts.join('');
}

const corpus = catalogText(300_000, 1);
const trained = trainTokenizer([corpus], { vocabSize: 2000 });
const tok = load(trained);

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-tokenizer-trainer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The LmrecError code `call` throws. */
function code(call: () => unknown): string {
  try {
    call();
  } catch (e) {
    expect(e).toBeInstanceOf(LmrecError);
    return (e as LmrecError).code;
  }
  throw new Error('expected an LmrecError');
}

/**
 * BPE the slow, obvious way: recount every pair of every word before each merge. Words come from
 * the pre-tokenizer of the runtime loading `bytesOnly` (a trained tokenizer without merges),
 * which also gives the ids of the special tokens and bytes; ties go to the pair of lower ids.
 */
function naiveBpe(texts: string[], vocabSize: number, minFrequency: number, bytesOnly: TrainedTokenizer): BpeModel {
  const pre = load(bytesOnly).pre_tokenizer!;
  const freq = new Map<string, number>();
  for (const text of texts) for (const w of pre.pre_tokenize_text(text)) freq.set(w, (freq.get(w) ?? 0) + 1);
  const words = [...freq].map(([w, f]) => ({ symbols: Array.from(w), f }));
  const ids = new Map(Object.entries(model(bytesOnly).vocab));
  const merges: string[] = [];
  while (ids.size < vocabSize) {
    const counts = new Map<string, { a: string; b: string; n: number }>();
    for (const { symbols, f } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        const c = counts.get(key) ?? { a: symbols[i]!, b: symbols[i + 1]!, n: 0 };
        c.n += f;
        counts.set(key, c);
      }
    }
    let best: { a: string; b: string; n: number } | undefined;
    const rank = (c: { a: string; b: string }) => [ids.get(c.a)!, ids.get(c.b)!] as const;
    for (const c of counts.values()) {
      if (best === undefined || c.n > best.n) best = c;
      else if (c.n === best.n) {
        const [x, y] = rank(c);
        const [bx, by] = rank(best);
        if (x < bx || (x === bx && y < by)) best = c;
      }
    }
    if (best === undefined || best.n < minFrequency) break;
    const { a, b } = best;
    for (const word of words) {
      const out: string[] = [];
      for (let i = 0; i < word.symbols.length; ) {
        if (word.symbols[i] === a && word.symbols[i + 1] === b) {
          out.push(a + b);
          i += 2;
        } else out.push(word.symbols[i++]!);
      }
      word.symbols = out;
    }
    if (!ids.has(a + b)) ids.set(a + b, ids.size);
    merges.push(`${a} ${b}`);
  }
  return { vocab: Object.fromEntries(ids), merges };
}

describe('trainTokenizer', () => {
  it('puts the special tokens at 0.., then byte b at S + b, so that with no merges ids are the UTF-8 bytes', () => {
    const bytesOnly = trainTokenizer(['hello'], { vocabSize: 258 });
    expect(bytesOnly).toMatchObject({ vocabSize: 258, merges: 0, specialTokens: SPECIALS });
    const raw = load(bytesOnly);
    expect(raw.encode('<|endoftext|><|pad|>').ids).toEqual([0, 1]);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(raw.encode(text).ids).toEqual([...Buffer.from(text, 'utf8')].map((b) => 2 + b));
      }),
    );
  });

  it('gives back any text, through the runtime that loads its files', () => {
    const edge = [
      '', ' ', '\n', '\n\n\n', '\r\n', '\t', '\0\u0001\u007f', '  two leading spaces', 'trailing  ', '\uFEFFbom',
      '💄 lipstick 口紅 été', '👩‍👩‍👧‍👦', 'नमस्ते', "it's we'll I'M", 'a<|endoftext|>b<|pad|>', '<|endoftext', 'x'.repeat(5000),
      ' .,;:!? ( ) " - ', '\u00a0\u2028\u3000',
    ];
    for (const text of edge) expect(roundTrip(tok, text)).toBe(text);
    const pieces = fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('lipstick', ' lipstick', ' ', '\n', '口紅', '. ', ' 2024'));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.array(pieces).map((p) => p.join(''))), (text) => {
        expect(roundTrip(tok, text)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('learns the corpus: a frequent word is one or two tokens', () => {
    expect(tok.encode(' lipstick').ids).toHaveLength(1);
    expect(tok.encode('lipstick').ids.length).toBeLessThanOrEqual(2);
    const text = corpus.slice(0, 20_000);
    expect(tok.encode(text).ids.length).toBeLessThan(Buffer.byteLength(text) / 2.5);
  });

  it('merges exactly as naive BPE over the runtime pre-tokenizer', () => {
    const bytesOnly = trainTokenizer(['x'], { vocabSize: 258 });
    const piece = fc.constantFrom('a', 'b', 'ab', 'aaa', 'ba', ' ', ' a', '\n', 'é', '1', '22', '.');
    fc.assert(
      fc.property(
        fc.array(fc.array(piece, { maxLength: 12 }).map((p) => p.join('')), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 3 }),
        (texts, minFrequency) => {
          fc.pre(texts.some((t) => t.length > 0));
          const t = trainTokenizer(texts, { vocabSize: 400, minFrequency, allowSmaller: true });
          const want = naiveBpe(texts, 400, minFrequency, bytesOnly);
          expect(model(t).merges).toEqual(want.merges);
          expect({ ...model(t).vocab }).toEqual(want.vocab);
          expect(t.vocabSize).toBe(Object.keys(want.vocab).length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives the vocabulary size asked, ids 0..vocabSize-1 each once', () => {
    for (const vocabSize of [258, 259, 1000, 2000]) {
      const t = vocabSize === 2000 ? trained : trainTokenizer([corpus], { vocabSize });
      const ids = Object.values(model(t).vocab).sort((a, b) => a - b);
      expect(ids).toEqual(Array.from({ length: vocabSize }, (_, i) => i));
      expect(t.vocabSize).toBe(vocabSize);
      expect(t.merges).toBe(model(t).merges.length);
      expect(t.merges).toBeGreaterThanOrEqual(vocabSize - 258);
      expect(load(t).get_vocab().size).toBe(vocabSize);
    }
  });

  it('is deterministic: the same corpus, in any order, gives the same files', () => {
    const texts = corpus.split('\n');
    const a = tokenizerFiles(trainTokenizer(texts, { vocabSize: 1200 }));
    const b = tokenizerFiles(trainTokenizer(texts, { vocabSize: 1200 }));
    const shuffled = [...texts];
    const rnd = random(9);
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const c = tokenizerFiles(trainTokenizer(shuffled, { vocabSize: 1200 }));
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('learns nothing from special tokens in the text, and cuts long words into pieces', () => {
    const t = trainTokenizer(Array.from({ length: 50 }, (_, i) => `<|endoftext|>item ${i}<|pad|>`), { vocabSize: 265 });
    expect(t.vocabSize).toBe(265);
    for (const token of tokensById(t).slice(258)) expect(token).not.toMatch(/[<|>]/);
    // Pieces of 8: y y, yy yy, yyyy yyyy, and no pair is left.
    const long = trainTokenizer(['y'.repeat(10_000)], { vocabSize: 261, maxWordChars: 8 });
    expect(tokensById(long).slice(258)).toEqual(['yy', 'yyyy', 'yyyyyyyy']);
    expect(roundTrip(load(long), 'y'.repeat(10_001))).toBe('y'.repeat(10_001));
  });

  it('takes its special tokens from the options', () => {
    const t = trainTokenizer([corpus.slice(0, 5000)], { vocabSize: 300, specialTokens: ['<s>', '</s>', '<pad>', '<mask>'] });
    expect(tokensById(t).slice(0, 4)).toEqual(['<s>', '</s>', '<pad>', '<mask>']);
    const config = JSON.parse(tokenizerFiles(t)['tokenizer_config.json']);
    expect(config).toMatchObject({ bos_token: '<s>', eos_token: '<s>', pad_token: '</s>', additional_special_tokens: ['<pad>', '<mask>'] });
    expect(load(t).encode('<mask>x<s>').ids).toEqual([3, 4 + 'x'.charCodeAt(0), 0]);
  });

  it('trains 2 MB to a 4096-token vocabulary in seconds', () => {
    const text = catalogText(2_000_000, 2);
    const started = performance.now();
    const t = trainTokenizer([text], { vocabSize: 4096 });
    const seconds = (performance.now() - started) / 1000;
    expect(t.vocabSize).toBe(4096);
    // About 0.5 s here; a trainer recounting the corpus for every merge takes minutes.
    expect(seconds).toBeLessThan(15);
  });

  describe('refuses with INVALID_ARGUMENT', () => {
    it('an empty corpus', () => {
      for (const texts of [[], [''], ['', '<|endoftext|>']]) {
        expect(() => trainTokenizer(texts)).toThrow(/the corpus is empty/);
        expect(code(() => trainTokenizer(texts))).toBe('INVALID_ARGUMENT');
      }
      expect(code(() => trainTokenizer([42 as unknown as string]))).toBe('INVALID_ARGUMENT');
    });

    it('a vocabulary size below the specials and bytes, fractional, or above 1,000,000', () => {
      expect(() => trainTokenizer([corpus], { vocabSize: 257 })).toThrow(/below the 258 tokens/);
      for (const vocabSize of [0, 100, 300.5, 1_000_001, Number.NaN]) expect(code(() => trainTokenizer([corpus], { vocabSize }))).toBe('INVALID_ARGUMENT');
      expect(code(() => trainTokenizer([corpus], { vocabSize: 300, specialTokens: Array.from({ length: 50 }, (_, i) => `<${i}>`) }))).toBe(
        'INVALID_ARGUMENT',
      );
    });

    it('bad options', () => {
      const bad: unknown[] = [
        { vocabsize: 300 },
        { minFrequency: 0 },
        { specialTokens: [] },
        { specialTokens: [''] },
        { specialTokens: ['<a>', '<a>'] },
        { specialTokens: ['a'] },
        { maxWordChars: 0 },
        { allowSmaller: 1 },
      ];
      for (const options of bad) expect(code(() => trainTokenizer([corpus], options as TrainTokenizerOptions))).toBe('INVALID_ARGUMENT');
      expect(code(() => tokenizerFiles(trained, { modelMaxLength: 0 }))).toBe('INVALID_ARGUMENT');
    });

    it('a corpus too small for the vocabulary, unless allowSmaller', () => {
      expect(() => trainTokenizer(['abc abc abd'], { vocabSize: 300 })).toThrow(/the corpus allows 260 tokens with minFrequency 2/);
      const t = trainTokenizer(['abc abc abd'], { vocabSize: 300, allowSmaller: true });
      // a b (3 times), then Ġ ab (twice, and before ab c by lower ids); no other pair repeats.
      expect(model(t).merges).toEqual(['a b', 'Ġ ab']);
      expect(t.vocabSize).toBe(260);
      expect(roundTrip(load(t), 'abc abd')).toBe('abc abd');
    });
  });
});

describe('tokenizerFiles', () => {
  it('writes files that loadTokenizer reads, with the config transformers needs', () => {
    const files = tokenizerFiles(trained, { modelMaxLength: 512 });
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(root, name), text);
    const loaded = loadTokenizer(root)!;
    const text = 'Lipstick, 💄 — été 2024.\n';
    expect(loaded.encode(text)).toEqual(tok.encode(text).ids);
    expect(loaded.decode(loaded.encode(text))).toBe(text);
    expect(JSON.parse(files['tokenizer_config.json'])).toMatchObject({
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: '<|endoftext|>',
      eos_token: '<|endoftext|>',
      pad_token: '<|pad|>',
      model_max_length: 512,
      clean_up_tokenization_spaces: false,
    });
    expect(JSON.parse(tokenizerFiles(trained)['tokenizer_config.json']).model_max_length).toBe(2048);
    expect(JSON.parse(files['tokenizer.json'])).toEqual(trained.json);
  });
});
