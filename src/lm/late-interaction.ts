/**
 * Multi-segment late interaction (M6-Rec): a user's behaviour read as text at serving speed.
 *
 * The input is a list of segments (a user profile, each past event's item text, a candidate's
 * text). The bottom `splitLayer` layers run on each segment alone — attention within the
 * segment, positions from 0 — so their states depend only on the segment's tokens: one cache
 * entry per item serves every user. The top layers run once over the concatenation with
 * global positions and causal attention.
 *
 *   encodeUser(history)        = the last token's state after the top layers (hidden_L)
 *   score(history, candidates) = mean log-probability of each candidate's tokens after the
 *                                history (the LM's own judgement, no head to train)
 *
 * Because the bottom layers never saw other segments, a model trained with full attention
 * loses quality here unless its top layers are tuned with the segment-local mask (the trainer
 * supports it); `reference*` methods run the same computation without the cache and without
 * splitting the batch per segment, as the oracle the cached path is tested against.
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { parseOptions } from '../util/options.js';
import { MASKED } from './onnx/ops.js';
import { layerAccess, type LanguageModel, type LayerAccess, type ModelInput } from './language-model.js';
import { SegmentCache } from './segment-cache.js';

export interface LateInteractionOptions {
  /** Layers 1..splitLayer run per segment (and are cached); the rest over the concatenation. A block boundary of the model. */
  splitLayer: number;
  /** Where segment states are kept. Default: a 256 MiB fp16 cache of its own. */
  cache?: SegmentCache;
  /** Names the model in cache keys; a different model must use a different id. Default: the model's shape and a counter per loaded model. */
  modelId?: string;
}

const optionsSchema = z.strictObject({
  splitLayer: z.number().int(),
  cache: z.instanceof(SegmentCache).optional(),
  modelId: z.string().min(1).optional(),
});

const DEFAULT_CACHE_BYTES = 256 * 2 ** 20;
let loadedModels = 0;
const modelIds = new WeakMap<LanguageModel, string>();

export class LateInteraction {
  /** Layers 1..splitLayer run per segment and are cached. */
  readonly splitLayer: number;
  /** Where the segments' states are kept (the given cache, or one of its own). */
  readonly cache: SegmentCache;
  /** The model's name in cache keys. */
  readonly modelId: string;
  readonly #lm: LanguageModel;
  readonly #run: LayerAccess;
  readonly #ownsCache: boolean;

  /**
   * Late interaction over `lm`; the cache drops the entries of any other model id.
   * @param lm A decoder (causal) language model; it stays the caller's.
   * @param options The split layer (required), the cache and the model's id in it.
   */
  constructor(lm: LanguageModel, options: LateInteractionOptions) {
    const L = lm.config.layers;
    const o = parseOptions(optionsSchema, options, 'LateInteraction');
    const split = o.splitLayer;
    this.#run = layerAccess(lm);
    if (split < 1 || split >= L || !this.#run.boundaries().includes(split)) {
      throw new LmrecError(
        `splitLayer must be a block boundary between 1 and ${L - 1} (boundaries: ${this.#run.boundaries().join(', ')}), got ${String(split)}`,
        'INVALID_ARGUMENT',
      );
    }
    if (lm.config.family !== 'decoder') throw new LmrecError('late interaction needs a decoder (causal) model', 'UNSUPPORTED');
    this.#lm = lm;
    this.splitLayer = split;
    this.#ownsCache = !o.cache;
    this.cache = o.cache ?? new SegmentCache({ budgetBytes: DEFAULT_CACHE_BYTES });
    if (!modelIds.has(lm)) modelIds.set(lm, `${JSON.stringify(lm.config)}#${++loadedModels}`);
    this.modelId = o.modelId ?? modelIds.get(lm)!;
    this.cache.keepOnly(this.modelId);
  }

  /**
   * The user's state after the top layers: the last token of the concatenated history.
   * @param history The user's events: a non-empty list of segments (texts or token ids), oldest first, each within the model's context.
   */
  async encodeUser(history: readonly ModelInput[]): Promise<Float32Array> {
    const segs = this.#segments(history, 'history');
    const bottoms = await this.#bottoms(segs);
    const H = this.#lm.config.hidden;
    const top = await this.#top([bottoms]);
    const T = segs.reduce((a, s) => a + s.length, 0);
    return top.hidden.slice((T - 1) * H, T * H);
  }

  /**
   * The user's state at each requested layer (above the split, up to the last), running the
   * top blocks one at a time and stopping after the deepest asked or as soon as `stop` says
   * so. Returns the states of the layers reached, in order. (Early exit builds on this.)
   * @param history The user's events, as encodeUser's.
   * @param layers Block boundaries above the split, up to the last layer.
   * @param stop Called with each requested layer's state as it is reached; true stops there.
   */
  async encodeUserAt(history: readonly ModelInput[], layers: number[], stop?: (layer: number, state: Float32Array) => boolean): Promise<Map<number, Float32Array>> {
    const bounds = this.#run.boundaries().filter((b) => b > this.splitLayer);
    for (const l of layers) {
      if (!bounds.includes(l)) throw new LmrecError(`layer ${l} is not a block boundary above the split (${bounds.join(', ')})`, 'INVALID_ARGUMENT');
    }
    const segs = this.#segments(history, 'history');
    const bottoms = await this.#bottoms(segs);
    const H = this.#lm.config.hidden;
    const T = segs.reduce((a, s) => a + s.length, 0);
    const max = this.#lm.config.maxPositions;
    if (T > max) throw new LmrecError(`the segments together are ${T} tokens, more than the model's context of ${max}: use fewer events`, 'INPUT_TOO_LONG');
    let hidden: Float32Array = new Float32Array(T * H);
    let at = 0;
    for (const b of bottoms) {
      hidden.set(b, at);
      at += b.length;
    }
    const positions = BigInt64Array.from({ length: T }, (_, t) => BigInt(t));
    const bias = blockBias([[T]], T);
    const deepest = Math.max(...layers);
    const out = new Map<number, Float32Array>();
    let from = this.splitLayer;
    for (const to of bounds) {
      if (to > deepest) break;
      hidden = await this.#run.run(hidden, 1, T, positions, bias, from, to);
      from = to;
      if (!layers.includes(to)) continue;
      const state = hidden.slice((T - 1) * H, T * H);
      out.set(to, state);
      if (stop?.(to, state)) break;
    }
    return out;
  }

  /**
   * Mean log-probability of each candidate's tokens after the history (higher is better).
   * @param history The user's events: a non-empty list of segments (texts or token ids), oldest first, each within the model's context.
   * @param candidates The candidates' texts or token ids, at least one; one score each, in their order.
   */
  async score(history: readonly ModelInput[], candidates: readonly ModelInput[]): Promise<Float32Array> {
    const hist = this.#segments(history, 'history');
    const cands = this.#segments(candidates, 'candidates');
    const histStates = await this.#bottoms(hist);
    const candStates = await this.#bottoms(cands);
    return this.#scoreTop(hist, cands, cands.map((_, j) => [...histStates, candStates[j]!]));
  }

  /**
   * encodeUser without the cache: the bottom layers over the whole concatenation with a segment-local mask.
   * @param history As encodeUser's.
   */
  async referenceEncodeUser(history: readonly ModelInput[]): Promise<Float32Array> {
    const segs = this.#segments(history, 'history');
    const H = this.#lm.config.hidden;
    const bottom = await this.#referenceBottom([segs]);
    const T = segs.reduce((a, s) => a + s.length, 0);
    const top = await this.#topRaw(bottom, 1, T, [T]);
    return top.slice((T - 1) * H, T * H);
  }

  /**
   * score without the cache (see referenceEncodeUser).
   * @param history As score's.
   * @param candidates As score's.
   */
  async referenceScore(history: readonly ModelInput[], candidates: readonly ModelInput[]): Promise<Float32Array> {
    const hist = this.#segments(history, 'history');
    const cands = this.#segments(candidates, 'candidates');
    const seqs = cands.map((c) => [...hist, c]);
    const bottom = await this.#referenceBottom(seqs);
    const lengths = seqs.map((s) => s.reduce((a, x) => a + x.length, 0));
    const T = Math.max(...lengths);
    const top = await this.#topRaw(bottom, seqs.length, T, lengths);
    return this.#logProbs(top, T, hist, cands);
  }

  /** Frees the cache if this encoder made it; the model is the caller's. */
  async close(): Promise<void> {
    if (this.#ownsCache) this.cache.close();
  }

  /** Segments as token ids: texts through the model's tokenizer, ids checked against the vocabulary. */
  #segments(inputs: readonly ModelInput[], what: string): Int32Array[] {
    if (!Array.isArray(inputs) || inputs.length === 0) throw new LmrecError(`${what} must be a non-empty array of texts or token ids`, 'INVALID_ARGUMENT');
    const max = this.#lm.config.maxPositions;
    const vocab = this.#lm.config.vocab;
    return inputs.map((t, i) => {
      if (typeof t !== 'string' && !(t !== null && typeof t === 'object' && typeof t.length === 'number')) {
        throw new LmrecError(`${what}[${i}] must be a string or token ids`, 'INVALID_ARGUMENT');
      }
      const ids = Int32Array.from(typeof t === 'string' ? this.#lm.tokenize(t) : Array.from(t));
      if (typeof t !== 'string' && ids.some((x, j) => x !== t[j] || x < 0 || x >= vocab)) {
        throw new LmrecError(`${what}[${i}] holds a token id outside the vocabulary of ${vocab}`, 'INVALID_ARGUMENT');
      }
      if (ids.length === 0) throw new LmrecError(`${what}[${i}] is empty: it has no tokens`, 'INVALID_ARGUMENT');
      if (ids.length > max) throw new LmrecError(`${what}[${i}] has ${ids.length} tokens, more than the model's context of ${max}`, 'INPUT_TOO_LONG');
      return ids;
    });
  }

  /** Bottom states [n x H] of each segment: from the cache, the misses run together and are cached. */
  async #bottoms(segs: Int32Array[]): Promise<Float32Array[]> {
    const H = this.#lm.config.hidden;
    const out: (Float32Array | undefined)[] = segs.map((s) => this.cache.get(this.modelId, this.splitLayer, s, H));
    // a segment repeated in the request (an item seen twice) runs once
    const firstOf = new Map<string, number>();
    const missing = segs.flatMap((s, i) => {
      if (out[i]) return [];
      const key = s.join(',');
      if (firstOf.has(key)) return [];
      firstOf.set(key, i);
      return [i];
    });
    if (missing.length > 0) {
      const runs = missing.map((i) => segs[i]!);
      const T = Math.max(...runs.map((s) => s.length));
      const positions = new BigInt64Array(runs.length * T);
      runs.forEach((s, b) => s.forEach((_, t) => (positions[b * T + t] = BigInt(t))));
      const bias = blockBias(runs.map((s) => [s.length]), T);
      const hidden = await this.#run.run(runs, runs.length, T, positions, bias, 0, this.splitLayer);
      missing.forEach((i, b) => {
        const states = hidden.slice(b * T * H, (b * T + segs[i]!.length) * H);
        this.cache.put(this.modelId, this.splitLayer, segs[i]!, states);
        out[i] = states;
      });
      segs.forEach((s, i) => (out[i] ??= out[firstOf.get(s.join(','))!]));
    }
    return out as Float32Array[];
  }

  /** The bottom layers over whole sequences of segments with a segment-local mask and local positions. */
  async #referenceBottom(seqs: Int32Array[][]): Promise<Float32Array> {
    const lengths = seqs.map((s) => s.reduce((a, x) => a + x.length, 0));
    const T = Math.max(...lengths);
    const positions = new BigInt64Array(seqs.length * T);
    const ids = seqs.map((segs, b) => {
      const flat: number[] = [];
      for (const s of segs) {
        s.forEach((tok, t) => {
          positions[b * T + flat.length] = BigInt(t);
          flat.push(tok);
        });
      }
      return flat;
    });
    return this.#run.run(ids, seqs.length, T, positions, blockBias(seqs.map((s) => s.map((x) => x.length)), T), 0, this.splitLayer);
  }

  async #top(seqs: Float32Array[][]): Promise<{ hidden: Float32Array; T: number; lengths: number[] }> {
    const H = this.#lm.config.hidden;
    const lengths = seqs.map((segs) => segs.reduce((a, s) => a + s.length / H, 0));
    const T = Math.max(...lengths);
    const input = new Float32Array(seqs.length * T * H);
    seqs.forEach((segs, b) => {
      let at = b * T * H;
      for (const s of segs) {
        input.set(s, at);
        at += s.length;
      }
    });
    return { hidden: await this.#topRaw(input, seqs.length, T, lengths), T, lengths };
  }

  /** The top layers over [B x T x H] bottom states with global positions and causal attention. */
  #topRaw(input: Float32Array, B: number, T: number, lengths: number[]): Promise<Float32Array> {
    const max = this.#lm.config.maxPositions;
    if (T > max) return Promise.reject(new LmrecError(`the segments together are ${T} tokens, more than the model's context of ${max}: use fewer events`, 'INPUT_TOO_LONG'));
    const positions = new BigInt64Array(B * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) positions[b * T + t] = BigInt(t);
    return this.#run.run(input, B, T, positions, blockBias(lengths.map((n) => [n]), T), this.splitLayer, this.#lm.config.layers);
  }

  async #scoreTop(hist: Int32Array[], cands: Int32Array[], seqs: Float32Array[][]): Promise<Float32Array> {
    const top = await this.#top(seqs);
    return this.#logProbs(top.hidden, top.T, hist, cands);
  }

  /** Mean log p(candidate token | everything before it) of each candidate, from the last-layer states. */
  async #logProbs(hidden: Float32Array, T: number, hist: Int32Array[], cands: Int32Array[]): Promise<Float32Array> {
    const H = this.#lm.config.hidden;
    const start = hist.reduce((a, s) => a + s.length, 0);
    // the state before each candidate token predicts it: rows start-1 .. start+n-2
    const R = cands.reduce((a, c) => a + c.length, 0);
    const rows = new Float32Array(R * H);
    let r = 0;
    cands.forEach((c, b) => {
      for (let t = 0; t < c.length; t++, r++) rows.set(hidden.subarray((b * T + start - 1 + t) * H, (b * T + start + t) * H), r * H);
    });
    const logits = await this.#run.head(rows, R);
    const V = logits.length / R;
    const out = new Float32Array(cands.length);
    r = 0;
    cands.forEach((c, b) => {
      let sum = 0;
      for (let t = 0; t < c.length; t++, r++) {
        const row = logits.subarray(r * V, (r + 1) * V);
        let max = -Infinity;
        for (const x of row) max = Math.max(max, x);
        let z = 0;
        for (const x of row) z += Math.exp(x - max);
        sum += row[c[t]!]! - max - Math.log(z);
      }
      out[b] = sum / c.length;
    });
    return out;
  }
}

/**
 * Additive attention bias [B x T x T]: each sequence is a run of blocks (lengths in tokens);
 * a token sees the earlier tokens of its own block (causal, segment-local; one block = plain
 * causal). Padding rows see themselves only, so no row is all masked.
 */
function blockBias(blocks: number[][], T: number): Float32Array {
  const bias = new Float32Array(blocks.length * T * T).fill(MASKED);
  blocks.forEach((lens, b) => {
    let start = 0;
    for (const n of lens) {
      for (let t = start; t < start + n; t++) for (let s = start; s <= t; s++) bias[(b * T + t) * T + s] = 0;
      start += n;
    }
    for (let t = start; t < T; t++) bias[(b * T + t) * T + t] = 0;
  });
  return bias;
}
