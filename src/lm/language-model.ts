/**
 * LanguageModel: a Hugging Face model directory run through onnxruntime-node as segmented
 * graphs (embeddings, blocks of layers, final norm + head), so any layer's hidden states are
 * one call away and a request runs only the layers it needs.
 */
import ort from 'onnxruntime-node';
import { LmrecError } from '../errors.js';
import { readConfig, type DecoderConfig } from './config.js';
import { decoderWeights } from './decoder-weights.js';
import { blockGraph, embeddingGraph, finalGraph, MASKED } from './onnx/decoder-graphs.js';
import { Safetensors } from './safetensors.js';

export interface LanguageModelOptions {
  /** Layers per block graph (1 = every layer its own graph). Default 4. */
  blockSize?: number;
  /** Threads onnxruntime may use inside one operator. Default: all. */
  threads?: number;
}

/** A layer index (0 = embeddings, l = output of layer l before the final norm) or 'final'. */
export type LayerRef = number | 'final';

interface Block {
  first: number;
  count: number;
  session: ort.InferenceSession;
}

export class LanguageModel {
  readonly config: DecoderConfig;
  readonly #embed: ort.InferenceSession;
  readonly #blocks: Block[];
  readonly #final: ort.InferenceSession;

  private constructor(config: DecoderConfig, embed: ort.InferenceSession, blocks: Block[], final: ort.InferenceSession) {
    this.config = config;
    this.#embed = embed;
    this.#blocks = blocks;
    this.#final = final;
  }

  static async load(dir: string, options: LanguageModelOptions = {}): Promise<LanguageModel> {
    const config = readConfig(dir);
    if (config.family !== 'decoder') {
      throw new LmrecError(`${dir}: BERT-style encoders are not supported by the ONNX runtime yet`, 'UNSUPPORTED');
    }
    const blockSize = options.blockSize ?? 4;
    if (!Number.isInteger(blockSize) || blockSize < 1) {
      throw new LmrecError(`blockSize must be an integer >= 1, got ${blockSize}`, 'INVALID_ARGUMENT');
    }
    const weights = decoderWeights(Safetensors.open(dir), config);
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      interOpNumThreads: 1,
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    };
    const create = (bytes: Uint8Array) => ort.InferenceSession.create(bytes, sessionOptions);
    const blocks: Block[] = [];
    for (let first = 0; first < config.layers; first += blockSize) {
      const count = Math.min(blockSize, config.layers - first);
      blocks.push({ first, count, session: await create(blockGraph(config, weights, first, count)) });
    }
    return new LanguageModel(config, await create(embeddingGraph(config, weights)), blocks, await create(finalGraph(config, weights, true)));
  }

  /**
   * Hidden states of one token sequence at the requested layers, in the order asked, each
   * [tokens x hidden] row-major. Runs the layers up to the deepest one requested.
   */
  async hiddenStates(ids: ArrayLike<number>, options: { layers: LayerRef[] }): Promise<Float32Array[]> {
    const L = this.config.layers;
    for (const l of options.layers) {
      if (l !== 'final' && !(Number.isInteger(l) && l >= 0 && l <= L)) {
        throw new LmrecError(`layer ${String(l)} does not exist: use 0..${L} or 'final'`, 'INVALID_ARGUMENT');
      }
    }
    const deepest = options.layers.reduce<number>((m, l) => Math.max(m, l === 'final' ? L : l), 0);
    const states = await this.#run(ids, deepest, options.layers.includes('final'), false);
    return options.layers.map((l) => states.get(l)!);
  }

  /** Logits at the last position, [vocab]. */
  async logits(ids: ArrayLike<number>): Promise<Float32Array> {
    const states = await this.#run(ids, this.config.layers, true, true);
    const logits = states.get('logits')!;
    const V = this.config.vocab;
    return logits.slice(logits.length - V);
  }

  async release(): Promise<void> {
    await Promise.all([this.#embed, this.#final, ...this.#blocks.map((b) => b.session)].map((s) => s.release()));
  }

  async #run(ids: ArrayLike<number>, deepest: number, final: boolean, logits: boolean): Promise<Map<LayerRef | 'logits', Float32Array>> {
    const T = ids.length;
    if (T === 0) throw new LmrecError('no tokens given', 'INVALID_ARGUMENT');
    const tokens = new BigInt64Array(T);
    for (let i = 0; i < T; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.config.vocab) {
        throw new LmrecError(`token id ${id} at position ${i} is outside the vocabulary (0..${this.config.vocab - 1})`, 'INVALID_ARGUMENT');
      }
      tokens[i] = BigInt(id);
    }
    const out = new Map<LayerRef | 'logits', Float32Array>();
    const embedded = await this.#embed.run({ input_ids: new ort.Tensor('int64', tokens, [1, T]) });
    let hidden = embedded.hidden!;
    out.set(0, hidden.data as Float32Array);
    const positions = new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, i) => BigInt(i)), [1, T]);
    const bias = new ort.Tensor('float32', causalBias(T), [1, 1, T, T]);
    for (const block of this.#blocks) {
      if (block.first >= deepest) break;
      const result = await block.session.run({ hidden, position_ids: positions, attention_bias: bias });
      for (let l = block.first + 1; l <= block.first + block.count; l++) out.set(l, result[`hidden_${l}`]!.data as Float32Array);
      hidden = result[`hidden_${block.first + block.count}`]!;
    }
    if (final) {
      const result = await this.#final.run({ hidden }, logits ? ['final', 'logits'] : ['final']);
      out.set('final', result.final!.data as Float32Array);
      if (logits) out.set('logits', result.logits!.data as Float32Array);
    }
    return out;
  }
}

/** Additive attention bias of a causal mask, [T x T]. */
export function causalBias(T: number): Float32Array {
  const bias = new Float32Array(T * T);
  for (let t = 0; t < T; t++) for (let s = t + 1; s < T; s++) bias[t * T + s] = MASKED;
  return bias;
}
