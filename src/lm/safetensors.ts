/**
 * Reads Hugging Face safetensors checkpoints: one `model.safetensors`, or shards listed by
 * `model.safetensors.index.json`. Each file is read once; tensors are decoded to Float32Array
 * on request (fp32 shares the file's bytes when aligned; fp16 and bf16 are widened).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER_BYTES = 100 * 2 ** 20;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  file: string;
}

interface Entry extends TensorInfo {
  bytes: Uint8Array;
}

function corrupt(file: string, why: string): LmrecError {
  return new LmrecError(`'${file}' is not a valid safetensors file: ${why}`, 'CORRUPT_FILE');
}

/** Parses one safetensors file's bytes into tensor entries (views into `data`). */
export function parseSafetensors(data: Uint8Array, file: string): Entry[] {
  if (data.length < 8) throw new LmrecError(`'${file}' is cut short (${data.length} bytes)`, 'TRUNCATED_FILE');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const headerBytes = Number(view.getBigUint64(0, true));
  if (headerBytes > MAX_HEADER_BYTES) throw corrupt(file, `header length ${headerBytes} is implausible`);
  if (8 + headerBytes > data.length) {
    throw new LmrecError(`'${file}' is cut short: its header needs ${headerBytes} bytes`, 'TRUNCATED_FILE');
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(data.subarray(8, 8 + headerBytes)));
  } catch {
    throw corrupt(file, 'the header is not JSON');
  }
  if (header === null || typeof header !== 'object') throw corrupt(file, 'the header is not an object');
  const body = data.subarray(8 + headerBytes);
  const entries: Entry[] = [];
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (!t || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets) || t.data_offsets.length !== 2) {
      throw corrupt(file, `tensor '${name}' has a malformed entry`);
    }
    if (!(t.dtype in BYTES)) {
      throw new LmrecError(`'${file}': tensor '${name}' has dtype ${t.dtype}; lmrec reads F32, F16 and BF16`, 'UNSUPPORTED');
    }
    const dtype = t.dtype as SafetensorsDtype;
    const [begin, end] = t.data_offsets;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin || end - begin !== count * BYTES[dtype]) {
      throw corrupt(file, `tensor '${name}' has offsets that do not match its shape`);
    }
    if (end > body.length) {
      throw new LmrecError(`'${file}' is cut short: tensor '${name}' ends past the end of the file`, 'TRUNCATED_FILE');
    }
    entries.push({ name, dtype, shape: t.shape, file, bytes: body.subarray(begin, end) });
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

  /** Opens `dir/model.safetensors` or the shards of `dir/model.safetensors.index.json`. */
  static open(dir: string): Safetensors {
    const single = path.join(dir, 'model.safetensors');
    const index = path.join(dir, 'model.safetensors.index.json');
    let files: string[];
    if (existsSync(index)) {
      let map: { weight_map?: Record<string, string> };
      try {
        map = JSON.parse(readFileSync(index, 'utf8'));
      } catch {
        throw corrupt(index, 'the index is not JSON');
      }
      if (!map.weight_map || typeof map.weight_map !== 'object') throw corrupt(index, 'no weight_map');
      files = [...new Set(Object.values(map.weight_map))].map((f) => path.join(dir, f));
    } else if (existsSync(single)) {
      files = [single];
    } else {
      throw new LmrecError(`'${dir}' has neither model.safetensors nor model.safetensors.index.json`, 'IO_ERROR');
    }
    const entries = new Map<string, Entry>();
    for (const file of files) {
      let data: Buffer;
      try {
        data = readFileSync(file);
      } catch (e) {
        throw new LmrecError(`cannot read '${file}': ${(e as Error).message}`, 'IO_ERROR');
      }
      for (const entry of parseSafetensors(data, file)) {
        if (entries.has(entry.name)) throw corrupt(file, `tensor '${entry.name}' appears in two shards`);
        entries.set(entry.name, entry);
      }
    }
    return new Safetensors(entries);
  }

  names(): string[] {
    return [...this.#entries.keys()];
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  info(name: string): TensorInfo {
    const e = this.#entries.get(name);
    if (!e) throw new LmrecError(`the checkpoint has no tensor '${name}'`, 'CORRUPT_FILE');
    return { name: e.name, dtype: e.dtype, shape: e.shape, file: e.file };
  }

  /** The tensor as fp32, checked against `shape` when given. */
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
    return new Float32Array(e.bytes.slice().buffer);
  }
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
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

/** Writes a safetensors file atomically (temp file, then rename). */
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
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, Buffer.concat([head, Buffer.from(json), ...bodies]));
  renameSync(tmp, file);
}
