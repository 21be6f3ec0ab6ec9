/**
 * Every error lmrec throws or rejects with, native ones included, is an LmrecError with one of
 * these codes. The native core's codes are a subset (test/error-codes.test.ts ties the two).
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'DIM_MISMATCH',
  'NON_FINITE',
  'INVALID_K',
  'DUPLICATE_ID',
  'UNKNOWN_ID',
  'EMPTY_INDEX',
  'REQUEST_TOO_LARGE',
  'INPUT_TOO_LONG',
  'NO_ORIGINALS',
  'NOT_AN_INDEX',
  'NOT_A_MODEL',
  'BUSY',
  'CLOSED',
  'UNSUPPORTED_VERSION',
  'CORRUPT_FILE',
  'TRUNCATED_FILE',
  'IO_ERROR',
  'UNSUPPORTED',
  'OUT_OF_MEMORY',
  'NATIVE_UNAVAILABLE',
  'NO_TOKENIZER',
  'INVALID_DATA',
  'ABORTED',
  'INTERNAL',
] as const;

export type LmrecErrorCode = (typeof ERROR_CODES)[number];

export class LmrecError extends Error {
  /** The error's code, one of ERROR_CODES: what a caller branches on. */
  readonly code: LmrecErrorCode;

  /**
   * @param message What went wrong, for people to read.
   * @param code One of ERROR_CODES.
   */
  constructor(message: string, code: LmrecErrorCode) {
    super(message);
    this.name = 'LmrecError';
    this.code = code;
  }
}
