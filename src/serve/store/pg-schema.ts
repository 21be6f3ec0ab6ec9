/**
 * The PostgreSQL schema (tables prefixed lmrec_, so the database can be the application's own),
 * created or checked once per process start. Replicas that start together take an advisory lock
 * first: CREATE TABLE IF NOT EXISTS alone is not safe against a concurrent twin (both can pass
 * the check and one then fails on the catalog's unique index).
 */
import type pg from 'pg';
import { LmrecError } from '../../errors.js';

/** The schema this code writes; databases set up by newer code are refused. */
export const PG_SCHEMA_VERSION = 1;

/** The NOTIFY channel that wakes replicas; its payload is the newest seq. */
export const EVENTS_CHANNEL = 'lmrec_events';

/** Advisory locks are keyed by two int4s: lmrec's namespace ('lmrc'), then the purpose. */
export const LOCK_NAMESPACE = 0x6c6d7263;
export const LOCK_SCHEMA = 1;
export const LOCK_APPEND = 2;
export const LOCK_IMPORT = 3;

const SCHEMA_V1 = [
  'CREATE TABLE lmrec_meta (key text PRIMARY KEY, value text NOT NULL)',
  `CREATE TABLE lmrec_events (
     seq bigserial PRIMARY KEY,
     user_id text NOT NULL,
     item_id text NOT NULL,
     ts double precision NOT NULL
   )`,
  'CREATE INDEX lmrec_events_user ON lmrec_events (user_id, seq)',
  // byte order, the same paging order as SQLite's whatever the database's collation
  'CREATE TABLE lmrec_items (id text COLLATE "C" PRIMARY KEY, fields jsonb NOT NULL)',
  `INSERT INTO lmrec_meta (key, value) VALUES ('schema_version', '${PG_SCHEMA_VERSION}')`,
];

/** Creates the schema when the database has none, else checks its version; one transaction. */
export async function migrate(client: pg.ClientBase): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, LOCK_SCHEMA]);
    const present = await client.query<{ present: boolean }>("SELECT to_regclass('lmrec_meta') IS NOT NULL AS present");
    if (present.rows[0]?.present) {
      const r = await client.query<{ value: string }>("SELECT value FROM lmrec_meta WHERE key = 'schema_version'");
      const version = Number(r.rows[0]?.value);
      if (!Number.isInteger(version) || version < 1) {
        throw new LmrecError(`lmrec_meta holds no valid schema_version (${r.rows[0]?.value})`, 'INVALID_DATA');
      }
      if (version > PG_SCHEMA_VERSION) {
        throw new LmrecError(
          `the PostgreSQL store has schema version ${version}, newer than this lmrec's ${PG_SCHEMA_VERSION}: upgrade lmrec`,
          'UNSUPPORTED_VERSION',
        );
      }
    } else {
      for (const statement of SCHEMA_V1) await client.query(statement);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined); // the connection may be the thing that failed
    throw e;
  }
}
