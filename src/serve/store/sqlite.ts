/**
 * The embedded store: one SQLite file through better-sqlite3, in WAL mode so that readers never
 * wait for the writer and several connections (processes) can share the file.
 *
 * - better-sqlite3 is synchronous, and SQLite's own busy handler waits by sleeping the thread:
 *   a write that found another connection's write lock held the JS thread, so every request
 *   of a server, /healthz included, for up to busyTimeoutMs. Once open, the connection's own
 *   wait is off (busy_timeout 0): a statement or transaction that finds the database locked
 *   fails at once, having changed nothing, and is tried again after a timer (1 ms growing to
 *   50 ms) until busyTimeoutMs have passed, then fails with BUSY. The JS thread serves
 *   meanwhile. Each try is one synchronous transaction: nothing of this connection interleaves.
 * - SQLite has one writer at a time, so seqs (INTEGER PRIMARY KEY AUTOINCREMENT: never reused,
 *   even after a rollback) always commit in increasing order; a reader cannot skip one.
 * - The schema version is the file's user_version; a newer one than this code knows is refused
 *   rather than written to by code that does not understand it.
 * - Other connections' commits are noticed by polling `PRAGMA data_version`, which changes only
 *   when another connection committed, and only while someone listens.
 */
import type Database from 'better-sqlite3';
import type { EventRecord, ItemRecord } from '../../data/records.js';
import { LmrecError } from '../../errors.js';
import { SeqListeners, type SeqListener } from './listeners.js';
import { CATALOG_CHANGE, STORE_LIMITS, type ResolvedStoreOptions, type Store, type StoredEvent } from './store.js';
import { checkCursor, checkEvents, checkId, checkItem, checkLimit, checkSeq } from './validate.js';

/** The schema this code writes; files from newer code are refused. */
export const SQLITE_SCHEMA_VERSION = 1;

const SCHEMA_V1 = `
  CREATE TABLE lmrec_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    ts REAL NOT NULL
  );
  CREATE INDEX lmrec_events_user ON lmrec_events (user_id, seq);
  CREATE TABLE lmrec_items (id TEXT PRIMARY KEY, fields TEXT NOT NULL) WITHOUT ROWID;
`;

/** SQLite's error (or better-sqlite3's) as an LmrecError, by SQLite's result code. */
function sqliteError(e: unknown, what: string): LmrecError {
  if (e instanceof LmrecError) return e;
  const code = String((e as { code?: unknown })?.code ?? '');
  const message = `${what}: ${(e as Error)?.message ?? String(e)}`;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return new LmrecError(message, 'CORRUPT_FILE');
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new LmrecError(message, 'BUSY');
  if (code === 'SQLITE_NOMEM') return new LmrecError(message, 'OUT_OF_MEMORY');
  return new LmrecError(message, 'IO_ERROR');
}

/** Creates the schema in an empty file, or checks that the file's is one this code knows. */
function migrate(db: Database.Database, file: string): void {
  // IMMEDIATE: two processes opening a new file at once create the schema once
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SQLITE_SCHEMA_VERSION) {
      throw new LmrecError(
        `the SQLite store '${file}' has schema version ${version}, newer than this lmrec's ${SQLITE_SCHEMA_VERSION}: upgrade lmrec`,
        'UNSUPPORTED_VERSION',
      );
    }
    if (version === 0) {
      db.exec(SCHEMA_V1);
      db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
    }
  }).immediate();
}

/**
 * better-sqlite3 is an optional dependency: it compiles itself where its prebuilt binary cannot be
 * downloaded, and an install without a compiler leaves it out rather than failing. Only the SQLite
 * store needs it, so it is imported here, on the first open, and its absence is a typed error.
 */
async function sqliteDriver(): Promise<typeof Database> {
  try {
    return (await import('better-sqlite3')).default;
  } catch (e) {
    throw driverUnavailable(e);
  }
}

function driverUnavailable(e: unknown): LmrecError {
  return new LmrecError(
    `the SQLite store needs the optional dependency better-sqlite3, which is not usable here ` +
      `(${String((e as Error)?.message ?? e).split('\n')[0]}). npm leaves it out when it can neither download its ` +
      `prebuilt binary nor compile it (python3, make and a C++ compiler): install those and run ` +
      `'npm install better-sqlite3', or give the store as a postgres:// URL`,
    'NATIVE_UNAVAILABLE',
  );
}

/** better-sqlite3 loads its binary on the first `new Database`: a missing or foreign binary fails there. */
function isBindingFailure(e: unknown): boolean {
  const code = String((e as { code?: unknown })?.code ?? '');
  const message = String((e as Error)?.message ?? '');
  return code === 'ERR_DLOPEN_FAILED' || code === 'MODULE_NOT_FOUND' || /bindings file|NODE_MODULE_VERSION/.test(message);
}

export async function openSqliteStore(file: string, options: ResolvedStoreOptions): Promise<Store> {
  const Driver = await sqliteDriver();
  let db: Database.Database | undefined;
  try {
    try {
      db = new Driver(file, { timeout: options.busyTimeoutMs });
    } catch (e) {
      throw isBindingFailure(e) ? driverUnavailable(e) : e;
    }
    db.pragma('journal_mode = WAL');
    migrate(db, file);
    const store = new SqliteStore(db, options);
    // from here on, waits for other connections' locks are timers, not sleeps (see above)
    db.pragma('busy_timeout = 0');
    return store;
  } catch (e) {
    db?.close();
    throw sqliteError(e, `cannot open the SQLite store '${file}'`);
  }
}

/** Waits between tries of a statement that found the database locked (SQLite's own busy handler's steps). */
const BUSY_DELAYS_MS = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50];

interface EventRow {
  seq: number;
  user: string;
  item: string;
  ts: number;
}

class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  readonly #options: ResolvedStoreOptions;
  readonly #listeners: SeqListeners;
  #poll: NodeJS.Timeout | undefined;
  #dataVersion = 0;
  #checking = false;
  #closed = false;

  readonly #insertEvent;
  readonly #history;
  readonly #since;
  readonly #last;
  readonly #getItem;
  readonly #upsertItem;
  readonly #deleteItem;
  readonly #itemsAfter;
  readonly #dataVersionQuery;

  constructor(db: Database.Database, options: ResolvedStoreOptions) {
    this.#db = db;
    this.#options = options;
    this.#insertEvent = db.prepare<[string, string, number]>('INSERT INTO lmrec_events (user_id, item_id, ts) VALUES (?, ?, ?)');
    this.#history = db.prepare<[string, number], string>('SELECT item_id FROM lmrec_events WHERE user_id = ? ORDER BY seq DESC LIMIT ?').pluck();
    this.#since = db.prepare<[number, number], EventRow>(
      'SELECT seq, user_id AS user, item_id AS item, ts FROM lmrec_events WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.#last = db.prepare<[], number>('SELECT coalesce(max(seq), 0) FROM lmrec_events').pluck();
    this.#getItem = db.prepare<[string], string>('SELECT fields FROM lmrec_items WHERE id = ?').pluck();
    this.#upsertItem = db.prepare<[string, string]>(
      'INSERT INTO lmrec_items (id, fields) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET fields = excluded.fields',
    );
    this.#deleteItem = db.prepare<[string]>('DELETE FROM lmrec_items WHERE id = ?');
    this.#itemsAfter = db.prepare<[string, number], { id: string; fields: string }>(
      'SELECT id, fields FROM lmrec_items WHERE id > ? ORDER BY id LIMIT ?',
    );
    this.#dataVersionQuery = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.#listeners = new SeqListeners(this.#last.get() ?? 0, options.onError);
  }

  /**
   * Runs `fn` on an open store, with SQLite's errors typed. While another connection holds a
   * lock `fn` needs, it is tried again after a timer, for up to busyTimeoutMs.
   */
  async #run<T>(what: string, fn: () => T): Promise<T> {
    const start = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new LmrecError('the store is closed', 'CLOSED');
      try {
        return fn();
      } catch (e) {
        const error = sqliteError(e, what);
        const waited = Date.now() - start;
        if (error.code !== 'BUSY' || waited >= this.#options.busyTimeoutMs) {
          if (error.code === 'BUSY') error.message = `${error.message} (another connection held the lock for ${waited} ms, the busy timeout)`;
          throw error;
        }
        const delay = Math.min(BUSY_DELAYS_MS[Math.min(attempt, BUSY_DELAYS_MS.length - 1)]!, this.#options.busyTimeoutMs - waited);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async appendEvents(events: readonly EventRecord[]): Promise<StoredEvent[]> {
    const checked = checkEvents(events, Date.now());
    if (checked.length === 0) return [];
    const stored = await this.#run('appendEvents', () =>
      this.#db
        .transaction(() =>
          checked.map(({ user, item, ts }) => ({ seq: Number(this.#insertEvent.run(user, item, ts).lastInsertRowid), user, item, ts })),
        )
        .immediate(),
    );
    this.#listeners.notify(stored[stored.length - 1]!.seq);
    return stored;
  }

  async history(user: string, limit: number = STORE_LIMITS.defaultHistory): Promise<string[]> {
    checkId(user, 'the user id');
    checkLimit(limit, 'the history limit');
    return this.#run('history', () => this.#history.all(user, limit).reverse());
  }

  async eventsSince(seq: number, limit: number): Promise<StoredEvent[]> {
    checkSeq(seq);
    checkLimit(limit, 'the eventsSince limit');
    return this.#run('eventsSince', () => {
      const rows = this.#since.all(seq, limit);
      if (rows.length === 0) {
        const last = this.#last.get() ?? 0;
        if (seq > last) throw new LmrecError(`seq ${seq} is past this store's last event (${last}): the reader's position is from another store`, 'UNKNOWN_ID');
      }
      return rows;
    });
  }

  async lastSeq(): Promise<number> {
    return this.#run('lastSeq', () => this.#last.get() ?? 0);
  }

  async putItem(item: ItemRecord): Promise<'created' | 'updated'> {
    const { id, fields } = checkItem(item);
    const r = await this.#run('putItem', () =>
      this.#db
        .transaction(() => {
          const existed = this.#getItem.get(id) !== undefined;
          this.#upsertItem.run(id, JSON.stringify(fields));
          const seq = Number(this.#insertEvent.run(CATALOG_CHANGE, id, Date.now()).lastInsertRowid);
          return { status: existed ? ('updated' as const) : ('created' as const), seq };
        })
        .immediate(),
    );
    this.#listeners.notify(r.seq);
    return r.status;
  }

  async importCatalog(items: readonly ItemRecord[]): Promise<boolean> {
    const checked = items.map((it) => checkItem(it));
    return this.#run('importCatalog', () =>
      this.#db
        .transaction((): boolean => {
          if (this.#db.prepare('SELECT 1 FROM lmrec_items LIMIT 1').get() !== undefined) return false;
          for (const it of checked) this.#upsertItem.run(it.id, JSON.stringify(it.fields));
          return true;
        })
        .immediate(),
    );
  }

  async deleteItem(id: string): Promise<boolean> {
    checkId(id, 'the item id');
    const seq = await this.#run('deleteItem', () =>
      this.#db
        .transaction(() => (this.#deleteItem.run(id).changes > 0 ? Number(this.#insertEvent.run(CATALOG_CHANGE, id, Date.now()).lastInsertRowid) : 0))
        .immediate(),
    );
    if (seq > 0) this.#listeners.notify(seq);
    return seq > 0;
  }

  async item(id: string): Promise<ItemRecord | undefined> {
    checkId(id, 'the item id');
    return this.#run('item', () => {
      const fields = this.#getItem.get(id);
      return fields === undefined ? undefined : { id, fields: JSON.parse(fields) as Record<string, string> };
    });
  }

  async items(after: string | undefined, limit: number): Promise<ItemRecord[]> {
    checkCursor(after);
    checkLimit(limit, 'the items limit');
    // '' sorts before every id (ids are non-empty), so it stands for "from the start"
    return this.#run('items', () =>
      this.#itemsAfter.all(after ?? '', limit).map((r) => ({ id: r.id, fields: JSON.parse(r.fields) as Record<string, string> })),
    );
  }

  onEvents(listener: SeqListener): () => void {
    if (this.#closed) throw new LmrecError('the store is closed', 'CLOSED');
    const remove = this.#listeners.add(listener);
    if (this.#poll === undefined) {
      this.#dataVersion = this.#dataVersionQuery.get() ?? 0;
      this.#poll = setInterval(() => void this.#checkOthers(), this.#options.pollMs).unref();
    }
    return () => {
      remove();
      if (this.#listeners.size === 0) this.#stopPolling();
    };
  }

  /** Tells the listeners when another connection committed events since the last look. */
  async #checkOthers(): Promise<void> {
    if (this.#checking) return; // the last look still waits for a lock
    this.#checking = true;
    try {
      const version = await this.#run('data_version', () => this.#dataVersionQuery.get() ?? 0);
      if (version === this.#dataVersion) return;
      this.#dataVersion = version;
      this.#listeners.notify(await this.#run('lastSeq', () => this.#last.get() ?? 0));
    } catch (e) {
      if (!this.#closed) this.#options.onError(sqliteError(e, 'watching the SQLite store for other writers'));
    } finally {
      this.#checking = false;
    }
  }

  #stopPolling(): void {
    clearInterval(this.#poll);
    this.#poll = undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopPolling();
    this.#db.close();
  }
}
