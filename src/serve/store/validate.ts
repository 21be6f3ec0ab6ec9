/**
 * Input checks shared by both backends, run before the database is touched, so that SQLite and
 * PostgreSQL refuse exactly the same things with the same codes. Ids and items are held to the
 * limits of src/data/limits.ts, the same that the readers, Recommender.fit, addItems and
 * addEvents apply: whatever `lmrec fit` accepts, the store accepts. Malformed arguments are
 * INVALID_ARGUMENT here.
 */
import { checkId as checkInputId, checkItemRecord, checkStorable } from '../../data/limits.js';
import type { EventRecord, ItemRecord } from '../../data/records.js';
import { LmrecError } from '../../errors.js';
import { STORE_LIMITS } from './store.js';

/** A non-empty id of at most STORE_LIMITS.idLength characters that both databases store as given. */
export function checkId(id: unknown, what: string): string {
  return checkInputId(id, what, 'INVALID_ARGUMENT');
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
  if (after !== undefined) checkStorable(after, 'items: after', 'INVALID_ARGUMENT');
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
  return checkItemRecord(item, 'INVALID_ARGUMENT');
}
