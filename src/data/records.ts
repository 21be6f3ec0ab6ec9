/**
 * Streaming readers for the files a user points lmrec at: items (`id` plus text fields) and
 * events (`user`, `item`, `ts`), as JSON lines or CSV with a header. Files larger than memory
 * are fine: records are yielded one at a time. A malformed record is an INVALID_DATA error
 * naming the file, the line and the field.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import { LmrecError } from '../errors.js';

export interface ItemRecord {
  id: string;
  /** Every other field, as text. */
  fields: Record<string, string>;
}

export interface EventRecord {
  user: string;
  item: string;
  /** Seconds or milliseconds since the epoch, or any increasing number. */
  ts: number;
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
  const parser = createReadStream(file).pipe(parse({ columns: true, bom: true, skip_empty_lines: true, trim: true, info: true }));
  try {
    for await (const record of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      yield { line: record.info.lines, value: record.record };
    }
  } catch (e) {
    if (e instanceof LmrecError) throw e;
    const err = e as { lines?: number; message: string };
    throw invalid(file, err.lines ?? 0, err.message);
  }
}

function rows(file: string): AsyncGenerator<Row> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return jsonLines(file);
  if (ext === '.csv') return csvRows(file);
  throw new LmrecError(`${file}: unknown format '${ext}' (use .jsonl or .csv)`, 'INVALID_ARGUMENT');
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

export async function* readEvents(file: string): AsyncGenerator<EventRecord> {
  for await (const { line, value } of rows(file)) {
    const user = text(file, line, value, 'user');
    const item = text(file, line, value, 'item');
    const raw = value.ts;
    const ts = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
    if (!Number.isFinite(ts)) throw invalid(file, line, raw === undefined || raw === '' ? "missing 'ts'" : "'ts' must be a number");
    yield { user, item, ts };
  }
}
