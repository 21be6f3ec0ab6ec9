import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes rather than worker threads: each test file loads the addon afresh.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // built LM graphs go to a scratch cache, not the user's ~/.cache
    env: { XDG_CACHE_HOME: path.join(os.tmpdir(), `lmrec-test-cache-${process.pid}`) },
  },
});
