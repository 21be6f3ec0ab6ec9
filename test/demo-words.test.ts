import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateSynthetic, SHOP_CATEGORIES } from '../src/data/synthetic.js';
import { SHOP_WORDS } from '../src/data/shop-words.js';
// @ts-expect-error plain ESM script without types
import * as script from '../scripts/demo-words.mjs';

const { shopWords, shopWordsModule } = script as {
  shopWords(dir: string): unknown;
  shopWordsModule(words: unknown): string;
};

const MODULE = fileURLToPath(new URL('../src/data/shop-words.ts', import.meta.url));
// Debian's wordnet-base; the regeneration check runs where it is installed
const WORDNET = '/usr/share/wordnet';
const hasWordnet = existsSync(path.join(WORDNET, 'data.noun'));

describe("the demo's shop words", () => {
  const options = { items: 1500, users: 300, seed: 3, words: 'shop' as const };
  const data = generateSynthetic(options);
  const byName = new Map(SHOP_WORDS.categories.map((c) => [c.name, c]));

  it('is deterministic under a seed, and leaves the default (made-up words) alone', () => {
    expect(generateSynthetic(options)).toEqual(data);
    expect(generateSynthetic({ ...options, seed: 4 }).items.map((it) => it.title)).not.toEqual(data.items.map((it) => it.title));
    expect(generateSynthetic({ items: 5, users: 2, seed: 3 }).items[0]!.category).toMatch(/^c\d+$/);
    expect(generateSynthetic({ ...options, words: 'made-up' })).toEqual(generateSynthetic({ items: 1500, users: 300, seed: 3 }));
  });

  it("titles a modifier or two and a kind of the item's category, and describes it by the kind's gloss", () => {
    expect(new Set(data.items.map((it) => it.category)).size).toBe(SHOP_CATEGORIES);
    for (const it of data.items) {
      const category = byName.get(it.category)!;
      expect(category, it.category).toBeDefined();
      // one or two of the category's modifiers, then one of its kinds, whose gloss the text gives
      // (a title can end in two kinds: 'sturdy compact car', 'compact car' or 'car')
      const allowed = new Set(category.modifiers.flatMap((g) => SHOP_WORDS.modifiers[g]!));
      const modifiers = (kind: string) => it.title.slice(0, -kind.length - 1).split(' ');
      const kind = category.kinds.find(
        (k) =>
          it.title.endsWith(` ${k.kind}`) &&
          it.text === k.gloss &&
          modifiers(k.kind).length <= 2 &&
          modifiers(k.kind).every((m) => allowed.has(m)),
      );
      expect(kind, `${it.title} (${it.category}): ${it.text}`).toBeDefined();
    }
    // a title is drawn again when taken, so that the demo's lists read as distinct items
    expect(new Set(data.items.map((it) => it.title)).size).toBeGreaterThan(0.98 * data.items.length);
  });

  it('gives each category real kinds, each kind in one category only', () => {
    const kinds = SHOP_WORDS.categories.flatMap((c) => c.kinds.map((k) => k.kind));
    expect(new Set(kinds).size).toBe(kinds.length);
    for (const c of SHOP_WORDS.categories) {
      expect(c.name).toMatch(/^[a-z]+( [a-z]+)?$/);
      expect(c.synset).toMatch(/^\d{8}$/);
      expect(c.kinds.length).toBeGreaterThanOrEqual(10);
      expect(kinds).not.toContain(c.name);
    }
    expect(SHOP_WORDS.source).toMatch(/WordNet 3\.0.*licence.*LICENSE-WORDNET\.txt/);
    expect(readFileSync(MODULE).length).toBeLessThan(100_000);
  });

  it.skipIf(!hasWordnet)('is what scripts/demo-words.mjs makes of WordNet, whose nouns name the categories', () => {
    expect(shopWordsModule(shopWords(WORDNET))).toBe(readFileSync(MODULE, 'utf8'));
    const nouns = readFileSync(path.join(WORDNET, 'index.noun'), 'utf8');
    for (const c of SHOP_WORDS.categories) {
      // a noun of WordNet's, one of whose senses is the category's synset
      const entry = nouns.split('\n').find((l) => l.startsWith(`${c.name.replaceAll(' ', '_')} n `));
      expect(entry, c.name).toBeDefined();
      expect(entry!.split(' '), c.name).toContain(c.synset);
    }
  });

  it('keeps each user to a few categories', () => {
    const category = new Map(data.items.map((it) => [it.id, it.category]));
    const histories = new Map<string, string[]>();
    for (const e of data.events) (histories.get(e.user) ?? histories.set(e.user, []).get(e.user)!).push(category.get(e.item)!);
    let share = 0;
    let users = 0;
    for (const h of histories.values()) {
      if (h.length < 10) continue;
      const counts = new Map<string, number>();
      for (const c of h) counts.set(c, (counts.get(c) ?? 0) + 1);
      const top3 = [...counts.values()].sort((a, b) => b - a).slice(0, 3);
      share += top3.reduce((a, b) => a + b, 0) / h.length;
      users++;
    }
    expect(users).toBeGreaterThan(100);
    // three of 21 categories would hold about a sixth of a history drawn at random
    expect(share / users).toBeGreaterThan(0.85);
  });

  it('rejects more topics than the shop has categories, and unknown words', () => {
    expect(() => generateSynthetic({ ...options, topics: SHOP_CATEGORIES + 1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(generateSynthetic({ ...options, topics: 2 }).items.every((it) => it.category === SHOP_WORDS.categories[0]!.name || it.category === SHOP_WORDS.categories[1]!.name)).toBe(true);
    expect(() => generateSynthetic({ ...options, words: 'klingon' as 'shop' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
