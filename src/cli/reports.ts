/**
 * Reports for people: the layer sweep and the quality comparison as text tables and SVG
 * charts, for the CLI and the benchmarks (the computations return plain data).
 */
import type { QualityResult, QualityRow, Spread } from '../eval/quality.js';
import type { SweepRow } from '../recommender/layer-sweep.js';
import { lineChart } from '../util/svg-chart.js';

/** The sweep as an SVG line chart: validation NDCG@10 and HR@10 by layer. */
export function sweepSvg(rows: SweepRow[], title = 'Layer probe: validation quality of each LM layer\'s states'): string {
  const series = (metric: string) => ({ name: metric, points: rows.map((r) => ({ x: r.layer, y: r.valid[metric] ?? NaN })) });
  return lineChart({ title, xLabel: 'layer (0 = embeddings)', yLabel: 'validation metric', series: [series('NDCG@10'), series('HR@10')] });
}

/** The sweep as a text table. */
export function sweepTable(rows: SweepRow[], chosen?: number): string {
  const lines = ['layer | probe HR@10 | probe NDCG@10 | users | seconds', '---:|---:|---:|---:|---:'];
  for (const r of rows) {
    const mark = r.layer === chosen ? ' *' : '';
    lines.push(`${r.layer}${mark} | ${(r.valid['HR@10'] ?? NaN).toFixed(4)} | ${(r.valid['NDCG@10'] ?? NaN).toFixed(4)} | ${r.users} | ${r.seconds.toFixed(1)}`);
  }
  return lines.join('\n');
}

/**
 * The rows as a Markdown table: the mean over seeds, ± the standard deviation over seeds when
 * there are several; epochs trained and fit seconds; the fusion weight beside SRM + content.
 */
export function qualityMarkdown(result: Pick<QualityResult, 'rows'>): string {
  const several = (r: QualityRow) => r.seeds.length > 1;
  const num = (r: QualityRow, x: number | undefined, s: Spread | undefined, digits: number) => {
    if (x === undefined || !Number.isFinite(x)) return '-';
    return several(r) && s && s.std > 0 ? `${x.toFixed(digits)} ± ${s.std.toFixed(digits)}` : x.toFixed(digits);
  };
  const metric = (r: QualityRow, part: 'warm' | 'cold', k: string) => num(r, r.mean[part][k], r.spread[part][k], 4);
  const name = (r: QualityRow) => {
    if (r.mean.weight === undefined) return r.model;
    const range = (ws: number[]) => {
      const u = [...new Set(ws)].sort((a, b) => a - b);
      return u.length === 1 ? String(u[0]) : `${u[0]}–${u.at(-1)}`;
    };
    const cold = r.mean.coldWeight === undefined ? '' : `, cold ${range(r.seeds.map((s) => s.coldWeight!))}`;
    return `${r.model} (w ${range(r.seeds.map((s) => s.weight!))}${cold})`;
  };
  const epochs = (r: QualityRow) => (r.mean.epochs === 0 ? '-' : Number.isInteger(r.mean.epochs) ? String(r.mean.epochs) : r.mean.epochs.toFixed(1));
  const seconds = (x: number) => x.toFixed(x < 10 ? 1 : 0);
  return [
    '| model | warm HR@10 | warm NDCG@10 | cold HR@10 | cold NDCG@10 | coverage@10 | top-1% share | epochs | fit s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...result.rows.map(
      (r) =>
        `| ${name(r)} | ${metric(r, 'warm', 'HR@10')} | ${metric(r, 'warm', 'NDCG@10')} | ${metric(r, 'cold', 'HR@10')} | ${metric(r, 'cold', 'NDCG@10')} | ` +
        `${num(r, r.mean.coverage, r.spread.coverage, 3)} | ${num(r, r.mean.popularShare, r.spread.popularShare, 3)} | ${epochs(r)} | ${seconds(r.mean.seconds)} |`,
    ),
  ].join('\n');
}
