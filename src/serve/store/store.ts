/**
 * The service's storage: users' events (an append-only log in arrival order) and the item
 * catalog, in SQLite (embedded, the default) or PostgreSQL (several replicas on one database).
 * Both backends pass the same behavioural tests (test/store.test.ts). Every bad input is a typed
 * LmrecError before the database is touched (INVALID_ARGUMENT, NON_FINITE, INPUT_TOO_LONG,
 * REQUEST_TOO_LARGE past STORE_LIMITS), and so is every database failure: IO_ERROR (unreachable,
 * restarted, disk), BUSY (locked past the wait; worth a retry), CORRUPT_FILE (a damaged SQLite
 * file), UNSUPPORTED_VERSION (a schema from a newer lmrec), CLOSED.
 */
import { INPUT_LIMITS } from '../../data/limits.js';
import type { EventRecord, ItemRecord } from '../../data/records.js';
import { LmrecError } from '../../errors.js';

/**
 * One entry of the log as stored: `seq` orders every entry of the store by arrival, with no
 * reuse. An entry whose user is CATALOG_CHANGE says that `item` was put or deleted then (read
 * the item to learn which): item changes travel to every replica in the same order as events.
 */
export interface StoredEvent {
  /** The entry's place in the store's log: increasing, never reused. */
  seq: number;
  /** The user's id, or CATALOG_CHANGE ('') for an entry that records an item change. */
  user: string;
  /** The item's id (the item put or deleted, for a catalog change). */
  item: string;
  /** The event's time as sent, or the appending process's Date.now() (ms) when none was. */
  ts: number;
}

/** The user of a log entry that records a change of the catalog (no real user id is empty). */
export const CATALOG_CHANGE = '';

export function isCatalogChange(e: StoredEvent): boolean {
  return e.user === CATALOG_CHANGE;
}

export interface Store {
  /** The backend: 'sqlite' for a file path, 'postgres' for a postgres:// URL. */
  readonly kind: 'sqlite' | 'postgres';

  /**
   * Appends events in one transaction (all or none) and returns them as stored, in seq order.
   * Ids are non-empty strings, ts a finite number when given; more than STORE_LIMITS.batch
   * events is REQUEST_TOO_LARGE. If the connection breaks during PostgreSQL's COMMIT, the
   * IO_ERROR cannot say whether the batch was stored (eventsSince can).
   * @param events The events, in order: at most STORE_LIMITS.batch; without a ts, the arrival time (ms) is stored.
   */
  appendEvents(events: readonly EventRecord[]): Promise<StoredEvent[]>;

  /**
   * The user's most recent `limit` items (catalog changes are not a user's) (default STORE_LIMITS.defaultHistory), oldest first in
   * order of arrival; [] for a user with no events.
   * @param user The user's id.
   * @param limit The most items returned (default STORE_LIMITS.defaultHistory, at most STORE_LIMITS.read).
   */
  history(user: string, limit?: number): Promise<string[]>;

  /**
   * Up to `limit` events with seq > `seq`, in seq order: how a replica catches up after a
   * notification, a restart or a dropped connection. A seq past lastSeq() is UNKNOWN_ID (the
   * reader's position came from another or a reset store).
   * @param seq The last seq already read (0 for the start).
   * @param limit The most events returned, at most STORE_LIMITS.read.
   */
  eventsSince(seq: number, limit: number): Promise<StoredEvent[]>;

  /** The newest event's seq, 0 when there is none. */
  lastSeq(): Promise<number>;

  /**
   * Inserts or replaces an item (its fields whole), with a CATALOG_CHANGE entry in the log.
   * @param item The item record, held to the input limits.
   */
  putItem(item: ItemRecord): Promise<'created' | 'updated'>;

  /**
   * A new store's catalog: when the store holds no item, writes all of `items` in one
   * transaction and returns true; else writes nothing and returns false. Atomic against a crash
   * (all or none) and against replicas starting together (one imports, the others see it).
   * @param items The catalog to store, held to the input limits.
   */
  importCatalog(items: readonly ItemRecord[]): Promise<boolean>;

  /**
   * Removes an item, with a CATALOG_CHANGE entry in the log; false (and no entry) when there was none.
   * @param id The item's id.
   */
  deleteItem(id: string): Promise<boolean>;

  /**
   * The item, or undefined.
   * @param id The item's id.
   */
  item(id: string): Promise<ItemRecord | undefined>;

  /**
   * Up to `limit` items with id > `after` (all when undefined), by id in UTF-8 byte order.
   * @param after The last id of the previous page, or undefined for the first page.
   * @param limit The most items returned, at most STORE_LIMITS.read.
   */
  items(after: string | undefined, limit: number): Promise<ItemRecord[]>;

  /**
   * Calls `listener` with the newest seq after events are appended — through this store at
   * once, and through other stores on the same database: in other processes too (SQLite: within
   * `pollMs`; PostgreSQL: LISTEN/NOTIFY). Also called whenever PostgreSQL's notification
   * connection (re)starts, since events may have arrived unseen. The seq is a wake-up, not a
   * delivery: read eventsSince(lastApplied). Returns the function that removes the listener.
   * @param listener Called with the store's newest seq; what it throws is passed to the store's onError.
   */
  onEvents(listener: (lastSeq: number) => void): () => void;

  /** Closes the store; later calls reject with CLOSED. Safe to call twice. */
  close(): Promise<void>;
}

export interface StoreOptions {
  /**
   * Told about trouble off the caller's path (a dropped notification connection, a listener
   * that threw); the store carries on. Default: process.emitWarning.
   */
  onError?: (error: LmrecError) => void;
  /** SQLite: how long a write waits for another connection's lock (ms). Default 5000. */
  busyTimeoutMs?: number;
  /** SQLite: how often other connections' commits are looked for while listeners exist (ms). Default 250. */
  pollMs?: number;
  /** PostgreSQL: connections in the pool. Default 10. */
  poolSize?: number;
  /** PostgreSQL: how long connecting may take, and a statement may run (ms). Default 5000 / 30000. */
  connectTimeoutMs?: number;
  /** PostgreSQL: how long one statement may run before the server cancels it (ms). Default 30000. */
  statementTimeoutMs?: number;
  /** PostgreSQL: the longest wait between reconnection attempts of the notification connection (ms). Default 5000. */
  maxReconnectDelayMs?: number;
}

/** Bounds on every request, checked before the database is touched. */
export const STORE_LIMITS = {
  /** Events per appendEvents call. */
  batch: 10_000,
  /** Rows per history / eventsSince / items call. */
  read: 10_000,
  /** Items a history() call returns when no limit is given. */
  defaultHistory: 1_000,
  /**
   * Characters in a user or item id; fields per item, and characters in all of an item's names
   * and values together: the limits wherever data enters (src/data/limits.ts), so that the
   * store takes every model `fit` makes.
   */
  ...INPUT_LIMITS,
};

/** Options with every default filled in, as the backends take them. */
export type ResolvedStoreOptions = Required<Omit<StoreOptions, 'onError'>> & { onError: (error: LmrecError) => void };
