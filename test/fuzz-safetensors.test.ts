/**
 * Property-based fuzzing of the safetensors reader (src/lm/safetensors.ts). Files are built
 * valid, then damaged: byte flips, truncations, implausible header lengths, offsets out of
 * range or past 2^53, overlapping tensors, wrong or hostile dtypes and shapes, non-JSON and
 * invalid UTF-8 headers, deeply nested JSON, hostile shard indexes. Whatever comes in, the
 * reader either returns a consistent structure (views into the file's bytes, nothing copied)
 * or throws an LmrecError; never another error, never a hang.
 *
 * `npm test` runs a few seconds of it. `npm run fuzz` (scripts/fuzz.mjs) runs it longer:
 * LMREC_FUZZ_SECONDS=N runs each property for about N seconds in all; LMREC_FUZZ_RUNS=N sets
 * the number of cases instead; LMREC_FUZZ_STATS=file receives the number of cases run;
 * LMREC_FUZZ_FINDINGS=dir receives a failing file's bytes; LMREC_FUZZ_SEED=n replays a run.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, LmrecError } from '../src/errors.js';
import { parseSafetensors, Safetensors, type SafetensorsDtype } from '../src/lm/safetensors.js';

const SECONDS = Number(process.env.LMREC_FUZZ_SECONDS ?? 0);
const RUNS = Number(process.env.LMREC_FUZZ_RUNS ?? 0) || (SECONDS > 0 ? 1e9 : 1000);
const STATS = process.env.LMREC_FUZZ_STATS;
const FINDINGS = process.env.LMREC_FUZZ_FINDINGS; // a directory for counterexamples (files)
// `npm test` explores the same cases every time (a failure there reproduces); longer runs
// explore new ones unless LMREC_FUZZ_SEED is set (fast-check prints the seed of a failure).
const SEED = process.env.LMREC_FUZZ_SEED ? Number(process.env.LMREC_FUZZ_SEED) : SECONDS > 0 ? undefined : 20240801;
const MAX_CALL_MS = 3000; // one parse of one (at most a few MB) file
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };

const root = mkdtempSync(path.join(tmpdir(), 'lmrec-fuzz-st-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// ---- building files ---------------------------------------------------------------------

interface Spec {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

const enc = new TextEncoder();

/** Header JSON text for a header value; objects may carry own "__proto__" keys. */
const json = (v: unknown): string => JSON.stringify(v) ?? 'null';

function assemble(headerText: string | Uint8Array, body: Uint8Array, declared?: bigint): Uint8Array {
  const head = typeof headerText === 'string' ? enc.encode(headerText) : headerText;
  const out = new Uint8Array(8 + head.length + body.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(head.length), true);
  out.set(head, 8);
  out.set(body, 8 + head.length);
  return out;
}

/** A valid file: its header as a (mutable) value, its body, and the tensors it holds. */
function validParts(specs: Spec[], metadata: unknown) {
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined) header.__metadata__ = metadata;
  let offset = 0;
  for (const s of specs) {
    const bytes = s.shape.reduce((a, b) => a * b, 1) * BYTES[s.dtype];
    header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const body = new Uint8Array(offset);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) & 0xff;
  return { header, body };
}

const specs = fc.uniqueArray(
  fc.record({
    name: fc.string({ minLength: 1, maxLength: 10 }).filter((n) => n !== '__metadata__'),
    dtype: fc.constantFrom<SafetensorsDtype>('F32', 'F16', 'BF16'),
    shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
  }),
  { selector: (s) => s.name, minLength: 0, maxLength: 5 },
);
const metadata = fc.option(fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.jsonValue({ maxDepth: 2 })), {
  nil: undefined,
});

// Values that have broken parsers: not numbers, not integers, past 2^53, prototype names,
// objects whose coercion to a string or number throws.
const hostile = fc.oneof(
  fc.constantFrom<unknown>(
    -1, -0.5, 0.5, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 2 ** 64, 1e308, -1e308,
    '0', '4', 'F32', 'I32', 'toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf', '',
    null, true, false, [], {}, ['F32'], [4], [[4]], [0, 4], [4, 0], [-4, 0],
    JSON.parse('{"toString": 1, "valueOf": 1}'), JSON.parse('{"__proto__": {"x": 1}}'), JSON.parse('{"valueOf": 4}'),
  ),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 2 }),
);

type Header = Record<string, unknown>;
type Mutation = (h: Header, bodyLength: number) => void;

const tensorKeys = (h: Header) => Object.keys(h).filter((k) => k !== '__metadata__');
const pick = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
/** The i-th tensor entry of a header, when it is still an object (earlier damage may have replaced it). */
function entry(h: Header, i: number): Header | undefined {
  const k = pick(tensorKeys(h), i);
  const t = k === undefined ? undefined : h[k];
  return t !== null && typeof t === 'object' && !Array.isArray(t) ? (t as Header) : undefined;
}

/** Structural damage to a parsed header (applied to a copy). */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // one field of one tensor replaced by a hostile value
  fc.tuple(fc.nat(), fc.constantFrom('dtype', 'shape', 'data_offsets'), hostile).map(
    ([i, field, v]): Mutation =>
      (h) => {
        const t = entry(h, i);
        if (t) t[field] = v;
      },
  ),
  // one element of a shape or of data_offsets replaced
  fc.tuple(fc.nat(), fc.constantFrom('shape', 'data_offsets'), fc.nat(3), hostile).map(
    ([i, field, j, v]): Mutation =>
      (h) => {
        const arr = entry(h, i)?.[field];
        if (Array.isArray(arr)) arr[j % Math.max(arr.length, 1)] = v;
      },
  ),
  // offsets moved: out of range, past 2^53, negative, overlapping another tensor
  fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: -16, max: 16 }), fc.constantFrom(0, 2 ** 32, 2 ** 53, 2 ** 53 - 8, 1e300)).map(
    ([i, j, shift, base]): Mutation =>
      (h, bodyLength) => {
        const ta = entry(h, i);
        const tb = entry(h, j);
        const oa = ta?.data_offsets;
        const ob = tb?.data_offsets;
        if (!ta || !Array.isArray(oa) || !Array.isArray(ob)) return;
        const num = (x: unknown) => (typeof x === 'number' ? x : 0); // (hostile values may not convert)
        const size = num(oa[1]) - num(oa[0]);
        const begin = base === 0 ? num(ob[0]) + shift : base + shift + (bodyLength & 1);
        ta.data_offsets = [begin, begin + size];
      },
  ),
  // an extra entry (hostile, or a copy of another tensor under a new name: overlap)
  fc.tuple(fc.string({ maxLength: 8 }), fc.nat(), fc.oneof(hostile, fc.constant('copy'))).map(
    ([name, i, v]): Mutation =>
      (h) => {
        const t = entry(h, i);
        h[`x${name}`] = v === 'copy' ? (t ? structuredClone(t) : null) : v;
      },
  ),
  // an entry removed, or the header's metadata replaced
  fc.tuple(fc.nat(), hostile).map(
    ([i, v]): Mutation =>
      (h) => {
        const k = pick(tensorKeys(h), i);
        if (k !== undefined && i % 2) delete h[k];
        else h.__metadata__ = v;
      },
  ),
);

function nested(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '{}' + '}'.repeat(depth);
}

/** Whole files, valid or damaged in one or more ways. */
const file: fc.Arbitrary<Uint8Array> = fc.oneof(
  // valid
  fc.tuple(specs, metadata).map(([s, m]) => {
    const { header, body } = validParts(s, m);
    return assemble(json(header), body);
  }),
  // structurally damaged headers
  fc.tuple(specs, metadata, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([s, m, ms]) => {
    const { header, body } = validParts(s, m);
    const h = JSON.parse(json(header)) as Header;
    for (const mutate of ms) mutate(h, body.length);
    return assemble(json(h), body);
  }),
  // the header replaced: any JSON, random text, random bytes (invalid UTF-8), deep nesting
  fc.tuple(
    fc.oneof(
      fc.jsonValue().map(json),
      fc.string({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(fc.integer({ min: 1_000, max: 200_000 }), fc.constantFrom<'array' | 'object'>('array', 'object')).map(([d, k]) =>
        nested(d, k),
      ),
      fc.tuple(fc.integer({ min: 1_000, max: 100_000 }), fc.constantFrom<'array' | 'object'>('array', 'object')).map(
        ([d, k]) => `{"t": {"dtype": "F32", "shape": ${nested(d, k)}, "data_offsets": [0, 4]}}`,
      ),
      fc.integer({ min: 1, max: 20_000 }).map((n) => {
        // many tiny tensors (quadratic checks would show here)
        const h: Header = {};
        for (let i = 0; i < n; i++) h[`t${i}`] = { dtype: 'F16', shape: [1], data_offsets: [2 * i, 2 * i + 2] };
        return json(h);
      }),
    ),
    fc.uint8Array({ maxLength: 32 }),
  ).map(([head, body]) => assemble(head, body)),
  // the declared header length: anything up to 2^64 - 1
  fc.tuple(
    specs,
    fc.oneof(
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ abs: v })),
      fc
        .constantFrom(0n, 1n, 7n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 100n * 2n ** 20n, 100n * 2n ** 20n + 1n)
        .map((v) => ({ abs: v })),
      fc.integer({ min: -8, max: 8 }).map((d) => ({ rel: BigInt(d) })), // off the true length by a little
    ),
  ).map(([s, declared]) => {
    const { header, body } = validParts(s, undefined);
    const text = json(header);
    const len = BigInt(enc.encode(text).length);
    const d = 'abs' in declared ? declared.abs : len + declared.rel;
    return assemble(text, body, d < 0n ? 0n : d);
  }),
).chain((bytes) =>
  // then, sometimes, byte flips and a truncation on top
  fc
    .tuple(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.option(fc.nat(), { nil: undefined, freq: 3 }),
    )
    .map(([flips, cut]) => {
      let out = bytes;
      if (flips.length) {
        out = bytes.slice();
        for (const [at, v] of flips) if (out.length) out[at % out.length] = v;
      }
      return cut === undefined ? out : out.subarray(0, cut % (out.length + 1));
    }),
);

// ---- the properties ---------------------------------------------------------------------

function expectLmrecError(e: unknown): void {
  if (!(e instanceof LmrecError)) {
    throw new Error(`threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}, not an LmrecError`);
  }
  expect(ERROR_CODES).toContain(e.code);
}

/** Checks what parseSafetensors returned against the bytes it was given. */
function checkEntries(data: Uint8Array, entries: ReturnType<typeof parseSafetensors>): void {
  const headerBytes = Number(new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0, true));
  const bodyStart = data.byteOffset + 8 + headerBytes;
  const names = new Set<string>();
  const ranges: [number, number][] = [];
  for (const e of entries) {
    expect(typeof e.name).toBe('string');
    expect(names.has(e.name)).toBe(false);
    names.add(e.name);
    expect(['F32', 'F16', 'BF16']).toContain(e.dtype);
    expect(typeof e.dtype).toBe('string');
    expect(Array.isArray(e.shape)).toBe(true);
    for (const d of e.shape) expect(Number.isSafeInteger(d) && d >= 0).toBe(true);
    const count = e.shape.reduce((a, b) => a * b, 1);
    expect(e.bytes.length).toBe(count * BYTES[e.dtype]);
    // a view into the file's bytes, inside its body: nothing was copied
    expect(e.bytes.buffer).toBe(data.buffer);
    expect(e.bytes.byteOffset).toBeGreaterThanOrEqual(bodyStart);
    expect(e.bytes.byteOffset + e.bytes.length).toBeLessThanOrEqual(data.byteOffset + data.length);
    if (e.bytes.length) ranges.push([e.bytes.byteOffset, e.bytes.byteOffset + e.bytes.length]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]);
}

function timed<T>(fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    const ms = performance.now() - t0;
    if (ms > MAX_CALL_MS) throw new Error(`one call took ${Math.round(ms)} ms`);
  }
}

const stats = { runs: 0, seconds: 0 };
function run(name: string, property: fc.IProperty<[Uint8Array, ...unknown[]]> | fc.IProperty<unknown[]>, share: number): void {
  const t0 = performance.now();
  const details = fc.check(property as fc.IProperty<unknown[]>, {
    numRuns: RUNS,
    ...(SEED !== undefined ? { seed: SEED } : {}),
    ...(SECONDS > 0 ? { interruptAfterTimeLimit: SECONDS * 1000 * share } : {}),
  });
  stats.runs += details.numRuns;
  stats.seconds += (performance.now() - t0) / 1000;
  if (STATS) writeFileSync(STATS, JSON.stringify(stats));
  if (details.failed) {
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    const example = details.counterexample?.[0];
    let saved = '';
    if (FINDINGS && example instanceof Uint8Array) {
      mkdirSync(FINDINGS, { recursive: true });
      const file = path.join(FINDINGS, `safetensors-${createHash('sha1').update(example).digest('hex')}`);
      writeFileSync(file, example);
      saved = `\ncounterexample saved to ${file}`;
    }
    const report = fc.defaultReportMessage(details) ?? '';
    const short = report.length > 3000 ? `${report.slice(0, 3000)} ... (${report.length} characters)` : report;
    throw new Error(`${name}: ${cause}${saved}\n${short}`);
  }
}

const timeout = SECONDS > 0 ? SECONDS * 1000 + 60_000 : 60_000;

describe('safetensors reader under fuzzing', () => {
  it('parses any bytes to a consistent structure or throws an LmrecError', () => {
    run(
      'parseSafetensors',
      fc.property(file, (data) => {
        let entries: ReturnType<typeof parseSafetensors>;
        try {
          entries = timed(() => parseSafetensors(data, 'fuzz.safetensors'));
        } catch (e) {
          expectLmrecError(e);
          return;
        }
        checkEntries(data, entries);
      }),
      0.7,
    );
  }, timeout);

  it('parses every valid file exactly', () => {
    run(
      'valid files',
      fc.property(specs, metadata, (s, m) => {
        const { header, body } = validParts(s, m);
        const data = assemble(json(header), body);
        const entries = parseSafetensors(data, 'ok.safetensors');
        checkEntries(data, entries);
        const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
        expect(entries.sort(byName).map((e) => [e.name, e.dtype, e.shape, e.bytes.length])).toEqual(
          [...s].sort(byName).map((t) => [t.name, t.dtype, t.shape, t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype]]),
        );
      }),
      0.05,
    );
  }, timeout);

  it('opens damaged checkpoints and shard indexes with typed errors only', () => {
    const dir = path.join(root, 'model');
    mkdirSync(dir, { recursive: true });
    // A valid file outside the model directory: an index naming it must not be followed there.
    const { header, body } = validParts([{ name: 'outside', dtype: 'F32', shape: [1] }], undefined);
    writeFileSync(path.join(root, 'outside.safetensors'), assemble(json(header), body));
    const weightMap = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom<unknown>(
        null, 5, 'x', [], {}, { weight_map: null }, { weight_map: [] }, { weight_map: 'model.safetensors' },
        { weight_map: { t: 5 } }, { weight_map: { t: null } }, { weight_map: { t: ['model.safetensors'] } },
        { weight_map: { t: {} } }, { weight_map: { t: 'missing.safetensors' } }, { weight_map: { t: '' } },
        { weight_map: { t: '.' } }, { weight_map: { t: '../outside.safetensors' } },
        { weight_map: { t: path.join(root, 'outside.safetensors') } }, { weight_map: { t: 'model.safetensors' } },
        { weight_map: { a: 'model.safetensors', b: 'model.safetensors' } },
      ),
    );
    run(
      'Safetensors.open',
      fc.property(file, fc.option(weightMap, { nil: undefined, freq: 2 }), (data, index) => {
        writeFileSync(path.join(dir, 'model.safetensors'), data);
        const indexFile = path.join(dir, 'model.safetensors.index.json');
        rmSync(indexFile, { force: true });
        if (index !== undefined) writeFileSync(indexFile, json(index));
        let st: Safetensors;
        try {
          st = timed(() => Safetensors.open(dir));
        } catch (e) {
          expectLmrecError(e);
          return;
        }
        const shards = index && typeof index === 'object' ? Object.values((index as { weight_map?: object }).weight_map ?? {}) : [];
        expect(shards.some((f) => typeof f === 'string' && f.includes('outside'))).toBe(false);
        // Without an index the one file was read: its entries tell what each tensor must hold.
        const raw = index === undefined ? new Map(parseSafetensors(data, 'x').map((e) => [e.name, e.bytes])) : null;
        for (const name of st.names()) {
          const info = st.info(name);
          const values = st.get(name);
          expect(values.length).toBe(info.shape.reduce((a, b) => a * b, 1));
          const bytes = raw?.get(name);
          if (bytes && info.dtype === 'F32') {
            expect(Buffer.from(values.buffer, values.byteOffset, values.byteLength).equals(Buffer.from(bytes))).toBe(true);
          }
        }
      }),
      0.25,
    );
  }, timeout);
});
