/**
 * The shared store: PostgreSQL through a bounded pg Pool, for several `lmrec serve` replicas
 * that each hold the models in memory and must see every event.
 *
 * Fan-out is LISTEN/NOTIFY rather than a Redis stream: it needs no service beyond the database
 * the events already live in, and it need not be durable, because the events table is the
 * durable log. A NOTIFY (sent in the appending transaction, so delivered only at commit) only
 * wakes the replicas with the newest seq; each reads eventsSince(its last applied seq). A replica
 * that restarts or loses its connection does the same when it is back, so no event is lost,
 * and NOTIFY's 8000-byte payload limit never matters.
 *
 * Seqs come from a bigserial, and sequence values are handed out at INSERT, not at COMMIT: two
 * concurrent appends can take 7 and 8 and commit 8 first. A reader that saw 8 and moved its
 * position past it would never read 7. Appends therefore take a transaction-level advisory lock
 * before they insert, held until their commit is visible: seqs commit in increasing order, and
 * what a reader sees is always a prefix of the log (gaps only where a transaction rolled back).
 * The cost is that appends from all replicas are serialised — one short transaction at a time,
 * batches of up to STORE_LIMITS.batch events — which the write rates of a recommendation
 * service (hundreds to a few thousand events a second, in batches) stay far below. The
 * alternative, reading with a safety lag behind the newest seq, delays every replica and still
 * needs a bound on how long a transaction may stay open.
 */
import pg from 'pg';
import type { EventRecord, ItemRecord } from '../../data/records.js';
import { LmrecError } from '../../errors.js';
import { SeqListeners, type SeqListener } from './listeners.js';
import { pgError } from './pg-errors.js';
import { NotificationConnection } from './pg-listener.js';
import { EVENTS_CHANNEL, LOCK_APPEND, LOCK_IMPORT, LOCK_NAMESPACE, migrate } from './pg-schema.js';
import { CATALOG_CHANGE, STORE_LIMITS, type ResolvedStoreOptions, type Store, type StoredEvent } from './store.js';
import { checkCursor, checkEvents, checkId, checkItem, checkLimit, checkSeq } from './validate.js';

/** Items per INSERT of importCatalog (one transaction holds them all). */
const IMPORT_BATCH = 5_000;

/** The URL without its password, for messages. */
function describe(url: URL): string {
  return `${url.protocol}//${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`;
}

export async function openPostgresStore(location: string, options: ResolvedStoreOptions): Promise<Store> {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new LmrecError('the PostgreSQL store location is not a valid URL', 'INVALID_ARGUMENT');
  }
  const connection: pg.ClientConfig = {
    connectionString: location,
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    // a server that vanished without closing the socket is noticed, not waited on forever
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: 'lmrec',
  };
  const pool = new pg.Pool({ ...connection, max: options.poolSize, idleTimeoutMillis: 30_000 });
  // an idle pooled connection that breaks (a server restart) emits here; unhandled, it would
  // crash the process. The pool drops it and opens a new one when next needed.
  pool.on('error', (e) => options.onError(pgError(e, 'an idle pooled connection failed')));
  try {
    await withClient(pool, migrate);
    const store = new PostgresStore(pool, connection, options);
    await store.init();
    return store;
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw pgError(e, `cannot open the PostgreSQL store ${describe(url)}`);
  }
}

/**
 * `fn` on a connection checked out of the pool for it. A checked-out client whose connection
 * breaks emits 'error', and the pool listens only to idle ones: unheard, that event would crash
 * the process. It is heard here (the failing query reports the failure), and a connection that
 * failed in any way is discarded rather than handed to the next caller.
 */
async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let failure: Error | undefined;
  const onError = (e: Error): void => {
    failure = e;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (e) {
    failure ??= e instanceof Error ? e : new Error(String(e));
    throw e;
  } finally {
    client.off('error', onError);
    client.release(failure);
  }
}

interface EventRow {
  seq: string; // int8 arrives as text: JS numbers are exact to 2^53, far past any log's length
  user: string;
  item: string;
  ts: number;
}

function toEvent(r: EventRow): StoredEvent {
  return { seq: Number(r.seq), user: r.user, item: r.item, ts: r.ts };
}

const SELECT_EVENT = 'seq, user_id AS user, item_id AS item, ts';

class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;
  readonly #connection: pg.ClientConfig;
  readonly #options: ResolvedStoreOptions;
  #listeners!: SeqListeners;
  #notifications: NotificationConnection | undefined;
  #closed = false;

  constructor(pool: pg.Pool, connection: pg.ClientConfig, options: ResolvedStoreOptions) {
    this.#pool = pool;
    this.#connection = connection;
    this.#options = options;
  }

  async init(): Promise<void> {
    this.#listeners = new SeqListeners(await this.lastSeq(), this.#options.onError);
  }

  /** A pooled query on an open store, with PostgreSQL's errors typed. */
  async #query<R extends pg.QueryResultRow>(what: string, text: string, values: unknown[] = []): Promise<R[]> {
    if (this.#closed) throw new LmrecError('the store is closed', 'CLOSED');
    try {
      return (await this.#pool.query<R>(text, values)).rows;
    } catch (e) {
      throw pgError(e, what);
    }
  }

  /**
   * `fn` in a transaction on one pooled connection. If COMMIT itself fails (the connection
   * broke), whether the transaction took effect is unknown; the caller gets IO_ERROR.
   */
  async #transaction<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new LmrecError('the store is closed', 'CLOSED');
    try {
      return await withClient(this.#pool, async (client) => {
        await client.query('BEGIN');
        try {
          const result = await fn(client);
          await client.query('COMMIT');
          return result;
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined); // a broken connection is discarded anyway
          throw e;
        }
      });
    } catch (e) {
      throw pgError(e, what);
    }
  }

  async appendEvents(events: readonly EventRecord[]): Promise<StoredEvent[]> {
    const checked = checkEvents(events, Date.now());
    if (this.#closed) throw new LmrecError('the store is closed', 'CLOSED');
    if (checked.length === 0) return [];
    const stored = await this.#transaction('appendEvents', async (client) => {
      // see the module comment: seqs must commit in the order they are handed out
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, LOCK_APPEND]);
      const r = await client.query<EventRow>(
        `INSERT INTO lmrec_events (user_id, item_id, ts)
         SELECT u, i, t FROM unnest($1::text[], $2::text[], $3::float8[]) WITH ORDINALITY AS e(u, i, t, n) ORDER BY n
         RETURNING ${SELECT_EVENT}`,
        [checked.map((e) => e.user), checked.map((e) => e.item), checked.map((e) => e.ts)],
      );
      const rows = r.rows.map(toEvent).sort((a, b) => a.seq - b.seq);
      await client.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, String(rows[rows.length - 1]!.seq)]);
      return rows;
    });
    this.#listeners.notify(stored[stored.length - 1]!.seq);
    return stored;
  }

  async history(user: string, limit: number = STORE_LIMITS.defaultHistory): Promise<string[]> {
    checkId(user, 'the user id');
    checkLimit(limit, 'the history limit');
    const rows = await this.#query<{ item_id: string }>(
      'history',
      'SELECT item_id FROM lmrec_events WHERE user_id = $1 ORDER BY seq DESC LIMIT $2',
      [user, limit],
    );
    return rows.map((r) => r.item_id).reverse();
  }

  async eventsSince(seq: number, limit: number): Promise<StoredEvent[]> {
    checkSeq(seq);
    checkLimit(limit, 'the eventsSince limit');
    const rows = await this.#query<EventRow>(
      'eventsSince',
      `SELECT ${SELECT_EVENT} FROM lmrec_events WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [seq, limit],
    );
    if (rows.length === 0) {
      // appends commit in seq order, so a position past the newest seq cannot come from here
      const last = await this.lastSeq();
      if (seq > last) throw new LmrecError(`seq ${seq} is past this store's last event (${last}): the reader's position is from another store`, 'UNKNOWN_ID');
    }
    return rows.map(toEvent);
  }

  async lastSeq(): Promise<number> {
    const rows = await this.#query<{ last: string }>('lastSeq', 'SELECT coalesce(max(seq), 0) AS last FROM lmrec_events');
    return Number(rows[0]?.last ?? 0);
  }

  async putItem(item: ItemRecord): Promise<'created' | 'updated'> {
    const { id, fields } = checkItem(item);
    if (this.#closed) throw new LmrecError('the store is closed', 'CLOSED');
    const r = await this.#transaction('putItem', async (client) => {
      // xmax is 0 on a row this statement inserted and set on one it updated: exact even when two
      // replicas put the same new id at once, unlike a separate existence check
      const put = await client.query<{ created: boolean }>(
        `INSERT INTO lmrec_items (id, fields) VALUES ($1, $2::jsonb)
         ON CONFLICT (id) DO UPDATE SET fields = excluded.fields
         RETURNING (xmax = 0) AS created`,
        [id, JSON.stringify(fields)],
      );
      return { created: put.rows[0]?.created === true, seq: await this.#logCatalogChange(client, id) };
    });
    this.#listeners.notify(r.seq);
    return r.created ? 'created' : 'updated';
  }

  /** The log entry of a catalog change, in the same transaction and order as events (see appendEvents). */
  async #logCatalogChange(client: pg.PoolClient, id: string): Promise<number> {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, LOCK_APPEND]);
    const r = await client.query<{ seq: string }>('INSERT INTO lmrec_events (user_id, item_id, ts) VALUES ($1, $2, $3) RETURNING seq', [CATALOG_CHANGE, id, Date.now()]);
    const seq = Number(r.rows[0]!.seq);
    await client.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, String(seq)]);
    return seq;
  }

  async importCatalog(items: readonly ItemRecord[]): Promise<boolean> {
    const checked = items.map((it) => checkItem(it));
    if (this.#closed) throw new LmrecError('the store is closed', 'CLOSED');
    return this.#transaction('importCatalog', async (client) => {
      // replicas starting together: one imports, the others wait here and then see its rows
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, LOCK_IMPORT]);
      if ((await client.query('SELECT 1 FROM lmrec_items LIMIT 1')).rows.length > 0) return false;
      for (let at = 0; at < checked.length; at += IMPORT_BATCH) {
        const batch = checked.slice(at, at + IMPORT_BATCH);
        await client.query('INSERT INTO lmrec_items (id, fields) SELECT * FROM unnest($1::text[], $2::jsonb[])', [
          batch.map((it) => it.id),
          batch.map((it) => JSON.stringify(it.fields)),
        ]);
      }
      return true;
    });
  }

  async deleteItem(id: string): Promise<boolean> {
    checkId(id, 'the item id');
    if (this.#closed) throw new LmrecError('the store is closed', 'CLOSED');
    const seq = await this.#transaction('deleteItem', async (client) => {
      const gone = await client.query('DELETE FROM lmrec_items WHERE id = $1 RETURNING id', [id]);
      return gone.rows.length > 0 ? this.#logCatalogChange(client, id) : 0;
    });
    if (seq > 0) this.#listeners.notify(seq);
    return seq > 0;
  }

  async item(id: string): Promise<ItemRecord | undefined> {
    checkId(id, 'the item id');
    const rows = await this.#query<ItemRecord>('item', 'SELECT id, fields FROM lmrec_items WHERE id = $1', [id]);
    return rows[0];
  }

  async items(after: string | undefined, limit: number): Promise<ItemRecord[]> {
    checkCursor(after);
    checkLimit(limit, 'the items limit');
    // '' sorts before every id (ids are non-empty), so it stands for "from the start"
    return this.#query<ItemRecord>('items', 'SELECT id, fields FROM lmrec_items WHERE id > $1 ORDER BY id LIMIT $2', [after ?? '', limit]);
  }

  onEvents(listener: SeqListener): () => void {
    if (this.#closed) throw new LmrecError('the store is closed', 'CLOSED');
    const remove = this.#listeners.add(listener);
    // one LISTEN connection per store, opened when first needed and kept until close
    this.#notifications ??= new NotificationConnection({
      connection: this.#connection,
      maxDelayMs: this.#options.maxReconnectDelayMs,
      onNotify: (seq) => this.#listeners.notify(seq),
      onListening: (seq) => this.#listeners.notify(seq, true),
      onError: this.#options.onError,
    });
    return remove;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#notifications?.stop();
    await this.#pool.end();
  }
}
