/** A text file's contents, a failure to read it an IO_ERROR naming the file. */
import { readFileSync } from 'node:fs';
import { LmrecError } from '../errors.js';

export function readTextFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new LmrecError(`cannot read '${file}': ${(e as Error).message}`, 'IO_ERROR');
  }
}
