/** The native core's error codes and the TypeScript list are one set: a code added on one side fails here. */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';
import { native } from '../src/addon/loader.js';

describe('error codes', () => {
  it('every native code is in the TypeScript list, and the list has no duplicates', () => {
    const ts = new Set<string>(ERROR_CODES);
    expect(ts.size).toBe(ERROR_CODES.length);
    const codes = native.errorCodes();
    expect(codes.length).toBeGreaterThan(15);
    for (const code of codes) expect(ts.has(code), `native code ${code} is missing from src/errors.ts`).toBe(true);
  });

  it('the TypeScript-only codes are the ones raised in TypeScript', () => {
    const nativeCodes = new Set(native.errorCodes());
    expect(ERROR_CODES.filter((c) => !nativeCodes.has(c)).sort()).toEqual(
      ['ABORTED', 'INPUT_TOO_LONG', 'INVALID_DATA', 'NATIVE_UNAVAILABLE', 'NO_TOKENIZER'].sort(),
    );
  });
});
