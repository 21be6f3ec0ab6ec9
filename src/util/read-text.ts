/**
 * Opening the files lmrec reads. Only regular files: a FIFO would block the read until some
 * writer comes (forever, and a synchronous read blocks the whole process), a device can be
 * endless, a directory is no file. Failures are IO_ERRORs naming the file.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, statSync, type Stats } from 'node:fs';
import { LmrecError } from '../errors.js';

function kind(s: Stats): string | undefined {
  if (s.isFile()) return undefined;
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  return s.isCharacterDevice() || s.isBlockDevice() ? 'a device' : 'not a file';
}

function ioError(file: string, e: unknown): LmrecError {
  return e instanceof LmrecError ? e : new LmrecError(`cannot read '${file}': ${(e as Error).message}`, 'IO_ERROR');
}

function refuse(file: string, s: Stats): Stats {
  const k = kind(s);
  if (k) throw new LmrecError(`'${file}' is not a regular file (it is ${k})`, 'IO_ERROR');
  return s;
}

/** `file`'s stats; IO_ERROR when it cannot be read or is not a regular file. */
export function statRegularFile(file: string): Stats {
  try {
    return refuse(file, statSync(file));
  } catch (e) {
    throw ioError(file, e);
  }
}

/**
 * A descriptor of `file` open for reading; IO_ERROR when it is not a regular file. Checked
 * before opening (opening a FIFO waits for a writer, opening a device can act on it) and again
 * on the descriptor, in case the path was replaced in between, which the non-blocking open
 * makes safe to reach.
 */
export function openForRead(file: string): number {
  statRegularFile(file);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw ioError(file, e);
  }
  try {
    refuse(file, fstatSync(fd));
  } catch (e) {
    closeSync(fd);
    throw ioError(file, e);
  }
  return fd;
}

/** A regular file's bytes. */
export function readBytes(file: string): Buffer {
  const fd = openForRead(file);
  try {
    return readFileSync(fd);
  } catch (e) {
    throw ioError(file, e);
  } finally {
    closeSync(fd);
  }
}

/** A regular file's contents as text. */
export function readTextFile(file: string): string {
  return readBytes(file).toString('utf8');
}
