/**
 * lmrec.json: what lmrec records beside a model it trained (the catalog its item head scores,
 * how behaviour was written as text, where late interaction splits it), and the name of the
 * item-head file. Read by training (to continue a model) and by serving (to score with it).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { readTextFile } from '../util/read-text.js';

export interface LmrecModelInfo {
  /** Catalog item ids, in item-head row order (absent without an item head). */
  items?: string[];
  /** The item text template behaviour was written with, and the separator between events. */
  template?: string;
  separator?: string;
  /** Most tokens of a history's text in training: scoring cuts histories the same way. */
  context?: number;
  /**
   * Bottom layers trained with segment-local attention (each event alone): the split layer
   * late interaction serves the model at. Absent: full attention everywhere.
   */
  localLayers?: number;
  /** Token ids that open and close a sequence. */
  bos: number;
  eos: number;
  /** Training steps the weights have seen, and what trained them. */
  steps: number;
  trainedBy: string;
  /** Auxiliary item heads (distillation) in the item-head file. */
  auxHeads?: number;
}

export const INFO_FILE = 'lmrec.json';
export const ITEM_HEAD_FILE = 'item_head.safetensors';

/** The directory's lmrec.json, or undefined when it has none (a model lmrec did not train). */
export function readModelInfo(dir: string): LmrecModelInfo | undefined {
  const file = path.join(dir, INFO_FILE);
  if (!existsSync(file)) return undefined;
  const text = readTextFile(file);
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch {
    throw new LmrecError(`'${file}' is not JSON`, 'CORRUPT_FILE');
  }
  const o = info as Partial<Record<keyof LmrecModelInfo, unknown>>;
  const badField =
    info === null || typeof info !== 'object' ? 'the whole file'
    : o.items !== undefined && !(Array.isArray(o.items) && o.items.every((x) => typeof x === 'string')) ? 'items'
    : o.localLayers !== undefined && !(Number.isInteger(o.localLayers) && (o.localLayers as number) >= 0) ? 'localLayers'
    : o.context !== undefined && !(Number.isInteger(o.context) && (o.context as number) > 0) ? 'context'
    : [o.bos, o.eos].some((t) => t !== undefined && !Number.isInteger(t)) ? 'bos/eos'
    : undefined;
  if (badField) throw new LmrecError(`'${file}': ${badField} is not what lmrec writes`, 'CORRUPT_FILE');
  return info as LmrecModelInfo;
}
