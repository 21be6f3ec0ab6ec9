/**
 * The layer probe (MARC's mid-layer representation analysis), cheap enough to run inside every
 * fit: for each candidate layer, each item's pooled state (standardised, unit length) stands for
 * the item, a user's profile is the mean of their last 50 history items' states, and items are
 * ranked by cosine with it. Validation NDCG@10 of that ranking says how much of what users do
 * next a layer's states carry, with no training: a few seconds a layer where training a
 * compression + SRM per layer took minutes and, cut short, could not tell layers apart.
 * Middle layers often beat the last; the probe reports what holds for the data at hand.
 */
import { evaluate, type Metrics, type Split } from '../eval/leave-one-out.js';
import { Random } from '../util/random.js';

export interface SweepRow {
  /** The LM layer probed (0: the embeddings). */
  layer: number;
  /** Validation metrics of the probe's ranking (HR@10, NDCG@10, MRR). */
  valid: Metrics;
  /** Validation users the probe ranked for. */
  users: number;
  /** Wall-clock seconds the layer's probe took (its encoding not included). */
  seconds: number;
}

export interface ProbeOptions {
  /** Validation splits (a seeded sample of them is probed). */
  valid: Split[];
  items: number;
  layers: number[];
  /** The scaled item states of each layer, items x width. */
  features: (layer: number) => Float32Array;
  width: number;
  /** History items a profile averages. Default 50. */
  recent?: number;
  /** Most users probed; fewer on large catalogs so that a layer costs ~2e9 multiply-adds. Default 2,000. */
  maxUsers?: number;
  seed?: number;
  signal?: AbortSignal | undefined;
  onLayer?: (row: SweepRow, index: number) => void;
}

/** Multiply-adds one layer's probe may cost: users x items x width. */
const PROBE_WORK = 2e9;

/** Probes the layers; returns a row per layer and the best layer (undefined when aborted before the first). */
export async function probeLayers(o: ProbeOptions): Promise<{ rows: SweepRow[]; best: number | undefined }> {
  const recent = o.recent ?? 50;
  const users = Math.max(100, Math.min(o.maxUsers ?? 2000, Math.floor(PROBE_WORK / Math.max(1, o.items * o.width))));
  const rng = new Random(o.seed ?? 5);
  const sample = o.valid.length <= users ? o.valid : [...new Set(Array.from({ length: users * 3 }, () => rng.int(o.valid.length)))].slice(0, users).sort((a, b) => a - b).map((i) => o.valid[i]!);
  const rows: SweepRow[] = [];
  let best: { layer: number; ndcg: number } | undefined;
  for (const [index, layer] of o.layers.entries()) {
    if (o.signal?.aborted) break;
    const t0 = performance.now();
    const unit = unitRows(o.features(layer), o.width);
    const valid = await evaluate(sample, o.items, (splits) => profileScores(splits, unit, o.items, o.width, recent), [10]);
    const row: SweepRow = { layer, valid, users: sample.length, seconds: (performance.now() - t0) / 1000 };
    rows.push(row);
    o.onLayer?.(row, index);
    if (!best || valid['NDCG@10']! > best.ndcg) best = { layer, ndcg: valid['NDCG@10']! };
  }
  return { rows, best: best?.layer };
}

/** Each row scaled to unit length (zero rows stay zero). */
function unitRows(m: Float32Array, width: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < m.length; r += width) {
    let norm = 0;
    for (let x = r; x < r + width; x++) norm += m[x]! * m[x]!;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let x = r; x < r + width; x++) out[x] = m[x]! * scale;
  }
  return out;
}

/** Cosine of every item with the mean of each split's last `recent` history items (rows of unit vectors). */
function profileScores(splits: Split[], unit: Float32Array, items: number, width: number, recent: number): Float32Array {
  const rows = new Float32Array(splits.length * items);
  const profile = new Float64Array(width);
  splits.forEach((s, j) => {
    profile.fill(0);
    const h = s.history;
    for (let x = Math.max(0, h.length - recent); x < h.length; x++) {
      const at = h[x]! * width;
      for (let d = 0; d < width; d++) profile[d]! += unit[at + d]!;
    }
    const row = rows.subarray(j * items, (j + 1) * items);
    for (let i = 0; i < items; i++) {
      const at = i * width;
      let dot = 0;
      for (let d = 0; d < width; d++) dot += profile[d]! * unit[at + d]!;
      row[i] = dot; // the profile's own length scales every item alike: the ranking is the cosine's
    }
  });
  return rows;
}
