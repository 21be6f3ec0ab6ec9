import { describe, expect, it } from 'vitest';
import { LmrecError } from '../src/errors.js';
import { leaveOneOut } from '../src/eval/leave-one-out.js';
import { encodeBehaviour, type BehaviourCorpus } from '../src/pretrain/behaviour-text.js';
import { compileItemTemplate, defaultItemTemplate, renderItemTexts } from '../src/text/item-template.js';
import { thrown } from './helpers/errors.js';


/** One token per character (its code point), counting the texts it was asked to encode. */
function charTokenizer() {
  const calls: string[] = [];
  return { calls, encode: (text: string) => (calls.push(text), Array.from(text, (c) => c.codePointAt(0)!)) };
}

const BOS = 1;
const EOS = 2;
const seqs = (...xs: number[][]) => xs.map((x) => Int32Array.from(x));
const decode = (ids: ArrayLike<number>) => Array.from(ids, (t) => (t === BOS ? '<s>' : t === EOS ? '</s>' : String.fromCodePoint(t))).join('');
const sequence = (c: BehaviourCorpus, i: number) => decode(c.tokens.subarray(c.offsets[i]!, c.offsets[i + 1]!));

describe('item templates', () => {
  it('renders named fields and literal braces', () => {
    const t = compileItemTemplate('{title} ({category}) {{x}} {title}', ['title', 'category', 'text']);
    expect(t.fields).toEqual(['title', 'category']);
    expect(t.render({ title: 'Dune', category: 'books', text: 'ignored' })).toBe('Dune (books) {x} Dune');
    expect(t.render({ title: 'Dune' })).toBe('Dune () {x} Dune'); // a missing field reads as ''
    expect(compileItemTemplate('{{{a}}}', ['a']).render({ a: 'v' })).toBe('{v}');
  });

  it('names an unknown field and lists the catalog fields', () => {
    const e = thrown(() => compileItemTemplate('{title} by {autor}', ['title', 'author']));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain("no field 'autor'");
    expect(e.message).toContain("'title', 'author'");
  });

  it.each([
    ['{title', 'never closed'],
    ['title}', "lone '}'"],
    ['{}', 'empty field name'],
    ['{a{b}', "'{' inside"],
    ['no fields {{here}}', 'names no field'],
  ])('rejects %j', (template, message) => {
    const e = thrown(() => compileItemTemplate(template, ['title', 'a']));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain(message);
  });

  it('defaults to the title, else to every field', () => {
    expect(defaultItemTemplate(['text', 'title', 'genre'])).toBe('{title}');
    expect(defaultItemTemplate(['Name', 'genre'])).toBe('{Name}');
    expect(defaultItemTemplate(['genre', 'year', 'a{b'])).toBe('genre: {genre}; year: {year}');
    const e = thrown(() => defaultItemTemplate([]));
    expect(e.code).toBe('INVALID_DATA');
    expect(e.message).toContain('no text fields');
  });

  it('renders a catalog with the default or a given template', () => {
    const items: { fields: Record<string, string> }[] = [{ fields: { genre: 'jazz' } }, { fields: { genre: 'rock', year: '1971' } }];
    expect(renderItemTexts(items).texts).toEqual(['genre: jazz; year: ', 'genre: rock; year: 1971']);
    expect(renderItemTexts(items, '{genre}/{year}').texts).toEqual(['jazz/', 'rock/1971']);
    expect(thrown(() => renderItemTexts([{ fields: {} }])).code).toBe('INVALID_DATA');
  });
});

describe('encodeBehaviour', () => {
  const texts = ['ab', 'c', 'def', '', 'ghijkl'];

  it('packs sequences with BOS, separators, EOS and every event end', () => {
    const tok = charTokenizer();
    const c = encodeBehaviour(seqs([0, 1, 2], [2], [], [1, 3, 0]), texts, tok, { bos: BOS, eos: EOS, separator: '|', maxTokens: 100 });
    expect([0, 1, 2, 3].map((i) => sequence(c, i))).toEqual(['<s>ab|c|def</s>', '<s>def</s>', '', '<s>c||ab</s>']);
    expect(Array.from(c.offsets)).toEqual([0, 10, 15, 15, 22]);
    expect(Array.from(c.eventOffsets)).toEqual([0, 3, 4, 4, 7]);
    expect(Array.from(c.eventItems)).toEqual([0, 1, 2, 2, 1, 3, 0]);
    expect(Array.from(c.nextItems)).toEqual([1, 2, -1, -1, 3, 0, -1]);
    // the last token of each event's text; the empty item ends on its separator
    expect(Array.from(c.eventEnds, (i) => decode([c.tokens[i]!]))).toEqual(['b', 'c', 'f', 'f', 'c', '|', 'b']);
    expect(Array.from(c.eventEnds)).toEqual([2, 4, 8, 13, 16, 17, 20]);
    expect([c.droppedEvents, c.truncatedEvents]).toEqual([0, 0]);
    expect(c.tokens.length).toBe(22);
  });

  it('tokenizes the separator once and each distinct item once', () => {
    const tok = charTokenizer();
    const histories = seqs([0, 1, 0, 1, 2], [2, 2, 0], [1]);
    encodeBehaviour(histories, texts, tok, { bos: BOS, eos: EOS, maxTokens: 100 });
    expect(tok.calls.sort()).toEqual(['\n', 'ab', 'c', 'def'].sort()); // items 3 and 4 never appear
  });

  it('the default separator is a newline; the layout equals tokenizing the whole text here', () => {
    const c = encodeBehaviour(seqs([0, 4]), texts, charTokenizer(), { bos: BOS, eos: EOS, maxTokens: 100 });
    expect(sequence(c, 0)).toBe('<s>ab\nghijkl</s>');
  });

  it('keeps the most recent events that fit', () => {
    // <s> ab | c | def </s> is 10 tokens; without 'ab|', 7
    const c = encodeBehaviour(seqs([0, 1, 2]), texts, charTokenizer(), { bos: BOS, eos: EOS, separator: '|', maxTokens: 9 });
    expect(sequence(c, 0)).toBe('<s>c|def</s>');
    expect(Array.from(c.eventItems)).toEqual([1, 2]);
    expect(Array.from(c.nextItems)).toEqual([2, -1]);
    expect(Array.from(c.eventEnds)).toEqual([1, 5]);
    expect(c.droppedEvents).toBe(1);
    const exact = encodeBehaviour(seqs([0, 1, 2]), texts, charTokenizer(), { bos: BOS, eos: EOS, separator: '|', maxTokens: 10 });
    expect(sequence(exact, 0)).toBe('<s>ab|c|def</s>');
  });

  it('cuts a newest event that alone does not fit to its first maxTokens-2 tokens', () => {
    const c = encodeBehaviour(seqs([0, 4], [1]), texts, charTokenizer(), { bos: BOS, eos: EOS, maxTokens: 5 });
    expect(sequence(c, 0)).toBe('<s>ghi</s>');
    expect(sequence(c, 1)).toBe('<s>c</s>');
    expect(Array.from(c.eventEnds)).toEqual([3, 6]);
    expect(Array.from(c.eventItems)).toEqual([4, 1]);
    expect([c.droppedEvents, c.truncatedEvents]).toEqual([1, 1]);
    for (let i = 0; i < 2; i++) expect(c.offsets[i + 1]! - c.offsets[i]!).toBeLessThanOrEqual(5);
  });

  it('never exceeds maxTokens and is deterministic', () => {
    const many = Array.from({ length: 50 }, (_, u) => Int32Array.from({ length: 1 + (u % 9) }, (_, i) => (u * 7 + i * 3) % texts.length));
    const opts = { bos: BOS, eos: EOS, maxTokens: 9 };
    const a = encodeBehaviour(many, texts, charTokenizer(), opts);
    const b = encodeBehaviour(many, texts, charTokenizer(), opts);
    expect(a).toEqual(b);
    for (let i = 0; i < many.length; i++) {
      const n = a.offsets[i + 1]! - a.offsets[i]!;
      expect(n).toBeGreaterThanOrEqual(2); // item 3's text is empty
      expect(n).toBeLessThanOrEqual(9);
      const events = a.eventOffsets[i + 1]! - a.eventOffsets[i]!;
      expect(events).toBeGreaterThanOrEqual(1);
      // the kept events are the history's newest ones
      expect(Array.from(a.eventItems.subarray(a.eventOffsets[i]!, a.eventOffsets[i + 1]!))).toEqual(Array.from(many[i]!.subarray(many[i]!.length - events)));
    }
  });

  it('encodes the training prefixes of leave-one-out', () => {
    const { train, test } = leaveOneOut(seqs([0, 1, 2, 4], [2, 0]));
    const c = encodeBehaviour(train, texts, charTokenizer(), { bos: BOS, eos: EOS, maxTokens: 100 });
    expect([sequence(c, 0), sequence(c, 1)]).toEqual(['<s>ab\nc</s>', '<s>def\nab</s>']);
    const scored = encodeBehaviour(test.map((s) => s.history), texts, charTokenizer(), { bos: BOS, eos: EOS, maxTokens: 100 });
    expect(sequence(scored, 0)).toBe('<s>ab\nc\ndef</s>'); // predict item 4 at its last event end
  });

  it('rejects bad arguments before writing anything', () => {
    const opts = { bos: BOS, eos: EOS, maxTokens: 10 };
    expect(thrown(() => encodeBehaviour(seqs([0]), texts, charTokenizer(), { ...opts, maxTokens: 2 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => encodeBehaviour(seqs([0]), texts, charTokenizer(), { ...opts, bos: -1 })).code).toBe('INVALID_ARGUMENT');
    const unknown = thrown(() => encodeBehaviour(seqs([0], [1, 7]), texts, charTokenizer(), opts));
    expect(unknown.code).toBe('UNKNOWN_ID');
    expect(unknown.message).toContain('history 1, event 1');
    const badTokenizer = { encode: () => [1.5] };
    expect(thrown(() => encodeBehaviour(seqs([0]), texts, badTokenizer, opts)).code).toBe('INVALID_ARGUMENT');
  });

  it('refuses a corpus of more than 2^31-1 tokens before allocating it', () => {
    // one item of 2^20 tokens (a shared array, so the test stays small) in 2^11 histories
    const big = new Array<number>(2 ** 20).fill(5);
    const tokenizer = { encode: () => big };
    const histories = Array.from({ length: 2 ** 11 }, () => Int32Array.of(0));
    const e = thrown(() => encodeBehaviour(histories, ['x'], tokenizer, { bos: BOS, eos: EOS, maxTokens: 2 ** 21 }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain('2^31-1');
  });
});
