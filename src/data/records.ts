/**
 * Streaming readers for the files a user points lmrec at: items (`id` plus text fields) and
 * events (`user`, `item`, optional `ts`), as UTF-8 JSON lines or CSV with a header (either may
 * start with a byte order mark). Files larger than memory are fine: records are yielded one at
 * a time. A malformed record (or bytes that are not UTF-8) is an INVALID_DATA error naming the
 * file, the line (where the record starts) and the field; a file that cannot be read, or is not
 * a regular file, is an IO_ERROR. Records are held to the input limits (src/data/limits.ts),
 * with their codes (INPUT_TOO_LONG, REQUEST_TOO_LARGE), also naming the file and line.
 */
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline, Transform, type Readable } from 'node:stream';
import { parse, type CastingContext, type CsvError } from 'csv-parse';
import { LmrecError } from '../errors.js';
import { openForRead } from '../util/read-text.js';
import { checkId, checkItemRecord } from './limits.js';
import type { EventRecord, ItemRecord } from './record-shapes.js';

export type { EventRecord, ItemRecord } from './record-shapes.js';

type Row = { line: number; value: Record<string, unknown> };

function invalid(file: string, line: number, what: string): LmrecError {
  return new LmrecError(`${file}:${line}: ${what}`, 'INVALID_DATA');
}

/** How many '\n'-separated lines of `bytes` come before the first that is not UTF-8 (all are: undefined). */
function linesBeforeBadUtf8(bytes: Buffer): number | undefined {
  if (isUtf8(bytes)) return undefined;
  // no UTF-8 character holds a '\n' byte: the whole is valid exactly when each line is
  for (let lines = 0, start = 0; ; lines++) {
    const nl = bytes.indexOf(0x0a, start);
    if (nl === -1 || !isUtf8(bytes.subarray(start, nl))) return lines;
    start = nl + 1;
  }
}

function countLines(bytes: Buffer): number {
  let n = 0;
  for (let nl = bytes.indexOf(0x0a); nl !== -1; nl = bytes.indexOf(0x0a, nl + 1)) n++;
  return n;
}

/**
 * The file's bytes, passed through once each whole line is checked to be UTF-8: decoding
 * would turn bad bytes into U+FFFD silently, and ids that differ only there into one id.
 */
function utf8Bytes(file: string): Readable {
  let line = 1; // of the first byte not checked yet
  let partial: Buffer[] = []; // the bytes of that line read so far
  const check = (bytes: Buffer): LmrecError | null => {
    const bad = linesBeforeBadUtf8(bytes);
    if (bad !== undefined) return invalid(file, line + bad, 'not valid UTF-8 (convert the file to UTF-8)');
    line += countLines(bytes);
    return null;
  };
  const checked = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const end = chunk.lastIndexOf(0x0a) + 1;
      if (end === 0) partial.push(chunk);
      else {
        const error = check(Buffer.concat([...partial, chunk.subarray(0, end)]));
        if (error) return done(error);
        partial = [chunk.subarray(end)];
      }
      done(null, chunk);
    },
    flush(done) {
      done(check(Buffer.concat(partial)));
    },
  });
  // pipeline hands a read failure of the file on to the last stream, whose reader sees it
  // (`.pipe` would leave it unhandled and crash the process)
  return pipeline(createReadStream(file, { fd: openForRead(file) }), checked, () => {});
}

async function* jsonLines(file: string): AsyncGenerator<Row> {
  const lines = createInterface({ input: utf8Bytes(file), crlfDelay: Infinity });
  let line = 0;
  for await (const raw of lines) {
    line++;
    const text = line === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw; // a byte order mark (the CSV parser drops it too)
    if (!text.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw invalid(file, line, 'not valid JSON');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(file, line, 'not a JSON object');
    yield { line, value: value as Record<string, unknown> };
  }
}

async function* csvRows(file: string): AsyncGenerator<Row> {
  // csv-parse counts lines up to a record's end (a quoted field may span lines, and an unclosed
  // quote runs to the end of the file): a record starts on the line after the previous record,
  // past the empty lines skipped since. Tracked as the parser goes, since a parse error discards
  // the records it parsed but the reader has not taken yet.
  let end = 1; // the header's
  let empty = 0;
  const start = (at: Pick<CastingContext, 'empty_lines'>): number => end + 1 + at.empty_lines - empty;
  const parser = parse({
    columns: (header: string[]) => uniqueColumns(file, header),
    bom: true,
    skip_empty_lines: true,
    trim: true,
    on_record: (value: Record<string, string>, at): Row => {
      const row = { line: start(at), value };
      end = at.lines;
      empty = at.empty_lines;
      return row;
    },
  });
  // pipeline hands a failure (reading, UTF-8) to the parser, whose iterator rejects with it
  pipeline(utf8Bytes(file), parser, () => {});
  try {
    yield* parser as AsyncIterable<Row>;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('CSV_')) throw e;
    const err = e as CsvError & CastingContext;
    throw invalid(file, start(err), code === 'CSV_QUOTE_NOT_CLOSED' ? 'a quoted field starting in this record is never closed' : err.message);
  }
}

/** The header's column names; a name given twice would have its second column overwrite the first. */
function uniqueColumns(file: string, header: string[]): string[] {
  const twice = header.find((name, i) => header.indexOf(name) !== i);
  if (twice !== undefined) throw invalid(file, 1, `the header names the column '${twice}' twice`);
  return header;
}

async function* rows(file: string): AsyncGenerator<Row> {
  const ext = path.extname(file).toLowerCase();
  const format = ext === '.jsonl' || ext === '.ndjson' || ext === '.json' ? jsonLines : ext === '.csv' ? csvRows : undefined;
  if (!format) throw new LmrecError(`${file}: unknown format '${ext}' (use .jsonl or .csv)`, 'INVALID_ARGUMENT');
  try {
    yield* format(file);
  } catch (e) {
    // Node's system errors (ENOENT, EISDIR, EACCES, ...) carry a code; anything else is a bug.
    if (e instanceof LmrecError || typeof (e as { code?: unknown }).code !== 'string') throw e;
    throw new LmrecError(`cannot read '${file}': ${(e as Error).message}`, 'IO_ERROR');
  }
}

function text(file: string, line: number, value: Record<string, unknown>, field: string): string {
  const v = value[field];
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw invalid(file, line, v === undefined || v === '' ? `missing '${field}'` : `'${field}' must be a string or a number`);
}

/** `check()`'s result; its LmrecError (an input limit) named with the file and line. */
function within<T>(file: string, line: number, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof LmrecError) throw new LmrecError(`${file}:${line}: ${e.message}`, e.code);
    throw e;
  }
}

/**
 * The catalog records of a file, in file order; values that are not strings become text (arrays
 * joined with ', '), null ones are left out.
 * @param file A .jsonl or .csv file: an `id` per record, every other field as text.
 */
export async function* readItems(file: string): AsyncGenerator<ItemRecord> {
  for await (const { line, value } of rows(file)) {
    const id = text(file, line, value, 'id');
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'id' || v === null || v === undefined) continue;
      fields[k] = typeof v === 'string' ? v : Array.isArray(v) ? v.join(', ') : String(v);
    }
    yield within(file, line, () => checkItemRecord({ id, fields }, 'INVALID_DATA'));
  }
}

/**
 * Events in file order. The first event decides whether the file has timestamps.
 * @param file A .jsonl or .csv file with `user`, `item` and optional `ts` per record.
 */
export async function* readEvents(file: string): AsyncGenerator<EventRecord> {
  let timed: { line: number; has: boolean } | undefined;
  for await (const { line, value } of rows(file)) {
    const user = text(file, line, value, 'user');
    const item = text(file, line, value, 'item');
    within(file, line, () => (checkId(user, "'user'", 'INVALID_DATA'), checkId(item, "'item'", 'INVALID_DATA')));
    const raw = value.ts;
    const has = raw !== undefined && raw !== null && !(typeof raw === 'string' && raw.trim() === '');
    timed ??= { line, has };
    if (!has) {
      if (timed.has) throw invalid(file, line, `missing 'ts' (line ${timed.line} has one)`);
      yield { user, item };
      continue;
    }
    if (!timed.has) throw invalid(file, line, `'ts' given, but line ${timed.line} has none (give it on every event or none)`);
    const ts = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : Number.NaN;
    if (!Number.isFinite(ts)) throw invalid(file, line, "'ts' must be a number");
    yield { user, item, ts };
  }
}
