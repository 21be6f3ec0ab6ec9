// Compiles the addon with cmake-js against the headers of the Node.js that runs this script,
// so nothing is downloaded (cmake-js would otherwise fetch headers unless npm's nodedir is set).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const env = { ...process.env };
if (!env.npm_config_nodedir) {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(prefix, 'include', 'node', 'node.h'))) env.npm_config_nodedir = prefix;
}
const require = createRequire(import.meta.url);
const cli = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const extra = process.argv.slice(2);
const args = [cli, 'compile', ...(extra.includes('--out') ? [] : ['--out', 'build']), ...extra];
const r = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
process.exit(r.status ?? 1);
