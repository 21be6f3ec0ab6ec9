/** One row of the vector-index benchmark's results (bench/knn.ts, and bench/ann.ts for the approximate engines). */
export interface Row {
  engine: string;
  n: number;
  dim: number;
  mode: 'batch' | 'single' | 'machine';
  threads: number;
  qps: number;
  latency_ms: number;
  recall10: number;
  bytes_per_vector?: number;
  rss_mb?: number;
  build_s?: number;
  /** partitioned: emptyCopy() + add of the same vectors, in the trained partitions (no k-means) */
  refill_s?: number;
  /** single: the 99th percentile of per-query latency */
  p99_ms?: number;
  /** approximate engines: probe, ef or recall target */
  setting?: string;
  /** bytes per vector over the bytes of its int8 codes alone (dim) */
  memory_vs_codes?: number;
  read_gb_per_s?: number; // single: bytes of codes scanned per second
  frac_of_bandwidth?: number; // single: read_gb_per_s / measured read bandwidth (same threads)
  frac_of_int8_peak?: number; // batch: multiply-adds per second / (peak x threads)
  note?: string;
}
