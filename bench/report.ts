/**
 * npm run bench:report — turns bench/results/knn.json into knn.md (the README's table) and
 * knn.svg (queries per second against recall@10, one panel per data size).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './knn-row.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const rows = JSON.parse(readFileSync(path.join(dir, 'knn.json'), 'utf8')) as (Row & Record<string, unknown>)[];
const machine = rows.find((r) => r.mode === 'machine');
const runs = rows.filter((r) => r.mode !== 'machine' && r.qps > 0);

const fmt = (v: number | undefined, digits = 3) =>
  v === undefined ? '' : v >= 100 ? v.toFixed(0) : v.toPrecision(digits);
const pct = (v: number | undefined) => (v === undefined ? '' : `${(v * 100).toFixed(0)}%`);

const lines: string[] = [];
if (machine) {
  const m = machine as unknown as { int8_macs_per_s: number; read_gb_per_s: number; read_gb_per_s_all_threads: number; note: string };
  lines.push(
    `Machine (measured in the same run): int8 multiply-add peak ${(m.int8_macs_per_s / 1e9).toFixed(0)} G/s on one core; ` +
      `read bandwidth ${m.read_gb_per_s.toFixed(1)} GB/s on one thread, ${m.read_gb_per_s_all_threads.toFixed(1)} GB/s on all. ${m.note}.`,
    '',
  );
}
const size = (r: Row) => `${r.n >= 1e6 ? `${r.n / 1e6}M` : `${r.n / 1e3}k`} × ${r.dim}`;
const exactRuns = runs.filter((r) => r.setting === undefined);
lines.push('| engine | n × dim | mode | threads | queries/s | ms/query | recall@10 | bytes/vector | of int8 peak | of read bandwidth |');
lines.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of exactRuns) {
  lines.push(
    `| ${r.engine} | ${size(r)} | ${r.mode} | ${r.threads} | ${fmt(r.qps)} | ${fmt(r.latency_ms)} | ${r.recall10.toFixed(3)} | ${fmt(r.bytes_per_vector)} | ${pct(r.frac_of_int8_peak)} | ${pct(r.frac_of_bandwidth)} |`,
  );
}
// The approximate engines (bench:knn -- --ann): a row per setting (probe, ef, recall target).
const approx = runs.filter((r) => r.setting !== undefined);
if (approx.length > 0) {
  lines.push('', 'Approximate engines (`-- --ann`; single: p50 and p99 of 1,000 one-at-a-time queries):', '');
  lines.push('| engine | n × dim | setting | mode | threads | queries/s | ms/query (p50) | p99 ms | recall@10 | bytes/vector | × codes | build s (1 thread) |');
  lines.push('|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of approx) {
    lines.push(
      `| ${r.engine} | ${size(r)} | ${r.setting} | ${r.mode} | ${r.threads} | ${fmt(r.qps)} | ${fmt(r.latency_ms)} | ${fmt(r.p99_ms)} | ${r.recall10.toFixed(3)} | ${fmt(r.bytes_per_vector)} | ${fmt(r.memory_vs_codes)} | ${fmt(r.build_s)} |`,
    );
  }
}
const unavailable = rows.filter((r) => r.qps === 0 && r.mode !== 'machine');
for (const r of new Set(unavailable.map((r) => `${r.engine}: ${r.note}`))) lines.push('', `${r}.`);
writeFileSync(path.join(dir, 'knn.md'), `${lines.join('\n')}\n`);

// One panel per (n, dim): x = log10 queries/s, y = recall@10.
const panels = [...new Set(runs.map((r) => `${r.n}x${r.dim}`))];
const W = 420;
const H = 300;
const pad = { l: 50, r: 10, t: 30, b: 40 };
const colors: Record<string, string> = {};
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];
for (const e of [...new Set(runs.map((r) => r.engine))]) colors[e] = palette[Object.keys(colors).length % palette.length]!;
const qMin = Math.floor(Math.log10(Math.min(...runs.map((r) => r.qps))));
const qMax = Math.ceil(Math.log10(Math.max(...runs.map((r) => r.qps))));
const rMin = Math.max(0, Math.floor(Math.min(...runs.map((r) => r.recall10)) * 20) / 20);
let svg = '';
panels.forEach((key, p) => {
  const ox = (p % 2) * W;
  const oy = Math.floor(p / 2) * H;
  const x = (q: number) => ox + pad.l + ((Math.log10(q) - qMin) / (qMax - qMin)) * (W - pad.l - pad.r);
  const y = (r: number) => oy + pad.t + (1 - (r - rMin) / (1 - rMin)) * (H - pad.t - pad.b);
  const [n, dim] = key.split('x').map(Number);
  svg += `<text x="${ox + W / 2}" y="${oy + 18}" text-anchor="middle" font-weight="bold">${n!.toLocaleString('en')} × ${dim}</text>`;
  svg += `<rect x="${ox + pad.l}" y="${oy + pad.t}" width="${W - pad.l - pad.r}" height="${H - pad.t - pad.b}" fill="none" stroke="#999"/>`;
  for (let e = qMin; e <= qMax; e++) svg += `<text x="${x(10 ** e)}" y="${oy + H - pad.b + 14}" text-anchor="middle" font-size="10">1e${e}</text>`;
  for (let r = rMin; r <= 1.0001; r += 0.05) svg += `<text x="${ox + pad.l - 4}" y="${y(r) + 3}" text-anchor="end" font-size="10">${r.toFixed(2)}</text>`;
  svg += `<text x="${ox + W / 2}" y="${oy + H - 6}" text-anchor="middle" font-size="11">queries/s (log)</text>`;
  for (const r of runs.filter((r) => `${r.n}x${r.dim}` === key)) {
    const shape = r.mode === 'single' ? `<rect x="${x(r.qps) - 4}" y="${y(r.recall10) - 4}" width="8" height="8"` : `<circle cx="${x(r.qps)}" cy="${y(r.recall10)}" r="${3 + r.threads}"`;
    svg += `${shape} fill="${colors[r.engine]}" fill-opacity="0.75"><title>${r.engine} ${r.mode} t${r.threads}: ${fmt(r.qps)} q/s, recall ${r.recall10.toFixed(3)}</title></${r.mode === 'single' ? 'rect' : 'circle'}>`;
  }
});
const rowsOfPanels = Math.ceil(panels.length / 2);
const legendY = rowsOfPanels * H + 10;
Object.entries(colors).forEach(([engine, color], i) => {
  const lx = (i % 3) * 280 + 20;
  const ly = legendY + Math.floor(i / 3) * 18;
  svg += `<circle cx="${lx}" cy="${ly}" r="5" fill="${color}"/><text x="${lx + 10}" y="${ly + 4}" font-size="12">${engine}</text>`;
});
svg += `<text x="20" y="${legendY + 66}" font-size="11">circles: batched (size grows with threads); squares: one query at a time. y: recall@10 against exact fp32.</text>`;
const total = legendY + 80;
writeFileSync(
  path.join(dir, 'knn.svg'),
  `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${total}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${svg}</svg>\n`,
);
console.log(`wrote ${path.relative(process.cwd(), path.join(dir, 'knn.md'))} and knn.svg`);
