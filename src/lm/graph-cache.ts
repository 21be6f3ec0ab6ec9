/**
 * Built ONNX graphs on disk, so a model is turned into graphs once. The key hashes the weight
 * files' bytes, the config, the build options and the graph format version; each graph file is
 * written atomically and durably (writeFileAtomic), and a file that fails to load is rebuilt.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { openForRead } from '../util/read-text.js';

/** Bump when the graphs built from the same weights change. */
export const GRAPH_FORMAT_VERSION = 3;

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'lmrec', 'graphs');
}

async function hashFile(file: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(file, { fd: openForRead(file), highWaterMark: 1 << 22 })) hash.update(chunk as Buffer);
}

/** Hash of a model directory's weights and config plus the build options. */
export async function graphKey(dir: string, options: Record<string, unknown>): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ version: GRAPH_FORMAT_VERSION, options }));
  const files = readdirSync(dir)
    .filter((f) => f === 'config.json' || f.endsWith('.safetensors') || f === 'model.safetensors.index.json')
    .sort();
  for (const f of files) {
    hash.update(`\0${f}\0`);
    await hashFile(path.join(dir, f), hash);
  }
  return hash.digest('hex').slice(0, 32);
}

export class GraphCache {
  readonly dir: string;

  /** Creates `root/key`; IO_ERROR (with the way out) when it cannot be a directory. */
  constructor(root: string, key: string) {
    this.dir = path.join(root, key);
    const hint = 'pass cacheDir: false to build the graphs in memory instead';
    if (existsSync(root) && !statSync(root).isDirectory()) {
      throw new LmrecError(`cacheDir '${root}' is not a directory: ${hint}`, 'IO_ERROR');
    }
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw new LmrecError(`cannot create the graph cache '${this.dir}': ${(e as Error).message}; ${hint}`, 'IO_ERROR');
    }
  }

  path(name: string): string {
    return path.join(this.dir, `${name}.onnx`);
  }

  /** Whether the graph is cached: a regular file (anything else there would block or fail the read; it is rebuilt over). */
  has(name: string): boolean {
    return statSync(this.path(name), { throwIfNoEntry: false })?.isFile() ?? false;
  }

  write(name: string, bytes: Uint8Array): void {
    writeFileAtomic(this.path(name), bytes);
  }
}
