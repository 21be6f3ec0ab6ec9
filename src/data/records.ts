/**
 * Streaming readers for the files a user points lmrec at: items (`id` plus text fields) and
 * events (`user`, `item`, optional `ts`), as JSON lines or CSV with a header. Files larger than
 * memory are fine: records are yielded one at a time. A malformed record is an INVALID_DATA
 * error naming the file, the line (where the record starts) and the field; a file that cannot
 * be read is an IO_ERROR.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream';
import { parse, type CastingContext, type CsvError } from 'csv-parse';
import { LmrecError } from '../errors.js';

export interface ItemRecord {
  id: string;
  /** Every other field, as text. */
  fields: Record<string, string>;
}

export interface EventRecord {
  user: string;
  item: string;
  /**
   * Seconds or milliseconds since the epoch, or any increasing number. Either every event of a
   * file has one or none does (then each user's events keep file order).
   */
  ts?: number;
}

type Row = { line: number; value: Record<string, unknown> };

function invalid(file: string, line: number, what: string): LmrecError {
  return new LmrecError(`${file}:${line}: ${what}`, 'INVALID_DATA');
}

async function* jsonLines(file: string): AsyncGenerator<Row> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
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
    columns: true,
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
  // pipeline hands a read failure of the file to the parser, whose iterator rejects with it
  // (`.pipe` would leave it unhandled and crash the process).
  pipeline(createReadStream(file), parser, () => {});
  try {
    yield* parser as AsyncIterable<Row>;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('CSV_')) throw e;
    const err = e as CsvError & CastingContext;
    throw invalid(file, start(err), code === 'CSV_QUOTE_NOT_CLOSED' ? 'a quoted field starting in this record is never closed' : err.message);
  }
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

export async function* readItems(file: string): AsyncGenerator<ItemRecord> {
  for await (const { line, value } of rows(file)) {
    const id = text(file, line, value, 'id');
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'id' || v === null || v === undefined) continue;
      fields[k] = typeof v === 'string' ? v : Array.isArray(v) ? v.join(', ') : String(v);
    }
    yield { id, fields };
  }
}

/** Events in file order. The first event decides whether the file has timestamps. */
export async function* readEvents(file: string): AsyncGenerator<EventRecord> {
  let timed: { line: number; has: boolean } | undefined;
  for await (const { line, value } of rows(file)) {
    const user = text(file, line, value, 'user');
    const item = text(file, line, value, 'item');
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
