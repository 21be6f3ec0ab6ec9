/**
 * The recommender's catalog: string item ids <-> dense item numbers (the SRM's rows), each
 * item's fields, and the item lists that field filters admit (built once per field value).
 */
import { LmrecError } from '../errors.js';
import { IdMap } from '../data/interactions.js';
import type { ItemRecord } from '../data/records.js';

/** Filters on item fields: every field listed must equal the value (or one of the values). */
export type FieldFilter = Record<string, string | readonly string[]>;

export class Catalog {
  readonly ids = new IdMap();
  readonly fields: Record<string, string>[] = [];
  // field -> value -> item numbers, built on first use and extended by add()
  readonly #byField = new Map<string, Map<string, number[]>>();
  // fieldNames(), kept: reading every item's fields on each added item cost the JS thread
  // milliseconds per add on a large catalog. Added items can only append names; setFields drops it.
  #names: Set<string> | undefined;

  constructor(records: Iterable<ItemRecord> = []) {
    this.add(records);
  }

  get size(): number {
    return this.ids.size;
  }

  /** Appends records; INVALID_DATA for an id already present (nothing is added then). */
  add(records: Iterable<ItemRecord>): number[] {
    const list = [...records];
    const seen = new Set<string>();
    for (const r of list) {
      if (typeof r?.id !== 'string' || r.id.length === 0) throw new LmrecError('every item needs a non-empty string id', 'INVALID_DATA');
      if (this.ids.get(r.id) !== undefined || seen.has(r.id)) throw new LmrecError(`item '${r.id}' is already in the catalog`, 'DUPLICATE_ID');
      seen.add(r.id);
    }
    const added: number[] = [];
    for (const r of list) {
      const i = this.ids.add(r.id);
      this.fields.push({ ...r.fields });
      if (this.#names) for (const name of Object.keys(r.fields)) this.#names.add(name);
      for (const [field, values] of this.#byField) {
        const v = r.fields[field];
        if (v !== undefined) (values.get(v) ?? values.set(v, []).get(v)!).push(i);
      }
      added.push(i);
    }
    return added;
  }

  /** Replaces item i's fields, keeping the built filter lists in step. */
  setFields(i: number, fields: Record<string, string>): void {
    const old = this.fields[i]!;
    for (const [field, values] of this.#byField) {
      if (old[field] === fields[field]) continue;
      if (old[field] !== undefined) {
        const list = values.get(old[field])!;
        list.splice(list.indexOf(i), 1);
      }
      if (fields[field] !== undefined) (values.get(fields[field]) ?? values.set(fields[field], []).get(fields[field])!).push(i);
    }
    this.fields[i] = { ...fields };
    this.#names = undefined;
  }

  /** The names of the fields items have, in order of first appearance. */
  fieldNames(): string[] {
    if (!this.#names) {
      this.#names = new Set<string>();
      for (const f of this.fields) for (const name of Object.keys(f)) this.#names.add(name);
    }
    return [...this.#names];
  }

  /**
   * The item numbers a field filter admits, sorted. INVALID_ARGUMENT for a field no item has:
   * a typo'd field name would otherwise answer nothing, silently (an unknown value does answer nothing).
   */
  matching(filter: FieldFilter): number[] {
    let out: number[] | undefined;
    for (const [field, want] of Object.entries(filter)) {
      const values = typeof want === 'string' ? [want] : want;
      if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) {
        throw new LmrecError(`filter.${field} must be a string or an array of strings`, 'INVALID_ARGUMENT');
      }
      const index = this.#index(field);
      if (!hasItems(index)) {
        const names = this.fieldNames();
        throw new LmrecError(`filter.${field}: no item has a field '${field}' (the catalog's fields: ${names.length > 0 ? names.join(', ') : 'none'})`, 'INVALID_ARGUMENT');
      }
      const items = values.flatMap((v) => index.get(v) ?? []).sort((a, b) => a - b);
      out = out === undefined ? items : intersect(out, items);
    }
    return out ?? [];
  }

  #index(field: string): Map<string, number[]> {
    let index = this.#byField.get(field);
    if (!index) {
      index = new Map();
      this.fields.forEach((f, i) => {
        const v = f[field];
        if (v !== undefined) (index!.get(v) ?? index!.set(v, []).get(v)!).push(i);
      });
      this.#byField.set(field, index);
    }
    return index;
  }
}

/** Whether any value of a field's index lists an item (lists emptied by setFields stay in it). */
function hasItems(index: Map<string, number[]>): boolean {
  for (const items of index.values()) if (items.length > 0) return true;
  return false;
}

function intersect(a: number[], b: number[]): number[] {
  const set = new Set(b);
  return a.filter((x) => set.has(x));
}
