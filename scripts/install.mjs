// npm install step: use the prebuilt addon when it loads on this machine; otherwise compile
// from source with cmake-js. LMREC_BUILD_FROM_SOURCE=1 always compiles.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const prebuild = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'lmrec.node');

function prebuildLoads() {
  if (!existsSync(prebuild)) return false;
  try {
    createRequire(import.meta.url)(prebuild);
    return true;
  } catch (e) {
    console.warn(`lmrec: the prebuilt addon does not load here (${e.message.split('\n')[0]})`);
    return false;
  }
}

if (!process.env.LMREC_BUILD_FROM_SOURCE && prebuildLoads()) {
  console.log(`lmrec: using prebuilt addon for ${process.platform}-${process.arch}`);
} else {
  console.log('lmrec: compiling the native addon from source (needs cmake and a C++17 compiler)');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('lmrec: native build failed; install cmake and a C++17 compiler, or use a platform with a prebuild');
    process.exit(r.status ?? 1);
  }
}
