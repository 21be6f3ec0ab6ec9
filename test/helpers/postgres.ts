/**
 * A PostgreSQL server for tests. LMREC_TEST_PG (a URL whose role may create databases) when it
 * is set; else a throwaway cluster from the PostgreSQL binaries on this machine (PATH,
 * /usr/local/bin or /usr/lib/postgresql/<version>/bin), in a temporary folder, on a free
 * loopback port, removed afterwards; else the PostgreSQL tests are skipped, with a message.
 * Under LMREC_REQUIRE_PG=1 (set by .ci/run) a missing PostgreSQL fails the tests instead, so
 * that CI cannot pass by skipping them.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export type PostgresSource = { url: string } | { bin: string };

export interface TestPostgres {
  /** The URL of a new, empty database (one per test keeps tests apart). */
  database(): Promise<string>;
  /** Stops the server (fast shutdown: clients are disconnected) and starts it again; only for a cluster of our own. */
  restart: (() => Promise<void>) | undefined;
  /** Drops what was made: the cluster, or the databases made on LMREC_TEST_PG. */
  stop(): Promise<void>;
}

/** The folder holding initdb and pg_ctl, newest version first among Debian's. */
function findBinaries(): string | undefined {
  const versioned = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/bin', ...versioned];
  return dirs.find((d) => d && existsSync(path.join(d, 'initdb')) && existsSync(path.join(d, 'pg_ctl')));
}

/**
 * Where the tests get PostgreSQL from, or undefined (after saying why) when they skip. Call at
 * collection time, so `describe.skipIf` can use it.
 */
export function postgresSource(): PostgresSource | undefined {
  if (process.env.LMREC_TEST_PG) return { url: process.env.LMREC_TEST_PG };
  const bin = findBinaries();
  if (bin) return { bin };
  const why = 'no PostgreSQL: LMREC_TEST_PG is unset and no initdb/pg_ctl was found (apt-get install postgresql)';
  if (process.env.LMREC_REQUIRE_PG) throw new Error(`${why}, and LMREC_REQUIRE_PG asks for the PostgreSQL tests to run`);
  console.warn(`skipping the PostgreSQL tests: ${why}`);
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL program as `user` (initdb refuses root) in `cwd`, which that user can enter. */
function runAs(user: string | undefined, cwd: string, program: string, args: string[]): void {
  const [file, argv] = user ? ['runuser', ['-u', user, '--', program, ...args]] : [program, args];
  execFileSync(file, argv, { cwd, stdio: 'pipe', timeout: 60_000 });
}

/** An unprivileged user to own the cluster when we are root: postgres if it exists, else nobody. */
function clusterUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }));
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }));
      return { name, uid, gid };
    } catch {
      // no such user; try the next
    }
  }
  throw new Error('running as root and neither the postgres nor the nobody user exists to run initdb as');
}

async function startCluster(bin: string): Promise<{ url: string; restart: () => Promise<void>; stop: () => void }> {
  const user = clusterUser();
  const dir = mkdtempSync(path.join(tmpdir(), 'lmrec-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const port = await freePort();
  const pgCtl = path.join(bin, 'pg_ctl');
  const settings = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    // a throwaway server: durability is not what these tests check
    '-c fsync=off -c synchronous_commit=off -c full_page_writes=off',
  ].join(' ');
  const explain = (e: unknown): Error => {
    const stderr = String((e as { stderr?: unknown }).stderr ?? '');
    const serverLog = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
    return new Error(`the test PostgreSQL failed: ${(e as Error).message}\n${stderr}\n${serverLog}`);
  };
  const start = (): void => runAs(user?.name, dir, pgCtl, ['-D', data, '-l', log, '-w', '-t', '60', '-o', settings, 'start']);
  const stopServer = (mode: string): void => runAs(user?.name, dir, pgCtl, ['-D', data, '-m', mode, '-w', 'stop']);
  try {
    runAs(user?.name, dir, path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    start();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw explain(e);
  }
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      stopServer('immediate');
    } catch {
      // already down; the folder goes all the same
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // a test process that ends without afterAll (a crash, a timeout) must not leave a server behind
  process.once('exit', stop);
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    restart: async () => {
      try {
        stopServer('fast');
        start();
      } catch (e) {
        throw explain(e);
      }
    },
    stop,
  };
}

/** The URL `base` with another database name. */
function withDatabase(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function startTestPostgres(source: PostgresSource): Promise<TestPostgres> {
  const cluster = 'bin' in source ? await startCluster(source.bin) : undefined;
  const admin = cluster?.url ?? (source as { url: string }).url;
  const made: string[] = [];
  const run = `${process.pid}_${Date.now().toString(36)}`; // apart from other files' and earlier runs'
  const asAdmin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return {
    database: async () => {
      const name = `lmrec_test_${run}_${made.length}`;
      await asAdmin(`CREATE DATABASE ${name}`);
      made.push(name);
      return withDatabase(admin, name);
    },
    restart: cluster?.restart,
    stop: async () => {
      if (cluster) return cluster.stop();
      for (const name of made) await asAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
