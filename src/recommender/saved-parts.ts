/**
 * The parts of a saved recommender directory beside its manifest and model (srm.bin): the
 * catalog and the histories as JSON lines, the feature scaling as fp32. Reading checks each
 * against the others; damage is CORRUPT_FILE naming the part and line. (The directory itself,
 * checksums and the atomic swap: recommender-files.ts.)
 */
import path from 'node:path';
import { z } from 'zod';
import { IdMap } from '../data/interactions.js';
import { LmrecError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { readBytes, readTextFile } from '../util/read-text.js';
import { Catalog } from './catalog.js';
import type { ContentState } from './content-scores.js';
import type { FeatureScaling } from './item-states.js';
import type { FitReport } from './options.js';

/** The parts written beside the manifest, in the order they are listed in it. */
export const SAVED_PARTS = ['srm.bin', 'catalog.jsonl', 'histories.jsonl', 'scaling.f32'];

/** The settings load() reads from a saved manifest (other fields pass: the report, a newer lmrec's). */
export const savedManifestSchema = z
  .looseObject({
    model: z.looseObject({ source: z.string().min(1), hidden: z.number().int().positive(), layers: z.number().int().positive() }),
    content: z.custom<ContentState>().optional(), // checked by ContentScores.restore
    layer: z.number().int().nonnegative(),
    pooling: z.enum(['mean', 'last', 'cls', 'marker']),
    template: z.string().min(1),
    dim: z.number().int().min(8).max(512),
    report: z.custom<FitReport>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object'), // only shown
  })
  .refine((m) => m.layer <= m.model.layers, { message: "past the model's last layer", path: ['layer'] });

/** The JSON lines of a saved part, each handed to `take` with its line number; CORRUPT_FILE naming the line. */
function readSavedLines(file: string, take: (value: Record<string, unknown>, line: number) => void): void {
  readTextFile(file)
    .split('\n')
    .forEach((text, i) => {
      if (text.length === 0) return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw savedDamage(file, i + 1, 'not valid JSON');
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw savedDamage(file, i + 1, 'not a JSON object');
      take(value as Record<string, unknown>, i + 1);
    });
}

function savedDamage(file: string, line: number, what: string): LmrecError {
  return new LmrecError(`'${file}' line ${line}: ${what}`, 'CORRUPT_FILE');
}

/** catalog.jsonl: `{ id, fields }` a line, ids unique, field values strings. */
export function readSavedCatalog(file: string): Catalog {
  const catalog = new Catalog();
  readSavedLines(file, ({ id, fields }, line) => {
    if (typeof id !== 'string' || id.length === 0) throw savedDamage(file, line, 'an item without an id');
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields) || !Object.values(fields).every((v) => typeof v === 'string')) {
      throw savedDamage(file, line, `item '${id}': fields are not an object of strings`);
    }
    if (catalog.ids.get(id) !== undefined) throw savedDamage(file, line, `item '${id}' appears twice`);
    catalog.add([{ id, fields: fields as Record<string, string> }]);
  });
  return catalog;
}

/** histories.jsonl: `{ user, items }` a line, users unique (a repeat would shift every later user's history), items in the catalog. */
export function readSavedHistories(file: string, items: number): { users: IdMap; histories: number[][] } {
  const users = new IdMap();
  const histories: number[][] = [];
  readSavedLines(file, ({ user, items: h }, line) => {
    if (typeof user !== 'string' || user.length === 0) throw savedDamage(file, line, 'a history without a user');
    if (users.get(user) !== undefined) throw savedDamage(file, line, `user '${user}' appears twice`);
    if (!Array.isArray(h) || !h.every((i) => Number.isInteger(i) && i >= 0 && i < items)) {
      throw savedDamage(file, line, `user '${user}': items are not a list of item numbers below the catalog's ${items}`);
    }
    users.add(user);
    histories.push(h as number[]);
  });
  return { users, histories };
}

/** scaling.f32: the feature means then scales, `hidden` of each. */
export function readSavedScaling(file: string, hidden: number): Float32Array {
  const bytes = readBytes(file);
  if (bytes.length !== 8 * hidden) throw new LmrecError(`'${file}' holds ${bytes.length} bytes, not the ${8 * hidden} of a model ${hidden} wide`, 'CORRUPT_FILE');
  return new Float32Array(new Uint8Array(bytes).buffer);
}

/** Writes catalog.jsonl, histories.jsonl and scaling.f32 into `dir` (srm.bin is the SRM's to write). */
export function writeSavedParts(dir: string, o: { catalog: Catalog; users: IdMap; histories: number[][]; scaling: FeatureScaling }): void {
  writeFileAtomic(path.join(dir, 'catalog.jsonl'), o.catalog.fields.map((fields, i) => JSON.stringify({ id: o.catalog.ids.name(i), fields })).join('\n') + '\n');
  writeFileAtomic(path.join(dir, 'histories.jsonl'), o.histories.map((items, u) => JSON.stringify({ user: o.users.name(u), items })).join('\n') + '\n');
  const scales = new Float32Array(2 * o.scaling.mean.length);
  scales.set(o.scaling.mean);
  scales.set(o.scaling.scale, o.scaling.mean.length);
  writeFileAtomic(path.join(dir, 'scaling.f32'), new Uint8Array(scales.buffer));
}
