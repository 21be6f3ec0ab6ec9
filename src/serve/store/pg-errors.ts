/** PostgreSQL's and node-postgres's errors as LmrecErrors, by SQLSTATE where there is one. */
import { LmrecError } from '../../errors.js';

// too many connections, serialization failure, deadlock, lock not available: worth a retry
const BUSY_STATES = new Set(['53300', '40001', '40P01', '55P03']);

export function pgError(e: unknown, what: string): LmrecError {
  if (e instanceof LmrecError) return e;
  const code = String((e as { code?: unknown })?.code ?? '');
  const message = `${what}: PostgreSQL: ${(e as Error)?.message || code || String(e)}`;
  if (BUSY_STATES.has(code)) return new LmrecError(message, 'BUSY');
  if (code === '53200') return new LmrecError(message, 'OUT_OF_MEMORY');
  return new LmrecError(message, 'IO_ERROR');
}
