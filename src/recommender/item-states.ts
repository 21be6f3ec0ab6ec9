/**
 * The representation module (MARC): each item's text, encoded once by the frozen language
 * model, pooled at one or several layers. States are standardised per dimension before
 * compression: language models keep a few dimensions hundreds of times larger than the rest,
 * which would saturate the compression's tanh.
 */
import { LmrecError } from '../errors.js';
import type { LanguageModel, Pooling } from '../lm/language-model.js';

export interface ItemStatesOptions {
  pooling?: Pooling | undefined;
  /** Texts a pass. Default 16. */
  batchSize?: number | undefined;
  /** Bytes the pooled states of all layers of one pass may hold. Default 1 GiB. */
  maxBytes?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/** Pooled states of `texts` at each of `layers` (items x hidden floats per layer). Empty texts give zero rows. */
export async function encodeItemStates(lm: LanguageModel, texts: readonly string[], layers: number[], o: ItemStatesOptions = {}): Promise<Float32Array[]> {
  const H = lm.config.hidden;
  const n = texts.length;
  const maxBytes = o.maxBytes ?? 2 ** 30;
  // Layers that fit the memory bound together share one pass of the model.
  const perPass = Math.max(1, Math.floor(maxBytes / Math.max(1, n * H * 4)));
  if (n * H * 4 > maxBytes) {
    throw new LmrecError(`the item states of ${n} items x ${H} floats exceed the ${maxBytes}-byte bound: raise maxBytes or use a smaller model`, 'REQUEST_TOO_LARGE');
  }
  const out = layers.map(() => new Float32Array(n * H));
  const withText = texts.flatMap((t, i) => (t.trim().length > 0 ? [i] : []));
  const chunk = Math.max(1, (o.batchSize ?? 16) * 4);
  const total = withText.length * Math.ceil(layers.length / perPass);
  let done = 0;
  for (let l0 = 0; l0 < layers.length; l0 += perPass) {
    const group = layers.slice(l0, l0 + perPass);
    for (let s = 0; s < withText.length; s += chunk) {
      if (o.signal?.aborted) throw new LmrecError('encoding the items was aborted', 'ABORTED');
      const idx = withText.slice(s, s + chunk);
      const states = await lm.encodeLayers(idx.map((i) => texts[i]!), {
        layers: group,
        pooling: o.pooling ?? 'mean',
        truncate: true,
        ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
      });
      group.forEach((_, g) => idx.forEach((item, j) => out[l0 + g]!.set(states[g]![j]!, item * H)));
      done += idx.length;
      o.onProgress?.(done, total);
    }
  }
  return out;
}

/** Per-dimension centring and scaling of the states, fitted on the catalog and kept for items added later. */
export interface FeatureScaling {
  mean: Float32Array;
  scale: Float32Array;
}

export function fitScaling(states: Float32Array, width: number): FeatureScaling {
  const n = states.length / width;
  const mean = new Float64Array(width);
  const sq = new Float64Array(width);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) mean[j]! += states[i * width + j]!;
  for (let j = 0; j < width; j++) mean[j]! /= Math.max(1, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) sq[j]! += (states[i * width + j]! - mean[j]!) ** 2;
  const scale = Float32Array.from(sq, (s) => {
    const std = Math.sqrt(s / Math.max(1, n));
    return std > 1e-6 ? 1 / std : 0; // a constant dimension carries nothing
  });
  return { mean: Float32Array.from(mean), scale };
}

export function applyScaling(states: Float32Array, s: FeatureScaling): Float32Array {
  const width = s.mean.length;
  const out = new Float32Array(states.length);
  for (let i = 0; i < states.length; i++) out[i] = (states[i]! - s.mean[i % width]!) * s.scale[i % width]!;
  return out;
}

/** Layers worth sweeping: every one for a model of up to 12 layers (0 = the embeddings), else 8 spread to the last. */
export function candidateLayers(layers: number): number[] {
  if (layers <= 12) return Array.from({ length: layers + 1 }, (_, i) => i);
  return Array.from({ length: 8 }, (_, i) => Math.round(((i + 1) * layers) / 8));
}
