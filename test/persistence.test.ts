import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rejection } from './helpers/errors.js';
import { VectorIndex, type Metric, type Storage } from '../src/index.js';
import { clusteredQueries, clusteredVectors } from '../src/tools.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-persist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const dim = 20;
const data = clusteredVectors({ n: 1000, dim, seed: 2 });
const queries = clusteredQueries(data, 10, dim);
const ids = Array.from({ length: 1000 }, (_, i) => i * 7 + 1);

async function savedIndex(name: string): Promise<string> {
  const index = new VectorIndex({ dim, keepOriginals: true });
  await index.add(ids, data.vectors);
  const file = path.join(dir, name);
  await index.save(file);
  return file;
}

describe('save and load', () => {
  for (const storage of ['int8', 'f16', 'f32'] as Storage[]) {
    for (const metric of ['ip', 'cosine', 'l2'] as Metric[]) {
      for (const mmap of [false, true]) {
        it(`round-trips ${storage}/${metric}${mmap ? ' (memory-mapped)' : ''}`, async () => {
          const index = new VectorIndex({ dim, metric, storage, keepOriginals: storage === 'int8' });
          await index.add(ids, data.vectors);
          await index.remove([8, 15]); // leaves a partial last block and moved vectors
          const file = path.join(dir, `${storage}-${metric}-${mmap}.lmrec`);
          await index.save(file);
          const loaded = await VectorIndex.load(file, { mmap });
          expect(loaded.size).toBe(998);
          expect([loaded.dim, loaded.metric, loaded.storage]).toEqual([dim, metric, storage]);
          expect(await loaded.searchBatch(queries, 10)).toEqual(await index.searchBatch(queries, 10));
          if (storage === 'int8') {
            expect(await loaded.searchBatch(queries, 5, { rescore: true })).toEqual(
              await index.searchBatch(queries, 5, { rescore: true }),
            );
          }
          // a loaded (even mapped) index can still change; the file is left alone
          const before = readFileSync(file);
          await loaded.add([5], data.vectors.subarray(0, dim));
          await loaded.remove([1]);
          expect(loaded.has(5) && !loaded.has(1)).toBe(true);
          expect(readFileSync(file).equals(before)).toBe(true);
        });
      }
    }
  }

  it('writes atomically: no temp files remain, and a failed save keeps the old file', async () => {
    const file = await savedIndex('atomic.lmrec');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const before = readFileSync(file);
    const index = new VectorIndex({ dim });
    await index.add([1], data.vectors.subarray(0, dim));
    const e = await rejection(index.save(path.join(dir, 'no-such-dir', 'x.lmrec')));
    expect(e.code).toBe('IO_ERROR');
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('replacing a memory-mapped file with save() is safe: the mapping keeps the old index', async () => {
    const file = await savedIndex('mapped.lmrec');
    const mapped = await VectorIndex.load(file, { mmap: true });
    const expected = await mapped.searchBatch(queries, 10);
    const other = new VectorIndex({ dim });
    await other.add([1, 2, 3], data.vectors.subarray(0, 3 * dim));
    await other.save(file); // write-then-rename: the old inode stays alive for the mapping
    expect(await mapped.searchBatch(queries, 10)).toEqual(expected);
    expect((await VectorIndex.load(file)).size).toBe(3);
  });

  it('sweeps the temp files of a writer killed mid-save (kill -9) on the next save', async () => {
    const file = path.join(dir, 'killed.lmrec');
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', `
      import { VectorIndex } from ${JSON.stringify(path.resolve('src/index.ts'))};
      const index = new VectorIndex({ dim: 256, storage: 'f32', keepOriginals: true });
      await index.add(Float64Array.from({ length: 200000 }, (_, i) => i), Float32Array.from({ length: 200000 * 256 }, (_, i) => Math.sin(i)));
      for (;;) await index.save(${JSON.stringify(file)});
    `], { stdio: 'ignore' });
    const temps = () => readdirSync(dir).filter((f) => f.startsWith('killed.lmrec.tmp-'));
    const t0 = Date.now();
    while (temps().length === 0 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(temps().length).toBe(1); // the litter a crash leaves
    const live = `${file}.tmp-${process.pid}-999`; // a writer still running (this process) keeps its file
    writeFileSync(live, 'in progress');
    const index = new VectorIndex({ dim });
    await index.add([1], data.vectors.subarray(0, dim));
    await index.save(file);
    expect(temps()).toEqual([path.basename(live)]);
    rmSync(live);
  });

  it('rejects a damaged file', async () => {
    const file = await savedIndex('corrupt.lmrec');
    const bytes = readFileSync(file);
    const at = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0x40, at);
    writeFileSync(file, bytes);
    expect((await rejection(VectorIndex.load(file))).code).toBe('CORRUPT_FILE');
    expect((await rejection(VectorIndex.load(file, { mmap: true }))).code).toBe('CORRUPT_FILE');
  });

  it('rejects a damaged header', async () => {
    const file = await savedIndex('header.lmrec');
    const bytes = readFileSync(file);
    bytes.writeUInt32LE(70000, 16); // dim
    writeFileSync(file, bytes);
    expect((await rejection(VectorIndex.load(file))).code).toBe('CORRUPT_FILE');
  });

  it('rejects truncated files', async () => {
    const file = await savedIndex('truncated.lmrec');
    truncateSync(file, statSync(file).size - 100);
    expect((await rejection(VectorIndex.load(file))).code).toBe('TRUNCATED_FILE');
    truncateSync(file, 30);
    expect((await rejection(VectorIndex.load(file))).code).toBe('TRUNCATED_FILE');
  });

  it('rejects foreign and empty files', async () => {
    const foreign = path.join(dir, 'foreign.json');
    writeFileSync(foreign, JSON.stringify({ hello: 'world' }).repeat(10));
    expect((await rejection(VectorIndex.load(foreign))).code).toBe('NOT_AN_INDEX');
    const empty = path.join(dir, 'empty');
    writeFileSync(empty, '');
    expect((await rejection(VectorIndex.load(empty))).code).toBe('NOT_AN_INDEX');
  });

  it('rejects a file from a newer format version with a clear message', async () => {
    const file = await savedIndex('newer.lmrec');
    const bytes = readFileSync(file);
    bytes.writeUInt32LE(2, 8);
    writeFileSync(file, bytes);
    const e = await rejection(VectorIndex.load(file));
    expect(e.code).toBe('UNSUPPORTED_VERSION');
    expect(e.message).toMatch(/upgrade lmrec/);
  });

  it('rejects missing files and directories', async () => {
    expect((await rejection(VectorIndex.load(path.join(dir, 'missing')))).code).toBe('IO_ERROR');
    expect((await rejection(VectorIndex.load(dir))).code).toBe('IO_ERROR');
  });
});
