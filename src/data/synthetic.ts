/**
 * A seeded synthetic catalog and interaction log whose text carries signal, for tests and
 * demos (never for judging quality: that needs real data).
 *  - items belong to latent topics; titles and descriptions draw most words from their topic's
 *    vocabulary and the rest from shared noise words;
 *  - each user prefers a few topics and moves between them with a Markov habit (mostly stays,
 *    sometimes switches, rarely strays);
 *  - popularity within a topic is Zipf-like.
 * By default the words are made up ('loru daka'); `words: 'shop'` makes a shop of real English
 * instead, for the demo: the topics are shop categories from WordNet (furniture, footwear,
 * musical instrument, bread...) and a title is a modifier or two and a kind of its category
 * ('small oak rocking chair'), its text the kind's WordNet gloss, a description
 * ('a chair mounted on rockers'; src/data/shop-words.ts).
 * The same options and seed give the same files.
 */
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { Random } from '../util/random.js';
import type { EventRecord, ItemRecord } from './records.js';
import { SHOP_WORDS } from './shop-words.js';

export interface SyntheticOptions {
  /** Catalog size: items i0 … i(items-1). */
  items: number;
  /** Users u0 … u(users-1), each with a history of events. */
  users: number;
  /** Default 20; with `words: 'shop'`, every shop category (the first `topics` when given, at most all). */
  topics?: number;
  /** Events per user are uniform in [min, max]. Default [5, 30]. */
  eventsPerUser?: [number, number];
  /** Zipf exponent of popularity within a topic. Default 1. */
  zipf?: number;
  /** Seed of the generator: the same options and seed give the same data. Default 1. */
  seed?: number;
  /**
   * 'made-up' (default): titles and texts of made-up words, topics named 'c0', 'c1', ...
   * 'shop': real English words from WordNet, which the bundled default LM has read: topics are
   * shop categories ('furniture'), titles a modifier or two and a kind of the category ('small
   * oak rocking chair'), texts the kind's gloss ('a chair mounted on rockers').
   */
  words?: 'made-up' | 'shop';
}

/** How many topics `words: 'shop'` has at most: the shop categories in src/data/shop-words.ts. */
export const SHOP_CATEGORIES = SHOP_WORDS.categories.length;

export type SyntheticFields = {
  title: string;
  text: string;
  /** The latent topic's name ('c3', or a shop category such as 'furniture'), for category filters. */
  category: string;
};

/**
 * An item record (`{ id, fields }`, what Recommender.fit, addItems and the service take), with
 * its fields also readable as `item.title`, `item.text` and `item.category`. Those are getters
 * on the prototype: spread, JSON and structuredClone see only `id` and `fields`.
 */
export class SyntheticItem implements ItemRecord {
  constructor(
    readonly id: string,
    readonly fields: SyntheticFields,
  ) {}

  get title(): string {
    return this.fields.title;
  }

  get text(): string {
    return this.fields.text;
  }

  /** The latent topic's name ('c3', or a shop category such as 'furniture'), for category filters. */
  get category(): string {
    return this.fields.category;
  }
}

export interface SyntheticData {
  /** Item records, ready for `Recommender.fit({ items, events })`. */
  items: SyntheticItem[];
  /** Time-ordered within each user; users in order. */
  events: Required<EventRecord>[];
  /** The latent topic of each item (by index in `items`). */
  itemTopic: Int32Array;
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'zu', 'pe', 'da', 'gi', 'ho', 'ju', 'be', 'fa'];

function word(rng: Random): string {
  const n = 2 + rng.int(2);
  let w = '';
  for (let i = 0; i < n; i++) w += SYLLABLES[rng.int(SYLLABLES.length)];
  return w;
}

/** Samples an index with probability proportional to weights (cumulative, binary search). */
function sampler(weights: number[]): (rng: Random) => number {
  const cum: number[] = [];
  let total = 0;
  for (const w of weights) cum.push((total += w));
  return (rng) => {
    const x = rng.next() * total;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** Items of made-up words: each topic has its vocabulary, and noise words are shared. */
function madeUpItems(count: number, topics: number, rng: Random): { items: SyntheticItem[]; itemTopic: Int32Array } {
  const vocab = Array.from({ length: topics }, () => Array.from({ length: 30 }, () => word(rng)));
  const noise = Array.from({ length: 200 }, () => word(rng));
  const phrase = (topic: number, n: number, topical: number) =>
    Array.from({ length: n }, () => (rng.next() < topical ? vocab[topic]![rng.int(30)] : noise[rng.int(noise.length)])).join(' ');

  const itemTopic = Int32Array.from({ length: count }, () => rng.int(topics));
  const items = Array.from(
    itemTopic,
    (topic, i) =>
      new SyntheticItem(`i${i}`, {
        title: phrase(topic, 3 + rng.int(3), 0.8),
        text: phrase(topic, 12 + rng.int(9), 0.7),
        category: `c${topic}`,
      }),
  );
  return { items, itemTopic };
}

/**
 * Items of a shop, from the first `topics` categories of SHOP_WORDS: a title is one or two
 * modifiers (of distinct groups of the category's, in the groups' order, none a word of the
 * kind) and a kind of the category, the text the kind's gloss; a title already taken is drawn
 * again, a few times at most.
 */
function shopItems(count: number, topics: number, rng: Random): { items: SyntheticItem[]; itemTopic: Int32Array } {
  const categories = SHOP_WORDS.categories.slice(0, topics);
  const taken = new Set<string>();
  const itemTopic = Int32Array.from({ length: count }, () => rng.int(topics));
  const items = Array.from(itemTopic, (topic, i) => {
    const category = categories[topic]!;
    let title = '';
    let gloss = '';
    for (let attempt = 0; attempt < 5 && (title === '' || taken.has(title)); attempt++) {
      const { kind, gloss: g } = category.kinds[rng.int(category.kinds.length)]!;
      const groups = category.modifiers;
      const n = Math.min(groups.length, 1 + rng.int(2));
      const chosen = new Set<number>();
      while (chosen.size < n) chosen.add(rng.int(groups.length));
      const kindWords = new Set(kind.split(/[ -]/));
      const modifiers = [...chosen]
        .sort((a, b) => a - b)
        .map((group) => {
          const words = SHOP_WORDS.modifiers[groups[group]!]!.filter((w) => !kindWords.has(w));
          return words[rng.int(words.length)]!;
        });
      title = [...modifiers, kind].join(' ');
      gloss = g;
    }
    taken.add(title);
    return new SyntheticItem(`i${i}`, { title, text: gloss, category: category.name });
  });
  return { items, itemTopic };
}

export function generateSynthetic(o: SyntheticOptions): SyntheticData {
  const shop = o.words === 'shop';
  if (o.words !== undefined && o.words !== 'shop' && o.words !== 'made-up') {
    throw new LmrecError(`synthetic words must be 'made-up' or 'shop', got '${String(o.words)}'`, 'INVALID_ARGUMENT');
  }
  const topics = o.topics ?? (shop ? SHOP_CATEGORIES : 20);
  const [minEvents, maxEvents] = o.eventsPerUser ?? [5, 30];
  for (const [name, v, min] of [['items', o.items, 1], ['users', o.users, 1], ['topics', topics, 1], ['eventsPerUser', minEvents, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new LmrecError(`synthetic ${name} must be an integer >= ${min}`, 'INVALID_ARGUMENT');
  }
  if (!Number.isInteger(maxEvents) || maxEvents < minEvents) throw new LmrecError('eventsPerUser must be [min, max] with max >= min', 'INVALID_ARGUMENT');
  if (shop && topics > SHOP_CATEGORIES) throw new LmrecError(`synthetic topics must be at most ${SHOP_CATEGORIES} (the shop categories) with words 'shop'`, 'INVALID_ARGUMENT');
  const rng = new Random(o.seed ?? 1);
  const { items, itemTopic } = shop ? shopItems(o.items, topics, rng) : madeUpItems(o.items, topics, rng);
  // Zipf popularity within each topic, over a random ranking of its items
  const byTopic: number[][] = Array.from({ length: topics }, () => []);
  itemTopic.forEach((t, i) => byTopic[t]!.push(i));
  const pick = byTopic.map((members) => {
    const ranks = members.map(() => rng.next());
    const order = members.map((_, j) => j).sort((a, b) => ranks[a]! - ranks[b]!);
    const weights = new Array<number>(members.length);
    order.forEach((j, rank) => (weights[j] = 1 / (rank + 1) ** (o.zipf ?? 1)));
    return members.length ? sampler(weights) : undefined;
  });
  const nonEmpty = byTopic.map((m, t) => (m.length ? t : -1)).filter((t) => t >= 0);

  const events: Required<EventRecord>[] = [];
  let clock = 1_700_000_000;
  for (let u = 0; u < o.users; u++) {
    const preferred = Array.from({ length: 2 + rng.int(2) }, () => nonEmpty[rng.int(nonEmpty.length)]!);
    let topic = preferred[0]!;
    const n = minEvents + rng.int(maxEvents - minEvents + 1);
    let ts = clock + rng.int(86_400);
    for (let e = 0; e < n; e++) {
      const r = rng.next();
      if (r > 0.95) topic = nonEmpty[rng.int(nonEmpty.length)]!; // strays
      else if (r > 0.7) topic = preferred[rng.int(preferred.length)]!; // switches habit
      const item = byTopic[topic]![pick[topic]!(rng)]!;
      ts += 60 + rng.int(3600);
      events.push({ user: `u${u}`, item: items[item]!.id, ts });
    }
    clock += 600;
  }
  return { items, events, itemTopic };
}

/**
 * Writes `items.jsonl` (`{"id", "title", "text", "category"}` a line, as readItems takes it) and
 * `events.jsonl` into dir (created if needed; each file atomically and durably) and returns the
 * data. IO_ERROR when they cannot be written.
 */
export function writeSynthetic(dir: string, o: SyntheticOptions): SyntheticData {
  const data = generateSynthetic(o);
  const write = (name: string, lines: unknown[]) => writeFileAtomic(path.join(dir, name), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  write('items.jsonl', data.items.map((it) => ({ id: it.id, ...it.fields })));
  write('events.jsonl', data.events);
  return data;
}
