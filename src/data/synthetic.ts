/**
 * A seeded synthetic catalog and interaction log whose text carries signal, for tests and
 * demos (never for judging quality: that needs real data).
 *  - items belong to latent topics; titles and descriptions draw most words from their topic's
 *    vocabulary and the rest from shared noise words;
 *  - each user prefers a few topics and moves between them with a Markov habit (mostly stays,
 *    sometimes switches, rarely strays);
 *  - popularity within a topic is Zipf-like.
 * The same options and seed give the same files.
 */
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { Random } from '../util/random.js';
import type { EventRecord, ItemRecord } from './records.js';

export interface SyntheticOptions {
  items: number;
  users: number;
  topics?: number;
  /** Events per user are uniform in [min, max]. */
  eventsPerUser?: [number, number];
  /** Zipf exponent of popularity within a topic. */
  zipf?: number;
  seed?: number;
}

export type SyntheticFields = {
  title: string;
  text: string;
  /** The latent topic's name ('c3'), for category filters. */
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

  /** The latent topic's name ('c3'), for category filters. */
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

export function generateSynthetic(o: SyntheticOptions): SyntheticData {
  const topics = o.topics ?? 20;
  const [minEvents, maxEvents] = o.eventsPerUser ?? [5, 30];
  for (const [name, v, min] of [['items', o.items, 1], ['users', o.users, 1], ['topics', topics, 1], ['eventsPerUser', minEvents, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new LmrecError(`synthetic ${name} must be an integer >= ${min}`, 'INVALID_ARGUMENT');
  }
  if (!Number.isInteger(maxEvents) || maxEvents < minEvents) throw new LmrecError('eventsPerUser must be [min, max] with max >= min', 'INVALID_ARGUMENT');
  const rng = new Random(o.seed ?? 1);
  const vocab = Array.from({ length: topics }, () => Array.from({ length: 30 }, () => word(rng)));
  const noise = Array.from({ length: 200 }, () => word(rng));
  const phrase = (topic: number, n: number, topical: number) =>
    Array.from({ length: n }, () => (rng.next() < topical ? vocab[topic]![rng.int(30)] : noise[rng.int(noise.length)])).join(' ');

  const itemTopic = Int32Array.from({ length: o.items }, () => rng.int(topics));
  const items = Array.from(
    itemTopic,
    (topic, i) =>
      new SyntheticItem(`i${i}`, {
        title: phrase(topic, 3 + rng.int(3), 0.8),
        text: phrase(topic, 12 + rng.int(9), 0.7),
        category: `c${topic}`,
      }),
  );
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
