import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadAddonFile, prebuildPath } from '../src/addon/loader.js';
// @ts-expect-error plain ESM script without types
import { nativeSourceHash } from '../scripts/source-hash.mjs';

describe(`the committed prebuild (${process.platform}-${process.arch})`, () => {
  const has = existsSync(prebuildPath);
  it.runIf(process.platform === 'linux' && process.arch === 'x64')('exists for linux-x64', () => {
    expect(has).toBe(true);
  });

  it.runIf(has)('was built from the native sources in this tree (run `npm run make-prebuild` if not)', () => {
    const addon = loadAddonFile(prebuildPath);
    expect(addon.sourceHash).toBe(nativeSourceHash());
  });

  it.runIf(has)('loads and searches', async () => {
    const addon = loadAddonFile(prebuildPath);
    const index = new addon.NativeIndex({ dim: 2, metric: 'ip', storage: 'int8', keepOriginals: false, threads: 0 });
    await index.add(new Float64Array([3, 4]), new Float32Array([1, 0, 0, 1]));
    expect(Array.from(index.search(new Float32Array([0.2, 0.9]), 1, 0).ids)).toEqual([4]);
  });
});
