/**
 * `npm install lmrec` on a machine without compilers: the package as npm publishes it (npm pack),
 * installed into an empty project with a PATH that has no C/C++ compiler, make, cmake or Python,
 * and with better-sqlite3's prebuilt-binary download off (build from source: what happens where
 * it cannot be downloaded). The install must succeed, the main command (the demo) run, and the
 * one part that needs better-sqlite3 (the SQLite store of `lmrec serve`) say what is missing.
 */
import { spawnSync, type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILD_TOOLS = /^(cc|c\+\+|cpp|gcc|g\+\+|clang|clang\+\+|make|gmake|cmake|ninja|python[0-9.]*|([a-z0-9_]+-)+(gcc|g\+\+|cc|c\+\+|cpp)(-[0-9.]+)?|(gcc|g\+\+|cpp|clang|clang\+\+)-[0-9.]+)$/;

/** A folder of links to every program on PATH except the build tools. */
function pathWithoutCompilers(into: string): string {
  mkdirSync(into);
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir || !existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (BUILD_TOOLS.test(name) || existsSync(path.join(into, name))) continue;
      symlinkSync(path.join(dir, name), path.join(into, name));
    }
  }
  return into;
}

let work = '';
let env: NodeJS.ProcessEnv = {};
let installLog = '';

function run(command: string, args: string[], options: SpawnSyncOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd: path.join(work, 'app'), env, timeout: 300_000, ...options, encoding: 'utf8' });
}

describe('npm install lmrec without compilers', () => {
  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'lmrec-bare-'));
    const bin = pathWithoutCompilers(path.join(work, 'bin'));
    // npm's own variables from the `npm test` around us would steer the inner npm
    env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
    Object.assign(env, {
      PATH: bin,
      ONNXRUNTIME_NODE_INSTALL: 'skip',
      npm_config_build_from_source: 'true', // better-sqlite3's prebuild-install: no download, compile
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    });
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(pack.status, pack.stderr).toBe(0);
    const [{ filename }] = JSON.parse(pack.stdout) as [{ filename: string }];
    mkdirSync(path.join(work, 'app'));
    writeFileSync(path.join(work, 'app', 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    const install = run('npm', ['install', '--prefer-offline', path.join(work, filename)]);
    expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
    installLog = `${install.stdout}\n${install.stderr}`;
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('has no compiler, make or Python on its PATH', () => {
    for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make', 'cmake', 'python3']) {
      expect(run('sh', ['-c', `command -v ${tool}`]).status, tool).not.toBe(0);
    }
  });

  it('installs lmrec, and leaves better-sqlite3 out rather than failing', () => {
    expect(existsSync(path.join(work, 'app', 'node_modules', 'lmrec', 'dist', 'index.js'))).toBe(true);
    expect(existsSync(path.join(work, 'app', 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(false);
  });

  it('installs with no engine warning on this Node (dependencies agree with `engines`)', () => {
    expect(installLog).not.toMatch(/EBADENGINE/);
  });

  it('loads from ES modules, and from CommonJS through require (Node >= 20.19)', () => {
    const esm = run('node', ['--input-type=module', '-e', "const m = await import('lmrec'); console.log(typeof m.Recommender)"]);
    expect(esm.stdout.trim(), esm.stderr).toBe('function');
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    if (major > 20 || minor >= 19) {
      const cjs = run('node', ['-e', "console.log(typeof require('lmrec').Recommender, typeof require('lmrec/tools').generateSynthetic)"]);
      expect(cjs.stdout.trim(), cjs.stderr).toBe('function function');
    }
  });

  it('runs the main command', () => {
    const demo = run('npx', ['lmrec', 'demo', '--items', '200', '--users', '300', '--budget', '2s', '--sweep-budget', '2s', '--no-index', '--threads', '1']);
    expect(demo.status, demo.stderr).toBe(0);
    expect(demo.stdout).toMatch(/recommend/i);
  });

  it('serves only with the store the install can run, and says what is missing and how to get it', () => {
    const synth = run('npx', ['lmrec', 'synth', '--out', 'data', '--items', '200', '--users', '300']);
    expect(synth.status, synth.stderr).toBe(0);
    const fit = run('npx', ['lmrec', 'fit', '--items', 'data/items.jsonl', '--events', 'data/events.jsonl', '--out', 'rec', '--layer', '1', '--epochs', '2', '--threads', '1']);
    expect(fit.status, fit.stderr).toBe(0);
    const serve = run('npx', ['lmrec', 'serve', '--model', 'rec', '--port', '0'], { timeout: 60_000 });
    expect(serve.status).not.toBe(0);
    expect(serve.stderr).toMatch(/NATIVE_UNAVAILABLE/);
    expect(serve.stderr).toMatch(/the SQLite store needs the optional dependency better-sqlite3/);
    expect(serve.stderr).toMatch(/postgres:\/\//);
  });
});
