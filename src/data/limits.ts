/**
 * The one set of limits on the data lmrec takes in, checked wherever data enters: the file
 * readers (readItems, readEvents), Recommender.fit with records given as arrays,
 * Recommender.addItems and addEvents, and the service's store (HTTP and the catalog import of
 * `lmrec serve`). Whatever `fit` accepts, `serve` stores.
 *
 * - An id (user or item) is a non-empty string of at most 1,024 characters.
 * - An item has at most 256 fields, each a non-empty name and a string value; its names and
 *   values hold at most 65,536 characters together.
 * - No id, field name or value holds NUL (PostgreSQL's text cannot) or an unpaired UTF-16
 *   surrogate (both databases would store U+FFFD, turning two different ids into one).
 *
 * A value too long is INPUT_TOO_LONG and too many fields REQUEST_TOO_LARGE, wherever it enters.
 * Anything else malformed takes the caller's code: INVALID_DATA for data (files, the records
 * given to fit, addItems and addEvents), INVALID_ARGUMENT for the store's arguments.
 */
import { LmrecError } from '../errors.js';
import type { EventRecord, ItemRecord } from './record-shapes.js';

export const INPUT_LIMITS = {
  /** Characters in a user or item id. */
  idLength: 1_024,
  /** Fields per item. */
  fields: 256,
  /** Characters in all of an item's field names and values together. */
  fieldChars: 65_536,
} as const;

/** The code of a malformed input that no limit names: INVALID_DATA for data, INVALID_ARGUMENT for arguments. */
export type MalformedCode = 'INVALID_DATA' | 'INVALID_ARGUMENT';

/** The shape an item record has, for error messages. */
export const ITEM_SHAPE = "{ id: 'i1', fields: { title: '...', text: '...' } }";

// NUL and unpaired UTF-16 surrogates; in 'u' mode this class matches only those (a pair is one code point)
const UNSTORABLE = /[\0\uD800-\uDFFF]/u;

/** INVALID_DATA / INVALID_ARGUMENT when `text` holds NUL or an unpaired surrogate. */
export function checkStorable(text: string, what: string, code: MalformedCode): void {
  if (UNSTORABLE.test(text)) throw new LmrecError(`${what} contains a NUL character or an unpaired surrogate`, code);
}

/** A non-empty id of at most INPUT_LIMITS.idLength characters that both databases store as given. */
export function checkId(id: unknown, what: string, code: MalformedCode): string {
  if (typeof id !== 'string' || id.length === 0) throw new LmrecError(`${what} must be a non-empty string`, code);
  if (id.length > INPUT_LIMITS.idLength) {
    throw new LmrecError(`${what} is ${id.length} characters long, more than ${INPUT_LIMITS.idLength}`, 'INPUT_TOO_LONG');
  }
  checkStorable(id, what, code);
  return id;
}

/**
 * An item record within the limits: a copy, its fields copied. `what` names the item in
 * messages when its id cannot ('item 3'; default 'the item').
 */
export function checkItemRecord(item: unknown, code: MalformedCode, what = 'the item'): ItemRecord {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new LmrecError(`${what} must be an object like ${ITEM_SHAPE}`, code);
  }
  const { id, fields } = item as Partial<ItemRecord>;
  checkId(id, `${what}'s id`, code);
  const name = `item '${id}'`;
  if (fields === undefined) {
    const flat = Object.keys(item).filter((k) => k !== 'id');
    throw new LmrecError(
      `${name} has no 'fields': an item is ${ITEM_SHAPE}` + (flat.length > 0 ? ` (put ${flat.map((k) => `'${k}'`).join(', ')} in 'fields')` : ''),
      code,
    );
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new LmrecError(`${name}: 'fields' must be an object of strings, as in ${ITEM_SHAPE}`, code);
  }
  const entries = Object.entries(fields);
  if (entries.length > INPUT_LIMITS.fields) {
    throw new LmrecError(`${name} has ${entries.length} fields, more than ${INPUT_LIMITS.fields}`, 'REQUEST_TOO_LARGE');
  }
  let chars = 0;
  for (const [field, value] of entries) {
    if (typeof value !== 'string') throw new LmrecError(`${name}: field '${field}' is not a string`, code);
    if (field.length === 0) throw new LmrecError(`${name}: a field has an empty name`, code);
    checkStorable(field, `${name}: a field name`, code);
    checkStorable(value, `${name}: field '${field}'`, code);
    chars += field.length + value.length;
  }
  if (chars > INPUT_LIMITS.fieldChars) {
    throw new LmrecError(`${name}: fields hold ${chars} characters, more than ${INPUT_LIMITS.fieldChars}`, 'INPUT_TOO_LONG');
  }
  return { id: id as string, fields: Object.fromEntries(entries) };
}

/** The event itself once its user and item ids are within the limits (ts is checked where it is used). */
export function checkEventRecord(event: unknown, code: MalformedCode, what = 'the event'): EventRecord {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new LmrecError(`${what} is not an object`, code);
  const e = event as Partial<EventRecord>;
  checkId(e.user, `${what}: user`, code);
  checkId(e.item, `${what}: item`, code);
  return e as EventRecord;
}
