/** Random weights of realistic scale for speed benchmarks (the values do not matter there). */
import type { TensorSource } from '../src/lm/checkpoint-writer.js';

/** Fast uniform weights with std `std` (speed only matters here, not the values). */
function randomTensor(n: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  const a = std * Math.sqrt(3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 4294967296 - 0.5) * 2 * a;
  }
  return out;
}

/** Uniform weights with the std of a fresh model's init (speed is what is measured here). */
export function initSource(): TensorSource {
  let seed = 1;
  return (_name, shape, kind) => {
    const n = shape.reduce((x, y) => x * y, 1);
    if (kind === 'norm-weight') return new Float32Array(n).fill(1);
    if (kind === 'norm-bias' || kind === 'bias') return new Float32Array(n);
    return randomTensor(n, 0.02, seed++);
  };
}

