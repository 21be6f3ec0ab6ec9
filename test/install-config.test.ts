/**
 * How `npm ci` / `npm install lmrec` skip onnxruntime-node's download of its CUDA provider (a
 * NuGet package lmrec never uses, and a failed install offline) without a project config key
 * npm does not know: package.json's `allowScripts` denies the package's install script (npm
 * 11.19), and the variable its script reads (ONNXRUNTIME_NODE_INSTALL=skip; older npm, users).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ort = path.join(root, 'node_modules', 'onnxruntime-node');

describe('install configuration', () => {
  it('gives npm no project config key it does not know (npm 11 warns, npm 12 drops them)', () => {
    const npm = spawnSync('npm', ['config', 'get', 'registry'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(npm.status).toBe(0);
    expect(npm.stderr).not.toMatch(/Unknown project config/);
  });

  it("denies onnxruntime-node's install script in package.json, and decides every other one", () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
    // every dependency the lockfile marks as having install scripts is allowed or denied by name
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages).flatMap(([at, p]) => (at !== '' && p.hasInstallScript ? [at.slice(at.lastIndexOf('node_modules/') + 'node_modules/'.length)] : []));
    expect(withScripts).toContain('onnxruntime-node');
    for (const name of withScripts) expect(typeof pkg.allowScripts?.[name], name).toBe('boolean');
  });

  it('relies on an onnxruntime-node whose script skips on ONNXRUNTIME_NODE_INSTALL=skip, and whose CPU runtime is in the package', () => {
    const { parseInstallFlag } = createRequire(import.meta.url)(path.join(ort, 'script', 'install-utils.js')) as { parseInstallFlag: () => unknown };
    const saved = process.env.ONNXRUNTIME_NODE_INSTALL;
    try {
      process.env.ONNXRUNTIME_NODE_INSTALL = 'skip';
      expect(parseInstallFlag()).toBe(false); // install.js exits at once on false
    } finally {
      if (saved === undefined) delete process.env.ONNXRUNTIME_NODE_INSTALL;
      else process.env.ONNXRUNTIME_NODE_INSTALL = saved;
    }
    if (process.platform === 'linux' && process.arch === 'x64') {
      expect(existsSync(path.join(ort, 'bin', 'napi-v6', 'linux', 'x64', 'onnxruntime_binding.node'))).toBe(true);
    }
  });
});
