/**
 * Durable whole-file writes, the TypeScript twin of native/core/util/file_io: the bytes go to
 * `<file>.tmp-<pid>-<n>` beside the target, are fsync'ed and renamed over it, and the directory
 * is fsync'ed, so a reader sees the old file or the new one, never half of one. Temp files left
 * by a process that was killed mid-write are swept on the next write to the same file (the
 * native writer follows the same naming and sweep rule).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';

let counter = 0;

function ioError(what: string, file: string, e: unknown): LmrecError {
  return new LmrecError(`${what} '${file}': ${(e as Error).message}`, 'IO_ERROR');
}

/** Whether process `pid` still exists (a temp file's writer, say). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Removes `<base>.tmp-<pid>-<n>` files beside `file` whose writer process no longer exists. */
export function sweepStaleTemps(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)-\d+$/.exec(name.slice(prefix.length));
    if (m && !alive(Number(m[1]))) rmSync(path.join(dir, name), { force: true });
  }
}

/** Writes `data` to `file` atomically and durably; creates the directory. IO_ERROR on failure. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw ioError('cannot create the directory for', file, e);
  }
  sweepStaleTemps(file);
  const tmp = `${file}.tmp-${process.pid}-${counter++}`;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw ioError('cannot write', file, e);
  }
  try {
    const d = openSync(dir, 'r');
    try {
      fsyncSync(d); // makes the rename itself durable
    } finally {
      closeSync(d);
    }
  } catch {
    // some file systems do not fsync directories; the data itself is on disk
  }
}
