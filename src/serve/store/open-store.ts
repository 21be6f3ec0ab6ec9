/**
 * Opens a store by its location: the factory apart from the Store contract (store.ts), so that
 * the backends, which implement the contract, never import what imports them.
 */
import { z } from 'zod';
import { LmrecError } from '../../errors.js';
import { parseOptions } from '../../util/options.js';
import type { ResolvedStoreOptions, Store, StoreOptions } from './store.js';

const optionsSchema = z.strictObject({
  onError: z.custom<(error: LmrecError) => void>((v) => typeof v === 'function', 'a function').optional(),
  busyTimeoutMs: z.number().int().min(0).max(600_000).default(5_000),
  pollMs: z.number().int().min(10).max(60_000).default(250),
  poolSize: z.number().int().min(1).max(1_000).default(10),
  connectTimeoutMs: z.number().int().min(1).max(600_000).default(5_000),
  statementTimeoutMs: z.number().int().min(1).max(3_600_000).default(30_000),
  maxReconnectDelayMs: z.number().int().min(10).max(600_000).default(5_000),
});


function reportWarning(error: LmrecError): void {
  process.emitWarning(error.message, { code: `LMREC_STORE_${error.code}` });
}

/**
 * Opens (creating or migrating) the store at `location`: a `postgres://` or `postgresql://` URL,
 * or else a SQLite file path (created if missing; its folder must exist). The backends are
 * imported on demand, so a SQLite user never loads pg and the reverse.
 * @param location A SQLite file path, or a postgres:// (postgresql://) URL.
 * @param options Error reporting, and the SQLite or PostgreSQL timeouts, polling and pool size.
 */
export async function openStore(location: string, options: StoreOptions = {}): Promise<Store> {
  if (typeof location !== 'string' || location.length === 0) {
    throw new LmrecError('the store location must be a SQLite file path or a postgres:// URL', 'INVALID_ARGUMENT');
  }
  const parsed = parseOptions(optionsSchema, options, 'openStore');
  const resolved: ResolvedStoreOptions = { ...parsed, onError: parsed.onError ?? reportWarning };
  if (/^postgres(ql)?:\/\//i.test(location)) {
    const { openPostgresStore } = await import('./postgres.js');
    return openPostgresStore(location, resolved);
  }
  const { openSqliteStore } = await import('./sqlite.js');
  return openSqliteStore(location, resolved);
}
