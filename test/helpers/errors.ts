import { expect } from 'vitest';
import { LmrecError } from '../../src/errors.js';

/** The LmrecError a promise rejects with (fails the test if it resolves or rejects otherwise). */
export async function rejection(p: Promise<unknown>): Promise<LmrecError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(LmrecError);
    return e as LmrecError;
  }
  throw new Error('expected a rejection');
}

/** The LmrecError f throws (fails the test if it returns or throws something else). */
export function thrown(f: () => unknown): LmrecError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(LmrecError);
    return e as LmrecError;
  }
  throw new Error('expected a throw');
}
