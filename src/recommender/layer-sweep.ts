/**
 * The layer sweep (MARC's mid-layer representation analysis): for each candidate layer, a
 * quick compression + task model trained on the training split and scored on validation.
 * Middle layers often beat the last; the sweep reports what holds for the data at hand.
 */
import type { LeaveOneOut, Metrics } from '../eval/leave-one-out.js';
import { SequentialRecommender, type SrmFitOptions } from '../srm/sequential-recommender.js';
import { lineChart } from '../util/svg-chart.js';

export interface SweepRow {
  layer: number;
  /** Validation metrics of the best epoch (HR@10, NDCG@10, MRR). */
  valid: Metrics;
  epochs: number;
  seconds: number;
}

export interface SweepOptions {
  split: LeaveOneOut;
  items: number;
  layers: number[];
  /** The scaled item states of each layer, items x width. */
  features: (layer: number) => Float32Array;
  width: number;
  /** SRM and compression settings shared with the final fit. */
  fit: SrmFitOptions;
  /** Seconds one layer may train. */
  secondsPerLayer?: number | undefined;
  /** Most epochs one layer trains. Default 20. */
  epochs?: number | undefined;
  signal?: AbortSignal | undefined;
  onLayer?: (row: SweepRow, index: number) => void;
  /** After every epoch of a layer's training (validation NDCG@10 when it was validated). */
  onEpoch?: (layer: number, index: number, validNdcg: number | undefined) => void;
}

/** Sweeps the layers; returns the rows and the best layer's model (the caller owns it). */
export async function sweepLayers(o: SweepOptions): Promise<{ rows: SweepRow[]; best: { layer: number; model: SequentialRecommender; ndcg: number } | undefined }> {
  const rows: SweepRow[] = [];
  let best: { layer: number; model: SequentialRecommender; ndcg: number } | undefined;
  for (const [i, layer] of o.layers.entries()) {
    if (o.signal?.aborted) break;
    const t0 = performance.now();
    const model = await SequentialRecommender.fit(o.split.train, o.items, {
      ...o.fit,
      itemFeatures: { ...o.fit.itemFeatures!, vectors: o.features(layer), width: o.width },
      valid: o.split.valid,
      epochs: o.epochs ?? 20,
      patience: 3,
      ...(o.secondsPerLayer !== undefined ? { maxSeconds: o.secondsPerLayer } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      onEpoch: (e) => o.onEpoch?.(layer, i, e.valid?.['NDCG@10']),
    });
    const validated = model.history.filter((e) => e.valid);
    const top = validated.reduce<Metrics | undefined>((b, e) => (!b || e.valid!['NDCG@10']! > b['NDCG@10']! ? e.valid : b), undefined);
    const row: SweepRow = { layer, valid: top ?? {}, epochs: model.history.length, seconds: (performance.now() - t0) / 1000 };
    rows.push(row);
    o.onLayer?.(row, i);
    const ndcg = top?.['NDCG@10'] ?? -Infinity;
    if (top && (!best || ndcg > best.ndcg)) {
      best?.model.close();
      best = { layer, model, ndcg };
    } else {
      model.close();
    }
  }
  return { rows, best };
}

/** The sweep as an SVG line chart: validation NDCG@10 and HR@10 by layer. */
export function sweepSvg(rows: SweepRow[], title = 'Layer sweep: validation quality by LM layer'): string {
  const series = (metric: string) => ({ name: metric, points: rows.map((r) => ({ x: r.layer, y: r.valid[metric] ?? NaN })) });
  return lineChart({ title, xLabel: 'layer (0 = embeddings)', yLabel: 'validation metric', series: [series('NDCG@10'), series('HR@10')] });
}

/** The sweep as a text table. */
export function sweepTable(rows: SweepRow[], chosen?: number): string {
  const lines = ['layer | valid HR@10 | valid NDCG@10 | epochs | seconds', '---:|---:|---:|---:|---:'];
  for (const r of rows) {
    const mark = r.layer === chosen ? ' *' : '';
    lines.push(`${r.layer}${mark} | ${(r.valid['HR@10'] ?? NaN).toFixed(4)} | ${(r.valid['NDCG@10'] ?? NaN).toFixed(4)} | ${r.epochs} | ${r.seconds.toFixed(1)}`);
  }
  return lines.join('\n');
}
