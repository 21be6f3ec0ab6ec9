/**
 * Naive references for the native kernels: plain loops in double precision, with int8
 * quantization reproduced exactly as the core does it (float32 arithmetic, round half to even).
 */
export type Metric = 'ip' | 'cosine' | 'l2';
export type Storage = 'int8' | 'f16' | 'f32';

const f = Math.fround;

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function quantizeInt8(v: ArrayLike<number>): { codes: Int8Array; scale: number } {
  let maxAbs = 0;
  for (let i = 0; i < v.length; i++) maxAbs = Math.max(maxAbs, Math.abs(v[i]!));
  const codes = new Int8Array(v.length);
  if (maxAbs === 0) return { codes, scale: 0 };
  const inv = f(127 / maxAbs);
  for (let i = 0; i < v.length; i++) codes[i] = Math.max(-127, Math.min(127, roundHalfEven(f(v[i]! * inv))));
  return { codes, scale: f(maxAbs / 127) };
}

/** f32 -> f16 -> f32, round to nearest even (what the core stores for 'f16'). */
export function roundToHalf(x: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setFloat32(0, x);
  const bits = buf.getUint32(0);
  const sign = bits >>> 31 ? -1 : 1;
  const a = Math.abs(f(x));
  if (a === 0) return 0 * sign;
  if (a >= 65520) return sign * Infinity;
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const step = 2 ** (e - 10);
  return sign * roundHalfEven(a / step) * step;
}

function normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  return Float32Array.from(v, (x) => x / n);
}

/** What a stored vector looks like to the kernels, per storage. */
function stored(v: Float32Array, storage: Storage): { values: number[]; scale: number } {
  if (storage === 'int8') {
    const q = quantizeInt8(v);
    return { values: Array.from(q.codes), scale: q.scale };
  }
  if (storage === 'f16') return { values: Array.from(v, roundToHalf), scale: 1 };
  return { values: Array.from(v), scale: 1 };
}

/**
 * Scores of every vector for a query as the index computes them (similarity for ip/cosine,
 * squared distance for l2), before any rescoring. Returns a scorer so the stored form of the
 * vectors is computed once.
 */
export function referenceScorer(
  vectors: Float32Array,
  dim: number,
  metric: Metric,
  storage: Storage,
): (query: Float32Array) => number[] {
  const n = vectors.length / dim;
  const rows = Array.from({ length: n }, (_, i) => {
    const raw = vectors.subarray(i * dim, (i + 1) * dim);
    let x2 = 0;
    for (const v of raw) x2 += v * v;
    return { ...stored(metric === 'cosine' ? normalize(raw) : raw, storage), x2 };
  });
  return (query) => {
    const qv = metric === 'cosine' ? normalize(query) : query;
    const qs = storage === 'int8' ? stored(qv, 'int8') : { values: Array.from(qv), scale: 1 };
    const qScale = qs.scale > 0 ? qs.scale : 1;
    let q2 = 0;
    for (const x of query) q2 += x * x;
    return rows.map((x) => {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += qs.values[d]! * x.values[d]!;
      const ip = dot * x.scale * qScale;
      return metric === 'l2' ? Math.max(0, q2 - 2 * ip + x.x2) : ip;
    });
  };
}

/** Exact float search: ids of the k best, best first (ties by lower id). */
export function bruteForce(vectors: Float32Array, queries: Float32Array, dim: number, k: number, metric: Metric): number[][] {
  const n = vectors.length / dim;
  const out: number[][] = [];
  for (let q = 0; q * dim < queries.length; q++) {
    const qv = queries.subarray(q * dim, (q + 1) * dim);
    const scored: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      let s = 0;
      let x2 = 0;
      let q2 = 0;
      for (let d = 0; d < dim; d++) {
        const a = qv[d]!;
        const b = vectors[i * dim + d]!;
        if (metric === 'l2') s -= (a - b) * (a - b);
        else s += a * b;
        x2 += b * b;
        q2 += a * a;
      }
      if (metric === 'cosine') s /= Math.sqrt(x2 * q2);
      scored.push([s, i]);
    }
    scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    out.push(scored.slice(0, k).map((e) => e[1]));
  }
  return out;
}
