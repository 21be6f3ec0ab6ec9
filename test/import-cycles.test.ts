/**
 * No import cycles in the sources, the tests, the benchmarks or the scripts (madge, type-only
 * imports included): a module and what it imports can each be read without the other.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import madge from 'madge';
import { expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

it('has no import cycles', async () => {
  const graph = await madge(['src', 'bench', 'test', 'scripts'].map((d) => path.join(root, d)), {
    baseDir: root,
    fileExtensions: ['ts', 'mjs'],
    tsConfig: path.join(root, 'tsconfig.json'),
    detectiveOptions: { ts: { skipTypeImports: false }, es6: { skipTypeImports: false } },
  });
  expect(Object.keys(graph.obj()).length).toBeGreaterThan(150); // it read the tree
  expect(graph.circular()).toEqual([]);
}, 120_000);
