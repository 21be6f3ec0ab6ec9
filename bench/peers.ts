/**
 * The other kNN engines bench:knn measures, installed into bench/node_modules by `npm run
 * bench:knn`: the parts of their APIs used here, so the project typechecks without them.
 */
export interface UsearchIndex {
  add(keys: BigUint64Array, vectors: Float32Array, threads: number): void;
  search(queries: Float32Array, k: number, threads: number): { keys: BigUint64Array };
  save(path: string): void;
  load(path: string): void;
}

export interface Usearch {
  MetricKind: { Cos: unknown };
  ScalarKind: { F32: unknown; I8: unknown };
  exactSearch(data: Float32Array | Int8Array, queries: Float32Array | Int8Array, dim: number, k: number, metric: unknown, threads: number): { keys: BigUint64Array };
  Index: new (options: Record<string, unknown>) => UsearchIndex;
}

export interface HnswlibNode {
  HierarchicalNSW: new (space: string, dim: number) => {
    initIndex(o: { maxElements: number; m: number; efConstruction: number }): void;
    addPoint(v: number[], label: number): void;
    setEf(ef: number): void;
    searchKnn(q: number[], k: number): { neighbors: number[] };
  };
}
