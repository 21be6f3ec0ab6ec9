/**
 * Recommender.load on damaged directories whose parts still match their checksums (the parts'
 * checksums in the manifest recomputed after the damage, as a buggy writer or a careless hand
 * would leave them): every fault is a CORRUPT_FILE naming the directory and the part, never a
 * TypeError, SyntaxError or RangeError, and nothing loads shifted. Also the manifest's own
 * checksum, parts that are not regular files, and field filters on a field no item has.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSynthetic } from '../src/data/synthetic.js';
import { Recommender } from '../src/recommender/recommender.js';
import { expectRefused, makeFifo, stopFifoWriters } from './helpers/fifo.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-recload-'));
const saved = path.join(dir, 'saved');
let rec: Recommender;

beforeAll(async () => {
  writeSynthetic(dir, { items: 40, users: 60, topics: 4, eventsPerUser: [3, 8], seed: 5 });
  const [items, events] = ['items.jsonl', 'events.jsonl'].map((f) => path.join(dir, f)) as [string, string];
  rec = await Recommender.fit({ items, events, layer: 1, dim: 16, epochs: 2, seed: 1, srm: { dim: 16, maxLen: 10 } });
  await rec.save(saved);
}, 120_000);
afterAll(async () => {
  stopFifoWriters();
  await rec?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Manifest = Record<string, unknown> & { parts: Record<string, { bytes: number; sha256: string }> };
const readManifest = (d: string) => JSON.parse(readFileSync(path.join(d, 'manifest.json'), 'utf8')) as Manifest;
const lines = (file: string) => readFileSync(file, 'utf8').split('\n');
let copies = 0;

/**
 * A copy of the saved directory with `damage` done to its files and `edit` to its manifest,
 * the parts' checksums recomputed so that loading gets past them to the checks under test. The
 * manifest is written without a checksum of its own, as directories saved before it had one.
 */
function damaged(damage: (d: string) => void, edit: (m: Manifest) => void = () => {}): string {
  const out = path.join(dir, `damaged-${++copies}`);
  cpSync(saved, out, { recursive: true });
  damage(out);
  const m = readManifest(out);
  for (const name of Object.keys(m.parts)) {
    const bytes = readFileSync(path.join(out, name));
    m.parts[name] = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  delete m.manifestSha256;
  edit(m);
  writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(m, null, 1));
  return out;
}

/** Loading `d` fails with CORRUPT_FILE and a message naming the directory and `part`. */
async function expectCorrupt(d: string, part: string | RegExp): Promise<void> {
  let error: unknown;
  try {
    await (await Recommender.load(d)).close();
  } catch (e) {
    error = e;
  }
  expect(error).toMatchObject({ name: 'LmrecError', code: 'CORRUPT_FILE' });
  const message = (error as Error).message;
  expect(message).toContain(d);
  expect(message).toMatch(part);
}

describe('Recommender.load on damaged directories', () => {
  it('loads an undamaged copy whose manifest has no checksum of its own (saved before it had one)', async () => {
    const copy = damaged(() => {});
    const loaded = await Recommender.load(copy);
    expect(loaded.recommend({ user: 'u3', k: 5 })).toEqual(rec.recommend({ user: 'u3', k: 5 }));
    await loaded.close();
  });

  it('a manifest without its model (or with a wrong setting) is CORRUPT_FILE', async () => {
    await expectCorrupt(
      damaged(
        () => {},
        (m) => delete m.model,
      ),
      /manifest\.json.*model/,
    );
    await expectCorrupt(
      damaged(
        () => {},
        (m) => (m.pooling = 'widest'),
      ),
      /manifest\.json.*pooling/,
    );
    await expectCorrupt(
      damaged(
        () => {},
        (m) => (m.layer = -1),
      ),
      /manifest\.json.*layer/,
    );
  });

  it('invalid JSON in the catalog or the histories is CORRUPT_FILE naming the part and line', async () => {
    const cut = (name: string) => (d: string) => {
      const l = lines(path.join(d, name));
      l[2] = l[2]!.slice(0, 10);
      writeFileSync(path.join(d, name), l.join('\n'));
    };
    await expectCorrupt(damaged(cut('catalog.jsonl')), /catalog\.jsonl.*line 3/);
    await expectCorrupt(damaged(cut('histories.jsonl')), /histories\.jsonl.*line 3/);
    // JSON of the wrong shape: an item without an id, a history that is not a list
    const replace = (name: string, line: string) => (d: string) => {
      const l = lines(path.join(d, name));
      l[1] = line;
      writeFileSync(path.join(d, name), l.join('\n'));
    };
    await expectCorrupt(damaged(replace('catalog.jsonl', '{"fields":{}}')), /catalog\.jsonl.*line 2/);
    await expectCorrupt(damaged(replace('histories.jsonl', '{"user":"u1","items":3}')), /histories\.jsonl.*line 2/);
  });

  it('a duplicated user line in the histories is CORRUPT_FILE, not every later history shifted by one', async () => {
    const copy = damaged((d) => {
      const file = path.join(d, 'histories.jsonl');
      const l = lines(file);
      l.splice(2, 0, l[1]!);
      writeFileSync(file, l.join('\n'));
    });
    await expectCorrupt(copy, /histories\.jsonl.*line 3/);
  });

  it('a feature scaling of a size no model has (2,047 bytes) is CORRUPT_FILE', async () => {
    await expectCorrupt(
      damaged((d) => truncateSync(path.join(d, 'scaling.f32'), 2047)),
      /scaling\.f32/,
    );
  });

  it('a catalog that does not match the model is CORRUPT_FILE saying both sizes (not CLOSED)', async () => {
    const copy = damaged((d) => appendFileSync(path.join(d, 'catalog.jsonl'), '{"id":"extra","fields":{}}\n'));
    await expectCorrupt(copy, /40 items.*catalog of 41 items/);
  });

  it('the manifest carries its own checksum: an edit that keeps it valid JSON is CORRUPT_FILE', async () => {
    const m = readManifest(saved);
    expect(m.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    const copy = path.join(dir, `damaged-${++copies}`);
    cpSync(saved, copy, { recursive: true });
    const file = path.join(copy, 'manifest.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"pooling": "mean"', '"pooling": "last"'));
    expect(readFileSync(file, 'utf8')).toContain('"pooling": "last"');
    await expectCorrupt(copy, /manifest\.json.*checksum/);
    // a loaded recommender saved again writes the checksum of its new manifest, not the old one's
    const loaded = await Recommender.load(saved);
    const again = path.join(dir, 'saved-again');
    await loaded.save(again);
    await loaded.close();
    expect(readManifest(again).manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    await (await Recommender.load(again)).close();
  });

  it('parts and manifests that are not regular files are refused at once', async () => {
    const fifoPart = path.join(dir, `damaged-${++copies}`);
    cpSync(saved, fifoPart, { recursive: true });
    const part = path.join(fifoPart, 'catalog.jsonl');
    rmSync(part);
    makeFifo(part);
    // the size a FIFO reports, so that only the kind of file can stop the read
    const m = readManifest(fifoPart);
    m.parts['catalog.jsonl']!.bytes = 0;
    delete m.manifestSha256;
    writeFileSync(path.join(fifoPart, 'manifest.json'), JSON.stringify(m));
    await expectRefused(() => Recommender.load(fifoPart), part);

    const fifoManifest = path.join(dir, `damaged-${++copies}`);
    cpSync(saved, fifoManifest, { recursive: true });
    rmSync(path.join(fifoManifest, 'manifest.json'));
    makeFifo(path.join(fifoManifest, 'manifest.json'));
    await expectRefused(() => Recommender.load(fifoManifest), path.join(fifoManifest, 'manifest.json'));
  });
});

describe('field filters', () => {
  it('a field no item has is INVALID_ARGUMENT naming it and the fields there are; an unknown value is no items', () => {
    let error: unknown;
    try {
      rec.recommend({ user: 'u3', k: 5, filter: { nosuchfield: 'x' } });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'LmrecError', code: 'INVALID_ARGUMENT' });
    expect((error as Error).message).toMatch(/nosuchfield.*category/);
    expect(rec.recommend({ user: 'u3', k: 5, filter: { category: 'no such category' } }).items).toHaveLength(0);
    expect(() => rec.similar('i1', { k: 3, filter: { nosuchfield: 'x' } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
