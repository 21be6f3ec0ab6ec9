// English text for lmrec's default LM: one line per WordNet 3.0 synset, its lemmas and its gloss
// (examples included), e.g. `lipstick, lip rouge: makeup that is used to color the lips`.
// WordNet's licence allows redistribution with its notice (models/default/LICENSE-WORDNET.txt).
//
//   node scripts/wordnet-corpus.mjs [--wordnet DIR] [--max-bytes N] [--shuffle SEED] [OUT]
//
// Reads DIR/data.{noun,verb,adj,adv} (default /usr/share/wordnet, Debian's wordnet-base) and
// writes OUT (default stdout); a summary goes to stderr. The same input and options give the
// same bytes. Without --shuffle the synsets come in file order (nouns first), so a byte cap
// would keep nouns only: --shuffle SEED permutes the lines first, and the cap then keeps a
// uniform sample of every part of speech.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const PARTS = ['noun', 'verb', 'adj', 'adv'];

/**
 * One line of a WordNet data file, `offset lex_filenum ss_type w_cnt (word lex_id){w_cnt}
 * p_cnt ... | gloss`, as { lemmas, gloss }; null for the licence header (lines starting with
 * two spaces) and empty lines. w_cnt is two hex digits. Adjectives' syntactic markers
 * (`galore(ip)`) are dropped and underscores become spaces.
 */
export function parseDataLine(line) {
  if (line.startsWith('  ') || line.trim() === '') return null;
  const bar = line.indexOf(' | ');
  if (bar < 0) throw new Error(`no ' | ' before the gloss`);
  const fields = line.slice(0, bar).split(' ');
  const count = Number.parseInt(fields[3] ?? '', 16);
  if (!/^[0-9a-f]{2}$/i.test(fields[3] ?? '') || count < 1 || fields.length < 4 + 2 * count) {
    throw new Error(`bad word count '${fields[3]}'`);
  }
  const lemmas = [];
  for (let i = 0; i < count; i++) {
    const lemma = fields[4 + 2 * i].replace(/\([a-z]+\)$/, '').replaceAll('_', ' ');
    if (!lemmas.includes(lemma)) lemmas.push(lemma);
  }
  // Glosses end in spaces, and some in a stray ';' left from a removed example.
  const gloss = line.slice(bar + 3).trimEnd().replace(/;$/, '').trimEnd();
  return { lemmas, gloss };
}

/** A synset as a corpus line: `lemma, lemma: gloss` (just the lemmas when the gloss is empty). */
export function synsetLine({ lemmas, gloss }) {
  return gloss ? `${lemmas.join(', ')}: ${gloss}` : lemmas.join(', ');
}

/** A small seeded generator (mulberry32): the shuffle must not depend on the Node version. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * The corpus of the data files in `dir`: { text (lines joined, each ending in '\n'), lines,
 * bytes (UTF-8), synsets (per part of speech read), kept (lines in text) }. `maxBytes` keeps
 * the leading whole lines that fit; `shuffle` (an integer seed) permutes the lines first.
 */
export function wordnetCorpus(dir, options = {}) {
  const { maxBytes = Infinity, shuffle } = options;
  const lines = [];
  const synsets = {};
  for (const part of PARTS) {
    const file = path.join(dir, `data.${part}`);
    const data = readFileSync(file, 'utf8');
    let n = 0;
    data.split('\n').forEach((line, i) => {
      let synset;
      try {
        synset = parseDataLine(line);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: ${e.message}`);
      }
      if (!synset) return;
      lines.push(synsetLine(synset));
      n++;
    });
    synsets[part] = n;
  }
  if (shuffle !== undefined) {
    const next = random(shuffle);
    for (let i = lines.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [lines[i], lines[j]] = [lines[j], lines[i]];
    }
  }
  let bytes = 0;
  let kept = 0;
  for (; kept < lines.length; kept++) {
    const size = Buffer.byteLength(lines[kept]) + 1;
    if (bytes + size > maxBytes) break;
    bytes += size;
  }
  const text = lines.slice(0, kept).map((l) => `${l}\n`).join('');
  return { text, lines: lines.length, kept, bytes, synsets };
}

function main() {
  const { values, positionals } = parseArgs({
    options: {
      wordnet: { type: 'string', default: '/usr/share/wordnet' },
      'max-bytes': { type: 'string' },
      shuffle: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help || positionals.length > 1) {
    console.error('usage: node scripts/wordnet-corpus.mjs [--wordnet DIR] [--max-bytes N] [--shuffle SEED] [OUT]');
    process.exit(values.help ? 0 : 2);
  }
  const integer = (name, s) => {
    if (s === undefined) return undefined;
    if (!/^\d+$/.test(s)) {
      console.error(`--${name} must be a non-negative integer, got '${s}'`);
      process.exit(2);
    }
    return Number(s);
  };
  const started = performance.now();
  const corpus = wordnetCorpus(values.wordnet, {
    maxBytes: integer('max-bytes', values['max-bytes']),
    shuffle: integer('shuffle', values.shuffle),
  });
  const out = positionals[0];
  if (out) writeFileSync(out, corpus.text);
  else process.stdout.write(corpus.text);
  const parts = PARTS.map((p) => `${corpus.synsets[p]} ${p}`).join(', ');
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  console.error(`${corpus.kept} of ${corpus.lines} synsets (${parts}), ${corpus.bytes} bytes, in ${seconds} s${out ? ` -> ${out}` : ''}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
