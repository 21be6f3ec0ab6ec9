/** Every error lmrec throws or rejects with, native ones included, is an LmrecError. */
export type LmrecErrorCode =
  | 'INVALID_ARGUMENT'
  | 'DIM_MISMATCH'
  | 'NON_FINITE'
  | 'INVALID_K'
  | 'DUPLICATE_ID'
  | 'UNKNOWN_ID'
  | 'EMPTY_INDEX'
  | 'REQUEST_TOO_LARGE'
  | 'NO_ORIGINALS'
  | 'NOT_AN_INDEX'
  | 'NOT_A_MODEL'
  | 'BUSY'
  | 'UNSUPPORTED_VERSION'
  | 'CORRUPT_FILE'
  | 'TRUNCATED_FILE'
  | 'IO_ERROR'
  | 'UNSUPPORTED'
  | 'OUT_OF_MEMORY'
  | 'NATIVE_UNAVAILABLE'
  | 'NO_TOKENIZER'
  | 'INVALID_DATA'
  | 'INTERNAL';

export class LmrecError extends Error {
  readonly code: LmrecErrorCode;

  constructor(message: string, code: LmrecErrorCode) {
    super(message);
    this.name = 'LmrecError';
    this.code = code;
  }
}
