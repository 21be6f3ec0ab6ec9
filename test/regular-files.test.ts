/**
 * Every file lmrec reads must be a regular file: a FIFO would block the read until a writer
 * comes (forever), a directory or a device is no file. Each reader, native and TypeScript,
 * refuses them at once with IO_ERROR naming the file. (Recommender.load's parts: see
 * recommender-load.test.ts.)
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, it, expect } from 'vitest';
import { readEvents, readItems } from '../src/data/records.js';
import { GraphCache } from '../src/lm/graph-cache.js';
import { LanguageModel } from '../src/lm/language-model.js';
import { Safetensors } from '../src/lm/safetensors.js';
import { loadTokenizer } from '../src/lm/tokenizer.js';
import { SequentialRecommender } from '../src/srm/sequential-recommender.js';
import { readTextFile } from '../src/util/read-text.js';
import { VectorIndex } from '../src/vector-index/vector-index.js';
import { expectRefused, makeFifo, stopFifoWriters } from './helpers/fifo.js';
import { writeTinyDecoder, writeTinyTokenizer } from './helpers/tiny-models.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-regular-'));
afterAll(() => {
  stopFifoWriters();
  rmSync(dir, { recursive: true, force: true });
});

/** A FIFO named `name` in the scratch directory. */
function fifo(name: string): string {
  const file = path.join(dir, name);
  makeFifo(file);
  return file;
}

/** A tiny model directory whose file `name` is a FIFO. */
function modelWithFifo(name: string): string {
  const model = path.join(dir, `model-${name}`);
  writeTinyDecoder(model);
  writeTinyTokenizer(model, ['a', 'b']);
  rmSync(path.join(model, name));
  makeFifo(path.join(model, name));
  return model;
}

const drain = async (records: AsyncIterable<unknown>) => {
  for await (const _ of records);
};

describe('readers refuse what is not a regular file', () => {
  it('native: VectorIndex.load and SequentialRecommender.load on a FIFO or a directory', async () => {
    const index = fifo('index.bin');
    await expectRefused(() => VectorIndex.load(index), index);
    const srm = fifo('srm.bin');
    await expectRefused(() => SequentialRecommender.load(srm), srm);
    await expectRefused(() => VectorIndex.load(dir), dir);
  });

  it('data files: items and events, JSON lines and CSV', async () => {
    const items = fifo('items.jsonl');
    await expectRefused(() => drain(readItems(items)), items);
    const events = fifo('events.csv');
    await expectRefused(() => drain(readEvents(events)), events);
  });

  it('text files, and a directory where a file should be', async () => {
    const text = fifo('notes.json');
    await expectRefused(() => readTextFile(text), text);
    const sub = path.join(dir, 'sub');
    mkdirSync(sub);
    await expectRefused(() => readTextFile(sub), sub);
  });

  it('model directories: config, weights (also hashed for the graph cache), tokenizer', async () => {
    const config = modelWithFifo('config.json');
    await expectRefused(() => LanguageModel.load(config, { cacheDir: path.join(dir, 'graphs') }), path.join(config, 'config.json'));
    const weights = modelWithFifo('model.safetensors');
    await expectRefused(() => LanguageModel.load(weights, { cacheDir: path.join(dir, 'graphs') }), path.join(weights, 'model.safetensors'));
    await expectRefused(() => Safetensors.open(weights), path.join(weights, 'model.safetensors'));
    const tokenizer = modelWithFifo('tokenizer.json');
    await expectRefused(() => loadTokenizer(tokenizer), path.join(tokenizer, 'tokenizer.json'));
  });

  it('a cached graph that is not a regular file is not a cached graph (it is rebuilt)', () => {
    const cache = new GraphCache(path.join(dir, 'cache'), 'key');
    makeFifo(cache.path('head'));
    expect(cache.has('head')).toBe(false);
  });
});
