// The words of `lmrec demo`'s shop: shop categories taken from WordNet 3.0 noun synsets (furniture,
// footwear, musical instrument, bread, ...), each with its kinds (hyponyms, a few levels down)
// and their glosses, and a few lists of modifiers (styles and sizes, colours, materials, food qualities).
// Every word is one the bundled default LM read in its WordNet training text
// (scripts/wordnet-corpus.mjs), so the demo's titles, such as `small oak rocking chair`, mean
// something to it and to a reader. WordNet's licence allows redistribution with its notice
// (models/default/LICENSE-WORDNET.txt).
//
//   node scripts/demo-words.mjs [--wordnet DIR] [OUT]
//
// Reads DIR/data.noun and DIR/index.{noun,adj} (default /usr/share/wordnet, Debian's
// wordnet-base) and writes OUT (default src/data/shop-words.ts), a TypeScript module holding the
// words as one constant (a module rather than JSON: the build copies no JSON into dist). The
// same WordNet gives the same bytes.
//
// Kinds: a category's hyponyms (the synsets whose hypernym pointer `@` leads to it) down to
// KIND_DEPTH levels, named by their lemma that WordNet's glosses use most (one or two
// lowercase words whose first sense is this synset), ranked by that count (how often the
// default LM read it), the first KINDS_PER_CATEGORY kept. A synset or lemma reachable from two categories goes to the first
// in CATEGORIES' order; category names are never kinds.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDataLine } from './wordnet-corpus.mjs';

/**
 * The categories: a noun lemma, which names the category, and its sense number in WordNet 3.0's
 * index.noun, and the modifier groups its titles draw on.
 */
export const CATEGORIES = [
  { lemma: 'furniture', sense: 1, modifiers: ['style', 'colour', 'material'] },
  { lemma: 'home appliance', sense: 1, modifiers: ['style', 'colour'] },
  { lemma: 'kitchen utensil', sense: 1, modifiers: ['style', 'colour', 'material'] },
  { lemma: 'tableware', sense: 1, modifiers: ['style', 'colour', 'material'] },
  { lemma: 'hand tool', sense: 1, modifiers: ['style', 'colour', 'material'] },
  { lemma: 'garment', sense: 1, modifiers: ['style', 'colour', 'fabric'] },
  { lemma: 'footwear', sense: 2, modifiers: ['style', 'colour', 'fabric'] },
  { lemma: 'headdress', sense: 1, modifiers: ['style', 'colour', 'fabric'] },
  { lemma: 'bag', sense: 1, modifiers: ['style', 'colour', 'fabric'] },
  { lemma: 'jewelry', sense: 1, modifiers: ['style', 'precious'] },
  { lemma: 'toiletry', sense: 1, modifiers: ['style', 'scent'] },
  { lemma: 'musical instrument', sense: 1, modifiers: ['style', 'colour'] },
  { lemma: 'sports equipment', sense: 1, modifiers: ['style', 'colour'] },
  { lemma: 'motor vehicle', sense: 1, modifiers: ['style', 'colour'] },
  { lemma: 'vehicle', sense: 1, modifiers: ['style', 'colour'] },
  { lemma: 'beverage', sense: 1, modifiers: ['food'] },
  { lemma: 'edible fruit', sense: 1, modifiers: ['food'] },
  { lemma: 'vegetable', sense: 1, modifiers: ['food'] },
  { lemma: 'cake', sense: 3, modifiers: ['food'] },
  { lemma: 'bread', sense: 1, modifiers: ['food'] },
  { lemma: 'candy', sense: 1, modifiers: ['food'] },
];

/** Modifier groups; each word must be a WordNet adjective or noun lemma. */
export const MODIFIERS = {
  style: ['small', 'large', 'compact', 'portable', 'heavy', 'light', 'deluxe', 'modern', 'antique', 'elegant', 'sturdy'],
  colour: ['red', 'blue', 'green', 'black', 'white', 'brown', 'grey', 'yellow', 'pink', 'purple', 'orange', 'beige'],
  material: ['wooden', 'oak', 'pine', 'bamboo', 'plastic', 'metal', 'steel', 'brass', 'glass', 'ceramic'],
  fabric: ['cotton', 'woolen', 'leather', 'silk', 'linen', 'denim', 'suede', 'velvet', 'canvas', 'nylon'],
  precious: ['gold', 'silver', 'golden', 'platinum', 'copper', 'pearl', 'diamond', 'jade', 'amber'],
  scent: ['fragrant', 'scented', 'lavender', 'lemon', 'rose', 'vanilla', 'herbal', 'musky'],
  food: ['fresh', 'organic', 'homemade', 'imported', 'sweet', 'mild', 'dried', 'frozen', 'spicy', 'crisp', 'ripe', 'smoked'],
};

/** Subtrees (lemma, sense) no shop sells from: weapons of war, and garments as chores. */
export const SKIPPED_SUBTREES = [
  ['military vehicle', 1],
  ['warship', 1],
  ['missile', 1],
  ['rocket', 1],
  ['spacecraft', 1],
  ['laundry', 1],
  ['bag', 3], // a baseball base
];

/** Kinds that read as no product: chores, mourning clothes, a racist costume, parts of a ball field, loaves that are no bread. */
export const EXCLUDED_KINDS = ['ironing', 'mending', 'weeds', 'stays', 'blackface', 'plate', 'mound', 'buck', 'meat loaf', 'fish loaf'];

export const KIND_DEPTH = 3;
export const KINDS_PER_CATEGORY = 30;
const MAX_GLOSS = 90;
const LICENCE =
  'WordNet 3.0, (c) 2006 Princeton University, used under the WordNet 3.0 licence (its notice: models/default/LICENSE-WORDNET.txt)';

/** A data.noun line's synset: { offset, lexFile, lemmas, gloss, hypernyms (offsets of `@` and `@i` pointers to nouns) }. */
function parseSynset(line) {
  const synset = parseDataLine(line);
  if (!synset) return null;
  const fields = line.slice(0, line.indexOf(' | ')).split(' ');
  let i = 4 + 2 * Number.parseInt(fields[3], 16);
  const pointers = Number(fields[i++]);
  const hypernyms = [];
  for (let p = 0; p < pointers; p++, i += 4) {
    if (fields[i] === '@' && fields[i + 2] === 'n') hypernyms.push(fields[i + 1]);
  }
  return { offset: fields[0], lexFile: Number(fields[1]), ...synset, hypernyms };
}

/**
 * index.{noun,adj}: lemma (spaces, lowercase) -> its synset offsets in sense order, and
 * `tagged`, how many of its senses the sense-tagged corpus counted (their order is by
 * frequency; the untagged rest come in no meaningful order).
 */
function readIndex(file) {
  const index = new Map();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith(' ') || line.trim() === '') continue;
    const f = line.trim().split(' ');
    const pointers = Number(f[3]);
    const senses = Number(f[2]);
    const offsets = f.slice(4 + pointers + 2, 4 + pointers + 2 + senses);
    index.set(f[0].replaceAll('_', ' '), Object.assign(offsets, { tagged: Number(f[4 + pointers + 1]) }));
  }
  return index;
}

/** How often each one- and two-word sequence occurs in the glosses (lowercase words). */
function glossCounts(synsets) {
  const counts = new Map();
  const add = (k) => counts.set(k, (counts.get(k) ?? 0) + 1);
  for (const s of synsets) {
    const words = s.gloss.toLowerCase().split(/[^a-z-]+/).filter(Boolean);
    for (let i = 0; i < words.length; i++) {
      add(words[i]);
      if (i + 1 < words.length) add(`${words[i]} ${words[i + 1]}`);
    }
  }
  return counts;
}

const KIND = /^[a-z]+(?:[ -][a-z]+)?$/;

/**
 * The first clause of a gloss (before examples and ';'), without parenthetical remarks, at most
 * MAX_GLOSS characters: cut at its last comma before that, or else at a word, with no
 * dangling little word ('the', 'of') at the end.
 */
function shortGloss(gloss) {
  let g = gloss.split(/;|"/)[0].replace(/\s*\([^()]*\)/g, '').replace(/\s+/g, ' ').trim();
  if (g.length > MAX_GLOSS) {
    const comma = g.lastIndexOf(',', MAX_GLOSS);
    g = comma >= 40 ? g.slice(0, comma) : g.slice(0, g.lastIndexOf(' ', MAX_GLOSS));
    g = g.replace(/(?:\s+(?:a|an|the|of|to|and|or|with|for|by|in|on|at|from|as|that|which|is|are|especially|usually))+$/, '').trim();
  }
  return g;
}

/** The shop words of the WordNet in `dir`, as a plain object (see the file's opening comment). */
export function shopWords(dir) {
  const synsets = [];
  const file = path.join(dir, 'data.noun');
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      try {
        const s = parseSynset(line);
        if (s) synsets.push(s);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: ${e.message}`);
      }
    });
  const byOffset = new Map(synsets.map((s) => [s.offset, s]));
  const hyponyms = new Map();
  for (const s of synsets) for (const h of s.hypernyms) (hyponyms.get(h) ?? hyponyms.set(h, []).get(h)).push(s.offset);
  const nouns = readIndex(path.join(dir, 'index.noun'));
  const adjectives = readIndex(path.join(dir, 'index.adj'));
  const counts = glossCounts(synsets);

  for (const [group, words] of Object.entries(MODIFIERS)) {
    for (const w of words) if (!adjectives.has(w) && !nouns.has(w)) throw new Error(`modifier '${w}' (${group}) is not a WordNet lemma`);
  }
  const roots = CATEGORIES.map((c) => {
    const offset = nouns.get(c.lemma)?.[c.sense - 1];
    if (!offset) throw new Error(`no noun sense ${c.sense} of '${c.lemma}' in WordNet`);
    return { ...c, synset: byOffset.get(offset) };
  });
  const skipped = new Set(
    SKIPPED_SUBTREES.map(([lemma, sense]) => {
      const offset = nouns.get(lemma)?.[sense - 1];
      if (!offset) throw new Error(`no noun sense ${sense} of '${lemma}' in WordNet`);
      return offset;
    }),
  );
  const names = new Set(roots.map((r) => r.lemma));
  const rootOffsets = new Set(roots.map((r) => r.synset.offset));
  const takenSynsets = new Set(rootOffsets);
  const takenLemmas = new Set(names);
  const categories = roots.map((root) => {
    // breadth first, KIND_DEPTH levels: each reachable synset once, at its shallowest depth
    const candidates = [];
    const seen = new Set([root.synset.offset]);
    const head = root.lemma.split(' ').at(-1);
    let level = [root.synset.offset];
    for (let depth = 1; depth <= KIND_DEPTH; depth++) {
      const next = [];
      for (const o of level) {
        for (const h of hyponyms.get(o) ?? []) {
          if (seen.has(h) || rootOffsets.has(h) || skipped.has(h)) continue;
          seen.add(h);
          next.push(h);
          const s = byOffset.get(h);
          // a kind's word must mean this synset first (its only sense, or its most frequent
          // tagged one), so that its count is of this meaning ('bat' is the animal, 'horse' not
          // the gymnastics horse), and not be a mere sub-category named by the category's own
          // head word ('stringed instrument')
          const meansThis = (l) => {
            const senses = nouns.get(l);
            return senses?.[0] === h && (senses.length === 1 || senses.tagged > 0);
          };
          const lemmas = s.lemmas.filter((l) => KIND.test(l) && !names.has(l) && !EXCLUDED_KINDS.includes(l) && meansThis(l) && l.split(' ').at(-1) !== head);
          if (lemmas.length === 0) continue;
          const scored = lemmas.map((l) => ({ l, n: counts.get(l) ?? 0 })).sort((a, b) => b.n - a.n || a.l.localeCompare(b.l));
          candidates.push({ offset: h, kind: scored[0].l, count: scored[0].n, depth, gloss: shortGloss(s.gloss) });
        }
      }
      level = next;
    }
    candidates.sort((a, b) => b.count - a.count || a.depth - b.depth || a.kind.localeCompare(b.kind));
    const kinds = [];
    for (const c of candidates) {
      if (kinds.length >= KINDS_PER_CATEGORY) break;
      if (c.count < 1 || takenSynsets.has(c.offset) || takenLemmas.has(c.kind) || !c.gloss) continue;
      takenSynsets.add(c.offset);
      takenLemmas.add(c.kind);
      kinds.push({ kind: c.kind, gloss: c.gloss });
    }
    return { name: root.lemma, synset: root.synset.offset, gloss: shortGloss(root.synset.gloss), modifiers: root.modifiers, kinds };
  });
  for (const c of categories) if (c.kinds.length < 10) throw new Error(`category '${c.name}' has only ${c.kinds.length} kinds`);
  return { source: LICENCE, generator: 'scripts/demo-words.mjs', modifiers: MODIFIERS, categories };
}

/** The TypeScript module holding `words`: one kind a line, so that a regeneration diffs well. */
export function shopWordsModule(words) {
  const j = (v) => JSON.stringify(v);
  const lines = [
    '// Generated by scripts/demo-words.mjs from WordNet 3.0: do not edit. WordNet 3.0 (c) 2006 Princeton',
    '// University, under the WordNet 3.0 licence, whose notice is models/default/LICENSE-WORDNET.txt.',
    '',
    '/** A shop category: a WordNet noun synset and kinds of it (its hyponyms), each with its gloss. */',
    'export interface ShopCategory {',
    '  name: string;',
    '  /** The synset\'s offset in WordNet 3.0\'s data.noun. */',
    '  synset: string;',
    '  gloss: string;',
    '  /** The modifier groups its titles draw on. */',
    '  modifiers: string[];',
    '  kinds: { kind: string; gloss: string }[];',
    '}',
    '',
    'export interface ShopWords {',
    '  source: string;',
    '  generator: string;',
    '  modifiers: Record<string, string[]>;',
    '  categories: ShopCategory[];',
    '}',
    '',
    'export const SHOP_WORDS: ShopWords = {',
    `  source: ${j(words.source)},`,
    `  generator: ${j(words.generator)},`,
    '  modifiers: {',
    ...Object.entries(words.modifiers).map(([k, v]) => `    ${k}: ${j(v).replaceAll('","', '", "')},`),
    '  },',
    '  categories: [',
  ];
  for (const c of words.categories) {
    lines.push('    {');
    lines.push(`      name: ${j(c.name)},`, `      synset: ${j(c.synset)},`, `      gloss: ${j(c.gloss)},`);
    lines.push(`      modifiers: ${j(c.modifiers).replaceAll('","', '", "')},`);
    lines.push('      kinds: [');
    for (const k of c.kinds) lines.push(`        { kind: ${j(k.kind)}, gloss: ${j(k.gloss)} },`);
    lines.push('      ],', '    },');
  }
  lines.push('  ],', '};', '');
  return lines.join('\n');
}

function main() {
  const { values, positionals } = parseArgs({
    options: { wordnet: { type: 'string', default: '/usr/share/wordnet' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help || positionals.length > 1) {
    console.error('usage: node scripts/demo-words.mjs [--wordnet DIR] [OUT]');
    process.exit(values.help ? 0 : 2);
  }
  const out = positionals[0] ?? fileURLToPath(new URL('../src/data/shop-words.ts', import.meta.url));
  const words = shopWords(values.wordnet);
  const text = shopWordsModule(words);
  writeFileSync(out, text);
  const kinds = words.categories.reduce((n, c) => n + c.kinds.length, 0);
  console.error(`${words.categories.length} categories, ${kinds} kinds, ${Buffer.byteLength(text)} bytes -> ${out}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
