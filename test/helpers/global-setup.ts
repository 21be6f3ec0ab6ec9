/** Gives the test run a scratch cache (built LM graphs land there, not in ~/.cache) and removes it after. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-test-cache-'));
  process.env.XDG_CACHE_HOME = dir; // inherited by the test processes started after this
  return () => rmSync(dir, { recursive: true, force: true });
}
