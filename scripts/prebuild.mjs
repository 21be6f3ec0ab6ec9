// Builds the addon from a clean tree and copies it to prebuilds/<platform>-<arch>/lmrec.node,
// stripped. Commit the result: users without a compiler then install without building.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeSourceHash } from './source-hash.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'build-prebuild');
rmSync(out, { recursive: true, force: true });
const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs'), '--out', out], {
  cwd: root,
  stdio: 'inherit',
});
if (r.status !== 0) process.exit(r.status ?? 1);
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
const target = path.join(dir, 'lmrec.node');
copyFileSync(path.join(out, 'Release', 'lmrec.node'), target);
spawnSync('strip', ['--strip-unneeded', target], { stdio: 'inherit' });
rmSync(out, { recursive: true, force: true });
console.log(`prebuild: ${path.relative(root, target)} (${statSync(target).size} bytes, sources ${nativeSourceHash().slice(0, 12)})`);
