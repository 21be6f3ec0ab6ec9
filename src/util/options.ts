/** Option objects checked against zod schemas, with one error shape for every API. */
import { z } from 'zod';
import { LmrecError } from '../errors.js';

/** `options` checked against `schema` (absent = {}); INVALID_ARGUMENT says what is wrong where. */
export function parseOptions<T>(schema: z.ZodType<T>, options: unknown, what: string): T {
  const r = schema.safeParse(options ?? {});
  if (!r.success) throw new LmrecError(`${what} options: ${z.prettifyError(r.error)}`, 'INVALID_ARGUMENT');
  return r.data;
}
