/** Timing helpers on top of tinybench, and the rows every benchmark writes. */
import { Bench } from 'tinybench';
import { writeFileAtomic } from '../src/util/atomic-file.js';

/**
 * Milliseconds per call of fn, measured by tinybench over at least `iterations` calls: the
 * median, since the machines are shared and noisy (outliers come from other tenants).
 */
export async function medianMs(fn: () => unknown, iterations: number, minTimeMs = 0): Promise<number> {
  const bench = new Bench({ iterations, time: minTimeMs, warmupIterations: 1, warmupTime: 0 });
  bench.add('task', fn);
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (!result || result.state !== 'completed') throw new Error(`benchmark task failed: ${JSON.stringify(result)}`);
  return result.latency.p50;
}

/** Writes JSON atomically (a reader never sees half a file). */
export function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 1)}\n`);
}

export function rssMb(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

/** Prints rows as an aligned table with the given columns. */
export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  const cell = (v: unknown) =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v >= 100 ? v.toFixed(0) : v.toPrecision(3)) : v == null ? '' : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(columns.map((c) => cell(r[c]))));
}

/** Latency percentiles of a set of call times in ms (index floor(p * n) of the sorted times). */
export interface LatencyStats {
  calls: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function latencyStats(ms: number[]): LatencyStats {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { calls: s.length, p50: q(0.5), p99: q(0.99), max: s.at(-1)!, mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** A served lmrec's event-loop delay p99 (ms) since the last scrape of its /metrics: prom-client resets its histogram on each. */
export async function eventLoopP99Ms(url: string): Promise<number> {
  const m = await (await fetch(`${url}/metrics`)).text();
  return Number(/^lmrec_nodejs_eventloop_lag_p99_seconds (\S+)/m.exec(m)?.[1]) * 1000;
}
