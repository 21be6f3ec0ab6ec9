/**
 * A saved recommender is a directory: `manifest.json` (format name and version, settings,
 * the SHA-256 and size of every part, and the SHA-256 of the manifest itself) beside its
 * parts. It is written under a temporary name and swapped in whole (util/directory-swap), so
 * a failed or killed save leaves the previous one intact; loading checks the manifest and
 * every part against their checksums, and the manifest's settings against a schema.
 */
import { createHash } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { prepareTarget, swapDirectory } from '../util/directory-swap.js';
import { readBytes, readTextFile, statRegularFile } from '../util/read-text.js';

export const MANIFEST = 'manifest.json';
export const FORMAT = 'lmrec-recommender';
export const VERSION = 1;

export interface PartInfo {
  bytes: number;
  sha256: string;
}

export interface ManifestBase {
  format: typeof FORMAT;
  version: number;
  parts: Record<string, PartInfo>;
  /**
   * SHA-256 of the manifest's own content: the manifest without this field, as JSON.stringify
   * with an indent of 1 writes it. Absent in directories saved before it existed (not checked).
   */
  manifestSha256?: string;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The manifest's text: its content and that content's checksum (see ManifestBase). */
function manifestText(manifest: object): string {
  // a loaded manifest saved again carries the checksum of its old content
  const { manifestSha256: _, ...content } = manifest as ManifestBase;
  return JSON.stringify({ ...content, manifestSha256: sha256(JSON.stringify(content, null, 1)) }, null, 1);
}

/** Whether a parsed manifest matches its own checksum (one without, saved before there was one, does). */
function matchesOwnChecksum(manifest: ManifestBase): boolean {
  const { manifestSha256: own, ...content } = manifest;
  return own === undefined || own === sha256(JSON.stringify(content, null, 1));
}

function isPartList(parts: unknown): parts is Record<string, PartInfo> {
  if (typeof parts !== 'object' || parts === null) return false;
  return Object.values(parts).every((p: Partial<PartInfo> | null) => Number.isSafeInteger(p?.bytes) && typeof p?.sha256 === 'string');
}

/**
 * Writes `dir`: `write(tmp)` fills the temporary directory with the parts (each written
 * durably), then the manifest with their checksums goes in last and the directory is swapped in.
 */
export async function writeRecommenderDir<M extends object>(dir: string, manifest: M, write: (tmp: string) => Promise<string[]>): Promise<void> {
  dir = path.resolve(dir);
  const tmp = `${dir}.tmp-${process.pid}`;
  try {
    prepareTarget(dir, MANIFEST, 'a saved recommender');
    rmSync(tmp, { recursive: true, force: true });
    const names = await write(tmp);
    const parts: Record<string, PartInfo> = {};
    for (const name of names) parts[name] = { bytes: statSync(path.join(tmp, name)).size, sha256: sha256(readBytes(path.join(tmp, name))) };
    writeFileAtomic(path.join(tmp, MANIFEST), manifestText({ format: FORMAT, version: VERSION, ...manifest, parts }));
    swapDirectory(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof LmrecError) throw e;
    throw new LmrecError(`cannot save the recommender to '${dir}': ${(e as Error).message}`, 'IO_ERROR');
  }
}

/**
 * Reads and checks the manifest (its checksum, then its settings against `settings`) and every
 * part's checksum; returns the manifest and a part path resolver.
 */
export function openRecommenderDir<M>(dir: string, settings: z.ZodType<M>): { manifest: M & ManifestBase; part: (name: string) => string } {
  if (typeof dir !== 'string' || dir.length === 0) throw new LmrecError('load needs a directory path', 'INVALID_ARGUMENT');
  const file = path.join(dir, MANIFEST);
  if (!existsSync(file)) {
    throw new LmrecError(existsSync(dir) ? `'${dir}' is not a saved recommender (no ${MANIFEST})` : `'${dir}' does not exist`, existsSync(dir) ? 'NOT_A_MODEL' : 'IO_ERROR');
  }
  const text = readTextFile(file);
  let manifest: M & ManifestBase;
  try {
    manifest = JSON.parse(text) as M & ManifestBase;
  } catch (e) {
    throw new LmrecError(`'${file}' is damaged: ${(e as Error).message}`, 'CORRUPT_FILE');
  }
  if (manifest?.format !== FORMAT) throw new LmrecError(`'${dir}' is not a saved recommender (format '${String(manifest?.format)}')`, 'NOT_A_MODEL');
  if (!Number.isInteger(manifest.version) || manifest.version < 1) throw new LmrecError(`'${file}' is damaged (bad version)`, 'CORRUPT_FILE');
  if (manifest.version > VERSION) {
    throw new LmrecError(`'${dir}' was saved by a newer lmrec (format v${manifest.version}; this one reads v${VERSION}): upgrade lmrec`, 'UNSUPPORTED_VERSION');
  }
  // after the version: a newer lmrec may compute the checksum differently
  if (!matchesOwnChecksum(manifest)) throw new LmrecError(`'${file}' does not match its own checksum (edited or damaged): restore the directory from a good copy`, 'CORRUPT_FILE');
  const checked = settings.safeParse(manifest);
  if (!checked.success) {
    const issues = checked.error.issues.map((i) => `${i.path.join('.') || 'the manifest'}: ${i.message}`);
    throw new LmrecError(`'${file}' is damaged: ${issues.join('; ')}`, 'CORRUPT_FILE');
  }
  if (!isPartList(manifest.parts)) throw new LmrecError(`'${file}' is damaged (no parts)`, 'CORRUPT_FILE');
  for (const [name, info] of Object.entries(manifest.parts)) {
    const p = path.join(dir, path.basename(name));
    if (!existsSync(p)) throw new LmrecError(`'${dir}' is missing its part '${name}'`, 'CORRUPT_FILE');
    const size = statRegularFile(p).size;
    if (size !== info.bytes) {
      throw new LmrecError(`'${p}' holds ${size} bytes, the manifest says ${info.bytes} (cut short or replaced)`, size < info.bytes ? 'TRUNCATED_FILE' : 'CORRUPT_FILE');
    }
    if (sha256(readBytes(p)) !== info.sha256) throw new LmrecError(`'${p}' does not match its checksum: restore the directory from a good copy`, 'CORRUPT_FILE');
  }
  return {
    manifest,
    part: (name) => {
      if (!manifest.parts[name]) throw new LmrecError(`'${dir}' has no part '${name}'`, 'CORRUPT_FILE');
      return path.join(dir, name);
    },
  };
}
