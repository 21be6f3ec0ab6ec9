/**
 * Reads Hugging Face safetensors checkpoints: one `model.safetensors`, or shards listed by
 * `model.safetensors.index.json`. Each file is read once; tensors are decoded to Float32Array
 * on request (fp32 shares the file's bytes when aligned; fp16 and bf16 are widened).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { readBytes, readTextFile } from '../util/read-text.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER_BYTES = 100 * 2 ** 20;

export interface TensorInfo {
  /** The tensor's name in the checkpoint, e.g. 'model.embed_tokens.weight'. */
  name: string;
  /** How its values are stored; get() returns them as fp32 whatever it is. */
  dtype: SafetensorsDtype;
  /** Its dimensions, outermost first. */
  shape: number[];
  /** The safetensors file (shard) that holds it. */
  file: string;
}

interface Entry extends TensorInfo {
  bytes: Uint8Array;
}

function corrupt(file: string, why: string): LmrecError {
  return new LmrecError(`'${file}' is not a valid safetensors file: ${why}`, 'CORRUPT_FILE');
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A name or value for an error message: short, and never coerced through its own methods. */
function show(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : (JSON.stringify(v) ?? typeof v);
  } catch {
    s = typeof v; // e.g. nested too deeply to stringify
  }
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}

/**
 * Parses one safetensors file's bytes into tensor entries (views into `data`, nothing copied).
 * Anything malformed throws an LmrecError (CORRUPT_FILE, TRUNCATED_FILE, or UNSUPPORTED for a
 * dtype lmrec does not read): the header must be a UTF-8 JSON object whose entries have a
 * supported dtype, a shape of non-negative integers and data_offsets of that many bytes,
 * inside the file and not overlapping each other.
 */
export function parseSafetensors(data: Uint8Array, file: string): Entry[] {
  if (data.length < 8) throw new LmrecError(`'${file}' is cut short (${data.length} bytes)`, 'TRUNCATED_FILE');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const headerBytes = Number(view.getBigUint64(0, true));
  if (headerBytes > MAX_HEADER_BYTES) throw corrupt(file, `header length ${headerBytes} is implausible`);
  if (8 + headerBytes > data.length) {
    throw new LmrecError(`'${file}' is cut short: its header needs ${headerBytes} bytes`, 'TRUNCATED_FILE');
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(8, 8 + headerBytes)));
  } catch {
    throw corrupt(file, 'the header is not JSON (in UTF-8)');
  }
  if (!isObject(header)) throw corrupt(file, 'the header is not an object');
  const body = data.subarray(8 + headerBytes);
  const entries: Entry[] = [];
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (!isObject(t) || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets) || t.data_offsets.length !== 2) {
      throw corrupt(file, `tensor '${show(name)}' has a malformed entry`);
    }
    if (typeof t.dtype !== 'string') throw corrupt(file, `tensor '${show(name)}' has dtype ${show(t.dtype)}, not a name`);
    if (!Object.hasOwn(BYTES, t.dtype)) {
      throw new LmrecError(
        `'${file}': tensor '${show(name)}' has dtype ${show(t.dtype)}; lmrec reads F32, F16 and BF16`,
        'UNSUPPORTED',
      );
    }
    const dtype = t.dtype as SafetensorsDtype;
    const shape: unknown[] = t.shape;
    if (!shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw corrupt(file, `tensor '${show(name)}' has shape ${show(shape)}, not a list of non-negative integers`);
    }
    // Past 2^53 the product is inexact, but then also larger than any file: it cannot match.
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const [begin, end] = t.data_offsets as unknown[];
    if (
      !Number.isSafeInteger(begin) ||
      !Number.isSafeInteger(end) ||
      (begin as number) < 0 ||
      (end as number) < (begin as number) ||
      (end as number) - (begin as number) !== count * BYTES[dtype]
    ) {
      throw corrupt(file, `tensor '${show(name)}' has offsets that do not match its shape`);
    }
    if ((end as number) > body.length) {
      throw new LmrecError(`'${file}' is cut short: tensor '${show(name)}' ends past the end of the file`, 'TRUNCATED_FILE');
    }
    entries.push({ name, dtype, shape: shape as number[], file, bytes: body.subarray(begin as number, end as number) });
  }
  // Tensors may not share bytes (the format forbids it; a writer that aliased them is broken).
  const placed = entries.filter((e) => e.bytes.length > 0).sort((a, b) => a.bytes.byteOffset - b.bytes.byteOffset);
  for (let i = 1; i < placed.length; i++) {
    const a = placed[i - 1]!;
    const b = placed[i]!;
    if (b.bytes.byteOffset < a.bytes.byteOffset + a.bytes.length) {
      throw corrupt(file, `tensors '${show(a.name)}' and '${show(b.name)}' overlap`);
    }
  }
  return entries;
}

function bf16ToF32(src: Uint8Array): Float32Array {
  const out = new Float32Array(src.length / 2);
  const u32 = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) u32[i] = (src[2 * i]! | (src[2 * i + 1]! << 8)) << 16;
  return out;
}

function f16ToF32(src: Uint8Array): Float32Array {
  const out = new Float32Array(src.length / 2);
  for (let i = 0; i < out.length; i++) {
    const h = src[2 * i]! | (src[2 * i + 1]! << 8);
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    out[i] =
      exp === 0 ? sign * mant * 2 ** -24 : exp === 31 ? (mant ? Number.NaN : sign * Infinity) : sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** A checkpoint's tensors, by name. */
export class Safetensors {
  readonly #entries: Map<string, Entry>;

  private constructor(entries: Map<string, Entry>) {
    this.#entries = entries;
  }

  /**
   * Opens `dir/model.safetensors` or the shards of `dir/model.safetensors.index.json`.
   * @param dir A model directory.
   */
  static open(dir: string): Safetensors {
    const single = path.join(dir, 'model.safetensors');
    const index = path.join(dir, 'model.safetensors.index.json');
    let files: string[];
    if (existsSync(index)) {
      const text = readTextFile(index);
      let map: unknown;
      try {
        map = JSON.parse(text);
      } catch {
        throw corrupt(index, 'the index is not JSON');
      }
      const weightMap = isObject(map) ? map.weight_map : undefined;
      if (!isObject(weightMap)) throw corrupt(index, 'no weight_map object');
      // Shards are files of this directory: a name that leads elsewhere is refused, not followed.
      const base = path.resolve(dir);
      const shards = new Set<string>();
      for (const [tensor, f] of Object.entries(weightMap)) {
        if (typeof f !== 'string' || f === '') throw corrupt(index, `weight_map gives tensor '${show(tensor)}' no file name`);
        const shard = path.resolve(base, f);
        const rel = path.relative(base, shard);
        if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
          throw corrupt(index, `weight_map names '${show(f)}', outside the model directory`);
        }
        shards.add(path.join(dir, rel));
      }
      files = [...shards];
    } else if (existsSync(single)) {
      files = [single];
    } else {
      throw new LmrecError(`'${dir}' has neither model.safetensors nor model.safetensors.index.json`, 'IO_ERROR');
    }
    return Safetensors.#fromFiles(files);
  }

  /**
   * Opens one safetensors file.
   * @param file A .safetensors file.
   */
  static openFile(file: string): Safetensors {
    return Safetensors.#fromFiles([file]);
  }

  static #fromFiles(files: string[]): Safetensors {
    const entries = new Map<string, Entry>();
    for (const file of files) {
      for (const entry of parseSafetensors(readBytes(file), file)) {
        if (entries.has(entry.name)) throw corrupt(file, `tensor '${show(entry.name)}' appears in two shards`);
        entries.set(entry.name, entry);
      }
    }
    return new Safetensors(entries);
  }

  /** The names of every tensor the checkpoint holds. */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Whether the checkpoint holds a tensor of this name.
   * @param name The tensor's name.
   */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /**
   * A tensor's name, dtype, shape and file, without reading its values.
   * @param name The tensor's name (CORRUPT_FILE when there is none).
   */
  info(name: string): TensorInfo {
    const e = this.#entries.get(name);
    if (!e) throw new LmrecError(`the checkpoint has no tensor '${name}'`, 'CORRUPT_FILE');
    return { name: e.name, dtype: e.dtype, shape: e.shape, file: e.file };
  }

  /**
   * The tensor as fp32, checked against `shape` when given.
   * @param name The tensor's name (CORRUPT_FILE when there is none).
   * @param shape The shape expected (DIM_MISMATCH when it differs).
   */
  get(name: string, shape?: number[]): Float32Array {
    const e = this.#entries.get(name);
    if (!e) throw new LmrecError(`the checkpoint has no tensor '${name}'`, 'CORRUPT_FILE');
    if (shape && (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i]))) {
      throw new LmrecError(
        `tensor '${name}' has shape [${e.shape.join(', ')}], the config implies [${shape.join(', ')}]`,
        'DIM_MISMATCH',
      );
    }
    if (e.dtype === 'BF16') return bf16ToF32(e.bytes);
    if (e.dtype === 'F16') return f16ToF32(e.bytes);
    if (e.bytes.byteOffset % 4 === 0) return new Float32Array(e.bytes.buffer, e.bytes.byteOffset, e.bytes.length / 4);
    // Unaligned: copy. (Not e.bytes.slice(): on a Buffer that is a view of the whole file.)
    const copy = new Uint8Array(e.bytes.length);
    copy.set(e.bytes);
    return new Float32Array(copy.buffer);
  }
}

export interface TensorToWrite {
  /** The tensor's name in the file. */
  name: string;
  /** Its dimensions, outermost first (written as given: `data` should hold their product). */
  shape: number[];
  /** The values, row-major, in fp32. */
  data: Float32Array;
  /** How to store them: 'F32' (default), or 'F16' / 'BF16' (rounded to nearest even). */
  dtype?: SafetensorsDtype;
}

function encode(t: TensorToWrite): Uint8Array {
  const dtype = t.dtype ?? 'F32';
  if (dtype === 'F32') return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice();
  const out = new Uint8Array(t.data.length * 2);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < t.data.length; i++) {
    f[0] = t.data[i]!;
    let h: number;
    if (dtype === 'BF16') {
      const bits = u[0]!;
      h = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff; // round to nearest even
    } else {
      h = floatToHalf(t.data[i]!);
    }
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

function floatToHalf(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return 0x7e00;
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -24 / 2) return sign;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return m === 1024 ? sign | ((e + 16) << 10) : sign | ((e + 15) << 10) | m;
}

/**
 * Writes a safetensors file atomically (temp file, then rename).
 * @param file The file to write.
 * @param tensors The tensors, in file order; names must be distinct.
 */
export function writeSafetensors(file: string, tensors: TensorToWrite[]): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const bodies: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bytes = encode(t);
    header[t.name] = { dtype: t.dtype ?? 'F32', shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    bodies.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8); // keeps the data 8-byte aligned
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  writeFileAtomic(file, Buffer.concat([head, Buffer.from(json), ...bodies]));
}
