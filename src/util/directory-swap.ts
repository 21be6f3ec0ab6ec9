/**
 * Replacing a whole directory (an exported model, a saved recommender) so that a crash leaves
 * the old one or the new one: the new one is built under `<dir>.tmp-<pid>` and swapped in.
 */
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { alive } from './atomic-file.js';

const STALE = /^(.*)\.(old|tmp)-(\d+)$/;

/**
 * Before writing `dir`: finishes what a write killed mid-swap left (its old directory back in
 * place if nothing replaced it, its temp directories removed), and refuses to replace a
 * directory without `marker` (not one of ours), so a mistyped --out never deletes someone's data.
 */
export function prepareTarget(dir: string, marker: string, what: string): void {
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  for (const name of existsSync(parent) ? readdirSync(parent) : []) {
    const m = STALE.exec(name);
    if (!m || m[1] !== base || alive(Number(m[3]))) continue;
    const stale = path.join(parent, name);
    if (m[2] === 'old' && !existsSync(dir)) renameSync(stale, dir);
    else rmSync(stale, { recursive: true, force: true });
  }
  if (existsSync(dir) && readdirSync(dir).length > 0 && !existsSync(path.join(dir, marker))) {
    throw new LmrecError(`'${dir}' exists and is not ${what} directory (no ${marker}): choose another output`, 'INVALID_ARGUMENT');
  }
}

// rename() cannot replace a non-empty directory: the old one steps aside first, and is
// removed only once the new one is in place. A crash between the two renames leaves the old
// directory at <dir>.old-<pid>, which the next write (prepareTarget) puts back or replaces.
export function swapDirectory(from: string, to: string): void {
  const old = `${to}.old-${process.pid}`;
  const hadOld = existsSync(to);
  if (hadOld) renameSync(to, old);
  try {
    renameSync(from, to);
  } catch (e) {
    if (hadOld) renameSync(old, to);
    throw e;
  }
  if (hadOld) rmSync(old, { recursive: true, force: true });
}

