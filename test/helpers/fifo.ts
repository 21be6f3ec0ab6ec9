/**
 * FIFOs for the "every file lmrec reads is a regular file" tests. A reader that opens a FIFO
 * waits for a writer, forever, and a synchronous one blocks the whole test process, so no test
 * timeout could end it: each FIFO comes with a writer process that opens it after a delay
 * (ending any wait with an empty read), and `expectRefused` fails a read that took that long.
 */
import { execFileSync, spawn } from 'node:child_process';
import { expect } from 'vitest';
import { LmrecError } from '../../src/errors.js';

/** How long a reader may take to refuse a FIFO; the writer comes later. */
const REFUSE_MS = 1500;

const writers: { kill(): boolean }[] = [];

/** Makes a FIFO at `file`, opened by a writer after a delay should a reader block on it. */
export function makeFifo(file: string): void {
  execFileSync('mkfifo', [file]);
  // `: > file` opens the FIFO for writing (waiting for a reader) and closes it at once
  const writer = spawn('sh', ['-c', 'sleep "$1"; : > "$2"', 'sh', String((2 * REFUSE_MS) / 1000), file], { stdio: 'ignore' });
  writer.unref();
  writers.push(writer);
}

/** Ends the writers still waiting (those whose FIFO nothing opened). */
export function stopFifoWriters(): void {
  for (const w of writers.splice(0)) w.kill();
}

/** `read()` is refused at once with IO_ERROR naming a file that is not a regular file. */
export async function expectRefused(read: () => unknown, file: string): Promise<void> {
  const t0 = performance.now();
  let error: unknown;
  try {
    await read();
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - t0;
  expect(error).toBeInstanceOf(LmrecError);
  expect(error).toMatchObject({ code: 'IO_ERROR' });
  expect((error as Error).message).toContain(file);
  expect((error as Error).message).toMatch(/not a regular file/);
  expect(ms).toBeLessThan(REFUSE_MS);
}
