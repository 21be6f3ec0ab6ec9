/** Decoding a checkpoint tensor for the graphs, refusing non-finite values. */
import { LmrecError } from '../errors.js';
import type { Safetensors } from './safetensors.js';

/**
 * The tensor as fp32 (shape-checked), or NON_FINITE naming it: one NaN or infinite weight
 * turns every state it reaches into NaN, silently, so the checkpoint is refused instead.
 */
export function finiteTensor(st: Safetensors, name: string, shape: number[]): Float32Array {
  const data = st.get(name, shape);
  // x * 0 is NaN exactly for NaN and ±Infinity: one branch-free pass, then find where
  let probe = 0;
  for (let i = 0; i < data.length; i++) probe += data[i]! * 0;
  if (probe === 0) return data;
  const at = data.findIndex((v) => !Number.isFinite(v));
  throw new LmrecError(`tensor '${name}' holds ${data[at]} at element ${at}: the checkpoint is damaged`, 'NON_FINITE');
}
