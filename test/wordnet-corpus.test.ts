import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without types
import * as script from '../scripts/wordnet-corpus.mjs';

interface Corpus {
  text: string;
  lines: number;
  kept: number;
  bytes: number;
  synsets: Record<string, number>;
}
const { parseDataLine, wordnetCorpus } = script as {
  parseDataLine(line: string): { lemmas: string[]; gloss: string } | null;
  wordnetCorpus(dir: string, options?: { maxBytes?: number; shuffle?: number }): Corpus;
};

// The format of WordNet 3.0's data files: a licence header of lines starting with two spaces,
// then `offset lex_filenum ss_type w_cnt (word lex_id)... p_cnt (pointer)... [frames] | gloss  `.
const HEADER = '  1 This software and database is being provided to you, the LICENSEE, by  \n  2 Princeton University  \n';
const ELEVEN = Array.from({ length: 11 }, (_, i) => `w${i}_x 0`).join(' ');
const FILES = {
  noun: `${HEADER}03673450 06 n 02 lipstick 0 lip_rouge 0 002 @ 03714235 n 0000 + 01532589 v 0101 | makeup that is used to color the lips  \n09999999 06 n 0b ${ELEVEN} 000 | eleven words, counted in hex  \n`,
  verb: `${HEADER}01532589 35 v 01 lipstick 0 001 + 03673450 n 0101 01 + 08 00 | apply lipstick to; "She lipsticked her mouth"  \n`,
  adj: `${HEADER}00014358 00 s 02 abounding 0 galore(ip) 0 001 & 00013887 a 0000 | existing in abundance; "whiskey galore"  \n00020103 00 s 02 outback(a) 0 remote 0 000 | inaccessible and sparsely populated;  \n`,
  adv: HEADER,
};

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-wordnet-'));
for (const [part, text] of Object.entries(FILES)) writeFileSync(path.join(dir, `data.${part}`), text);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the WordNet corpus', () => {
  it('parses lemmas (a hex count) and the gloss, and skips the licence header', () => {
    expect(parseDataLine('  12 use or for distribution.  ')).toBeNull();
    expect(parseDataLine(FILES.noun.split('\n')[2]!)).toEqual({ lemmas: ['lipstick', 'lip rouge'], gloss: 'makeup that is used to color the lips' });
    const eleven = parseDataLine(FILES.noun.split('\n')[3]!)!;
    expect(eleven.lemmas).toHaveLength(11);
    expect(eleven.lemmas[10]).toBe('w10 x');
    expect(() => parseDataLine('00001740 03 n zz entity 0 000 | x')).toThrow(/word count/);
    expect(() => parseDataLine('00001740 03 n 01 entity 0 000 no gloss')).toThrow(/gloss/);
  });

  it('writes one line per synset: lemmas, then the gloss with its examples', () => {
    const corpus = wordnetCorpus(dir);
    expect(corpus.text).toBe(
      [
        'lipstick, lip rouge: makeup that is used to color the lips',
        `${Array.from({ length: 11 }, (_, i) => `w${i} x`).join(', ')}: eleven words, counted in hex`,
        'lipstick: apply lipstick to; "She lipsticked her mouth"',
        'abounding, galore: existing in abundance; "whiskey galore"',
        'outback, remote: inaccessible and sparsely populated',
        '',
      ].join('\n'),
    );
    expect(corpus.synsets).toEqual({ noun: 2, verb: 1, adj: 2, adv: 0 });
    expect([corpus.lines, corpus.kept, corpus.bytes]).toEqual([5, 5, Buffer.byteLength(corpus.text)]);
  });

  it('caps the bytes at whole lines and shuffles deterministically', () => {
    const all = wordnetCorpus(dir).text.split('\n').slice(0, -1);
    const capped = wordnetCorpus(dir, { maxBytes: all[0]!.length + all[1]!.length + 2 });
    expect(capped.text).toBe(`${all[0]}\n${all[1]}\n`);
    expect(capped.kept).toBe(2);
    const a = wordnetCorpus(dir, { shuffle: 3 });
    expect(wordnetCorpus(dir, { shuffle: 3 }).text).toBe(a.text);
    expect(a.text.split('\n').slice(0, -1).sort()).toEqual([...all].sort());
  });
});
