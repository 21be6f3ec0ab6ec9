/**
 * Input checks shared by both backends, run before the database is touched, so that SQLite and
 * PostgreSQL refuse exactly the same things with the same codes.
 */
import type { EventRecord, ItemRecord } from '../../data/records.js';
import { LmrecError } from '../../errors.js';
import { STORE_LIMITS } from './store.js';

// NUL (PostgreSQL's text cannot hold it) and unpaired UTF-16 surrogates (both drivers would
// store U+FFFD, turning two different ids into one); in 'u' mode this class matches only those
const UNSTORABLE = /[\0\uD800-\uDFFF]/u;

function checkStorable(text: string, what: string): void {
  if (UNSTORABLE.test(text)) throw new LmrecError(`${what} contains a NUL character or an unpaired surrogate`, 'INVALID_ARGUMENT');
}

/** A non-empty id of at most STORE_LIMITS.idLength characters that both databases store as given. */
export function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new LmrecError(`${what} must be a non-empty string`, 'INVALID_ARGUMENT');
  if (id.length > STORE_LIMITS.idLength) {
    throw new LmrecError(`${what} is ${id.length} characters long, more than ${STORE_LIMITS.idLength}`, 'INPUT_TOO_LONG');
  }
  checkStorable(id, what);
  return id;
}

/** A row count for a read: a positive integer up to STORE_LIMITS.read. */
export function checkLimit(limit: unknown, what: string): number {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
    throw new LmrecError(`${what} must be a positive integer, not ${String(limit)}`, 'INVALID_ARGUMENT');
  }
  if (limit > STORE_LIMITS.read) throw new LmrecError(`${what} ${limit} is more than ${STORE_LIMITS.read} rows`, 'REQUEST_TOO_LARGE');
  return limit;
}

/** A paging position: undefined (from the start) or a storable string. */
export function checkCursor(after: unknown): string | undefined {
  if (after !== undefined && typeof after !== 'string') throw new LmrecError('items: after must be a string or undefined', 'INVALID_ARGUMENT');
  if (after !== undefined) checkStorable(after, 'items: after');
  return after;
}

/** A log position: 0 (before the first event) or a seq. */
export function checkSeq(seq: unknown): number {
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw new LmrecError(`seq must be a non-negative integer, not ${String(seq)}`, 'INVALID_ARGUMENT');
  }
  return seq;
}

/** The events checked and given their time: ts as sent, or `now` for those without. */
export function checkEvents(events: unknown, now: number): Required<EventRecord>[] {
  if (!Array.isArray(events)) throw new LmrecError('events must be an array', 'INVALID_ARGUMENT');
  if (events.length > STORE_LIMITS.batch) {
    throw new LmrecError(`${events.length} events in one batch, more than ${STORE_LIMITS.batch}`, 'REQUEST_TOO_LARGE');
  }
  return events.map((e: Partial<EventRecord> | null, i) => {
    if (typeof e !== 'object' || e === null) throw new LmrecError(`event ${i} is not an object`, 'INVALID_ARGUMENT');
    const user = checkId(e.user, `event ${i}: user`);
    const item = checkId(e.item, `event ${i}: item`);
    if (e.ts === undefined) return { user, item, ts: now };
    if (typeof e.ts !== 'number') throw new LmrecError(`event ${i}: ts must be a number`, 'INVALID_ARGUMENT');
    if (!Number.isFinite(e.ts)) throw new LmrecError(`event ${i}: ts is not finite`, 'NON_FINITE');
    return { user, item, ts: e.ts };
  });
}

/** An item with string fields, bounded in count and size; the fields copied. */
export function checkItem(item: unknown): ItemRecord {
  if (typeof item !== 'object' || item === null) throw new LmrecError('the item must be an object', 'INVALID_ARGUMENT');
  const { id, fields } = item as Partial<ItemRecord>;
  checkId(id, 'the item id');
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new LmrecError(`item '${id}': fields must be an object of strings`, 'INVALID_ARGUMENT');
  }
  const entries = Object.entries(fields);
  if (entries.length > STORE_LIMITS.fields) {
    throw new LmrecError(`item '${id}' has ${entries.length} fields, more than ${STORE_LIMITS.fields}`, 'REQUEST_TOO_LARGE');
  }
  let chars = 0;
  for (const [name, value] of entries) {
    if (typeof value !== 'string') throw new LmrecError(`item '${id}': field '${name}' is not a string`, 'INVALID_ARGUMENT');
    if (name.length === 0) throw new LmrecError(`item '${id}': a field has an empty name`, 'INVALID_ARGUMENT');
    checkStorable(name, `item '${id}': a field name`);
    checkStorable(value, `item '${id}': field '${name}'`);
    chars += name.length + value.length;
  }
  if (chars > STORE_LIMITS.fieldChars) {
    throw new LmrecError(`item '${id}': fields hold ${chars} characters, more than ${STORE_LIMITS.fieldChars}`, 'INPUT_TOO_LONG');
  }
  return { id: id as string, fields: Object.fromEntries(entries) };
}
