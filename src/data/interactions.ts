/**
 * Interaction logs as the models need them: string ids mapped to dense integers, and each
 * user's events ordered by time.
 */
import { LmrecError } from '../errors.js';
import { readEvents, readItems, type EventRecord } from './records.js';

/** String ids <-> dense integers 0..size-1, in order of first appearance. */
export class IdMap {
  readonly #index = new Map<string, number>();
  readonly #names: string[] = [];

  get size(): number {
    return this.#names.length;
  }

  /**
   * The id's integer, assigning the next one if it is new.
   * @param name The id.
   */
  add(name: string): number {
    let i = this.#index.get(name);
    if (i === undefined) {
      i = this.#names.length;
      this.#index.set(name, i);
      this.#names.push(name);
    }
    return i;
  }

  /**
   * The id's integer, or undefined when unknown.
   * @param name The id.
   */
  get(name: string): number | undefined {
    return this.#index.get(name);
  }

  /**
   * The id of integer i; UNKNOWN_ID when i was never assigned.
   * @param i An integer the map assigned, 0..size-1.
   */
  name(i: number): string {
    const n = this.#names[i];
    if (n === undefined) throw new LmrecError(`no id has the number ${i} (${this.size} known)`, 'UNKNOWN_ID');
    return n;
  }
}

export interface Interactions {
  /** User ids and their integers, in order of first appearance. */
  users: IdMap;
  /** Item ids and their integers: the catalog's when one was given, else in order of first appearance. */
  items: IdMap;
  /**
   * Per user (by its integer), item integers oldest first; equal timestamps keep file order,
   * and so do events without timestamps.
   */
  sequences: Int32Array[];
  /** Events kept (their item is known). */
  events: number;
  /** Events skipped because their item is not in the catalog. */
  unknownItems: number;
}

/**
 * The item ids of a catalog file, in file order.
 * @param itemsFile A catalog file (.jsonl or .csv, as readItems reads it).
 */
export async function readCatalogIds(itemsFile: string): Promise<IdMap> {
  const items = new IdMap();
  for await (const item of readItems(itemsFile)) items.add(item.id);
  return items;
}

/**
 * Reads an events file. With `items` (a catalog), events whose item is not in it are skipped
 * and counted; without it, every item seen becomes known.
 * @param eventsFile An events file (.jsonl or .csv, as readEvents reads it).
 * @param options The catalog to hold the events to.
 * @param options.items The catalog's ids (readCatalogIds); without it every item seen is known.
 */
export async function readInteractions(eventsFile: string, options: { items?: IdMap } = {}): Promise<Interactions> {
  return collectInteractions(readEvents(eventsFile), options);
}

/**
 * The same from events already in memory (or any stream of them): every event has a `ts` or
 * none does (INVALID_DATA otherwise).
 * @param events Event records, in arrival order (an array, or an async stream such as readEvents).
 * @param options The catalog to hold the events to.
 * @param options.items The catalog's ids; without it every item seen is known (and added to a new map).
 */
export async function collectInteractions(
  events: Iterable<EventRecord> | AsyncIterable<EventRecord>,
  options: { items?: IdMap } = {},
): Promise<Interactions> {
  const users = new IdMap();
  const items = options.items ?? new IdMap();
  const perUser: { ts: number[]; item: number[] }[] = [];
  let count = 0;
  let unknownItems = 0;
  let timed: boolean | undefined;
  for await (const e of events) {
    const at = count + unknownItems;
    timed ??= e.ts !== undefined;
    if (timed !== (e.ts !== undefined)) {
      throw new LmrecError(`event ${at} ${timed ? 'has no ts, but the first has one' : 'has a ts, but the first has none'}`, 'INVALID_DATA');
    }
    if (e.ts !== undefined && !Number.isFinite(e.ts)) throw new LmrecError(`event ${at}: ts must be a finite number, got ${e.ts}`, 'INVALID_DATA');
    const item = options.items ? items.get(e.item) : items.add(e.item);
    if (item === undefined) {
      unknownItems++;
      continue;
    }
    const u = users.add(e.user);
    const list = (perUser[u] ??= { ts: [], item: [] });
    list.ts.push(e.ts ?? 0); // untimed: all equal, so file order
    list.item.push(item);
    count++;
  }
  const sequences = perUser.map(({ ts, item }) => {
    const order = ts.map((_, i) => i).sort((a, b) => ts[a]! - ts[b]! || a - b);
    return Int32Array.from(order, (i) => item[i]!);
  });
  return { users, items, sequences, events: count, unknownItems };
}
