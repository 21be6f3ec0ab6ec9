// SHA-256 of the native sources, computed exactly as native/source_hash.cmake does, so a test
// can tell whether a binary was built from the sources in this tree.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXTENSIONS = ['.h', '.cpp', '.cu', '.cuh', '.cmake'];

function walk(dir) {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return walk(rel);
    return EXTENSIONS.includes(path.extname(e.name)) ? [rel] : [];
  });
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

export function nativeSourceHash() {
  const files = [...walk('native'), 'CMakeLists.txt'].sort();
  const manifest = files.map((f) => `${f}:${sha256(readFileSync(path.join(root, f)))}\n`).join('');
  return sha256(manifest);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(nativeSourceHash());
