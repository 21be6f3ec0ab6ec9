/**
 * `lmrec serve` as a child process, resolved with its address once it listens (it is started
 * with `--port 0 --log-level silent` and says where it listens on stderr): for tests,
 * benchmarks and supervisors that run replicas.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { LmrecError } from '../errors.js';

export interface ChildServer {
  /** The `lmrec serve` process; kill it to stop the server. */
  child: ChildProcess;
  /** Where it listens, e.g. 'http://127.0.0.1:39123'. */
  url: string;
}

/**
 * Starts `node [nodeArgs] cli serve --model model --store store [extra]`; `cli` is the
 * CLI's entry (dist/cli/main.js, or src/cli/main.ts with nodeArgs ['--import', 'tsx']).
 * @param o What to start.
 * @param o.cli The CLI's entry: dist/cli/main.js, or src/cli/main.ts with nodeArgs ['--import', 'tsx'].
 * @param o.model The Recommender directory (--model).
 * @param o.store The store: a SQLite file or a postgres:// URL (--store).
 * @param o.nodeArgs Arguments for node before the entry.
 * @param o.extra More `lmrec serve` arguments, after the others.
 */
export function startChildServer(o: { cli: string; model: string; store: string; nodeArgs?: string[]; extra?: string[] }): Promise<ChildServer> {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), o.cli, 'serve', '--model', o.model, '--store', o.store, '--port', '0', '--log-level', 'silent', ...(o.extra ?? [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /at (http:\/\/\S+)/.exec(err);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('exit', (code) => reject(new LmrecError(`lmrec serve exited (${code}) before listening: ${err.trim()}`, 'IO_ERROR')));
  });
}
