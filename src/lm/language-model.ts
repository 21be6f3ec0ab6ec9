/**
 * LanguageModel: a Hugging Face model directory (a Llama-style decoder or a BERT-style
 * encoder) run through onnxruntime-node as segmented graphs (embeddings, blocks of layers,
 * and for decoders the final norm + head), so any layer's hidden states are one call away and
 * a request runs only the layers it needs.
 */
import ort from 'onnxruntime-node';
import { LmrecError } from '../errors.js';
import { native } from '../native.js';
import { readConfig, type ModelConfig } from './config.js';
import { decoderWeights } from './decoder-weights.js';
import { encoderWeights } from './encoder-weights.js';
import { defaultCacheDir, GraphCache, graphKey } from './graph-cache.js';
import { blockGraph, headGraph } from './onnx/decoder-graphs.js';
import { MASKED, type Precision } from './onnx/ops.js';
import { encoderBlockGraph } from './onnx/encoder-graphs.js';
import { Safetensors } from './safetensors.js';
import { loadTokenizer, type TextTokenizer } from './tokenizer.js';

export interface LanguageModelOptions {
  /** Layers per block graph (1 = every layer its own graph). Default 4. */
  blockSize?: number;
  /** Threads onnxruntime may use inside one operator. Default: all. */
  threads?: number;
  /** Matrix products in 'fp32' (default) or 'int8' (int8 weights per output channel, activations quantized per call). */
  precision?: Precision;
  /** Where built graphs are kept (default ~/.cache/lmrec/graphs); false builds them every time. */
  cacheDir?: string | false;
}

/** A layer index (0 = embeddings, l = output of layer l before the final norm) or 'final'. */
export type LayerRef = number | 'final';

/** Text (tokenized with the model's tokenizer.json) or token ids. */
export type ModelInput = string | ArrayLike<number>;

export interface EncodeOptions {
  /** Which layer's states to pool (default 'final'). Only the layers up to it run. */
  layer?: LayerRef;
  /** 'mean' over tokens (default), the 'last' token, or the last occurrence of `marker`. */
  pooling?: 'mean' | 'last' | 'marker';
  /** Token id whose state 'marker' pooling takes. */
  marker?: number;
  /** L2-normalize each vector. */
  normalize?: boolean;
  /** Sequences run together, padded to the longest (default 16). */
  batchSize?: number;
}

interface Block {
  first: number;
  count: number;
  /** Outputs the block's last layer only. */
  session: ort.InferenceSession;
  /** Outputs every layer of the block; built on the first request for an inner layer. */
  everyLayer?: Promise<ort.InferenceSession>;
}

type OpenSession = (name: string, make: () => Uint8Array) => Promise<ort.InferenceSession>;

export class LanguageModel {
  readonly config: ModelConfig;
  readonly #dir: string;
  readonly #tokenizer: TextTokenizer | undefined;
  // The first block embeds the tokens, and a decoder's last block applies the final norm.
  readonly #blocks: Block[];
  // decoders: the final norm + LM head (its own graph: onnxruntime computes every node of a
  // graph whatever is fetched, and the head is the costliest product for encode)
  readonly #head: ort.InferenceSession | undefined;
  readonly #open: OpenSession;
  // A factory, not the builders: builders keep the decoded weights alive once used.
  readonly #builders: () => GraphBuilders;

  private constructor(
    dir: string,
    config: ModelConfig,
    tokenizer: TextTokenizer | undefined,
    blocks: Block[],
    head: ort.InferenceSession | undefined,
    open: OpenSession,
    builders: () => GraphBuilders,
  ) {
    this.#dir = dir;
    this.config = config;
    this.#tokenizer = tokenizer;
    this.#blocks = blocks;
    this.#head = head;
    this.#open = open;
    this.#builders = builders;
  }

  static async load(dir: string, options: LanguageModelOptions = {}): Promise<LanguageModel> {
    const config = readConfig(dir);
    const blockSize = options.blockSize ?? 4;
    if (!Number.isInteger(blockSize) || blockSize < 1) {
      throw new LmrecError(`blockSize must be an integer >= 1, got ${blockSize}`, 'INVALID_ARGUMENT');
    }
    const precision = options.precision ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'int8') {
      throw new LmrecError(`precision must be 'fp32' or 'int8', got '${String(precision)}'`, 'INVALID_ARGUMENT');
    }
    const sessionOptions = lmSessionOptions(options.threads);
    const cache =
      options.cacheDir === false
        ? undefined
        : new GraphCache(options.cacheDir ?? defaultCacheDir(), await graphKey(dir, { precision, blockSize }));
    // Weights are decoded only when a graph has to be built.
    const build = graphBuilders(dir, config, precision);
    const session: OpenSession = async (name, make) => {
      if (cache?.has(name)) {
        try {
          return await ort.InferenceSession.create(cache.path(name), sessionOptions);
        } catch {
          // a damaged cache file: rebuilt below
        }
      }
      const bytes = make();
      cache?.write(name, bytes);
      return ort.InferenceSession.create(bytes, sessionOptions);
    };
    const blocks: Block[] = [];
    for (let first = 0; first < config.layers; first += blockSize) {
      const count = Math.min(blockSize, config.layers - first);
      blocks.push({ first, count, session: await session(`layers_${first}_${count}`, () => build.block(first, count)) });
    }
    const head = build.head ? await session('head', build.head) : undefined;
    const tokenizer = loadTokenizer(dir);
    return new LanguageModel(dir, config, tokenizer, blocks, head, session, () => graphBuilders(dir, config, precision));
  }

  /** Token ids of a text, with the model's tokenizer. */
  tokenize(text: string): number[] {
    if (!this.#tokenizer) {
      throw new LmrecError(`'${this.#dir}' has no tokenizer.json: pass token ids, or add the model's tokenizer.json`, 'NO_TOKENIZER');
    }
    return this.#tokenizer.encode(text);
  }

  #ids(input: ModelInput): ArrayLike<number> {
    return typeof input === 'string' ? this.tokenize(input) : input;
  }

  /**
   * Hidden states of one token sequence at the requested layers, in the order asked, each
   * [tokens x hidden] row-major. Runs the layers up to the deepest one requested.
   */
  async hiddenStates(input: ModelInput, options: { layers: LayerRef[] }): Promise<Float32Array[]> {
    const states = await this.#run([this.#ids(input)], options.layers, false);
    return options.layers.map((l) => states.get(l)!);
  }

  /** Logits at the last position, [vocab]. */
  async logits(input: ModelInput): Promise<Float32Array> {
    if (!this.#head) throw new LmrecError(`'${this.#dir}' is an encoder: it has no language-model head`, 'UNSUPPORTED');
    const states = await this.#run([this.#ids(input)], ['final'], true);
    const logits = states.get('logits')!;
    const V = this.config.vocab;
    return logits.slice(logits.length - V);
  }

  async release(): Promise<void> {
    const everyLayer = await Promise.all(this.#blocks.flatMap((b) => (b.everyLayer ? [b.everyLayer] : [])));
    const sessions = [...this.#blocks.map((b) => b.session), ...everyLayer, ...(this.#head ? [this.#head] : [])];
    await Promise.all(sessions.map((s) => s.release()));
  }

  /** The block's every-layer session, built (or read from the cache) on first use. */
  #everyLayer(block: Block): Promise<ort.InferenceSession> {
    block.everyLayer ??= this.#open(`layers_${block.first}_${block.count}_all`, () =>
      this.#builders().block(block.first, block.count, true),
    );
    return block.everyLayer;
  }

  /**
   * One vector per input: the layer's states pooled over each sequence's tokens. Inputs are
   * run in padded batches; padding is masked out of attention and pooling.
   */
  async encode(inputs: ModelInput[], options: EncodeOptions = {}): Promise<Float32Array[]> {
    const layer = options.layer ?? 'final';
    this.#deepest([layer]);
    const pooling = options.pooling ?? 'mean';
    if (pooling === 'marker' && !Number.isInteger(options.marker)) {
      throw new LmrecError("pooling 'marker' needs the marker token id", 'INVALID_ARGUMENT');
    }
    const batchSize = options.batchSize ?? 16;
    const H = this.config.hidden;
    const out: Float32Array[] = [];
    for (let b0 = 0; b0 < inputs.length; b0 += batchSize) {
      const batch = inputs.slice(b0, b0 + batchSize).map((x) => this.#ids(x));
      const states = await this.#run(batch, [layer], false);
      const hidden = states.get(layer)!;
      const T = Math.max(...batch.map((s) => s.length));
      batch.forEach((ids, i) => {
        const v = pool(hidden.subarray(i * T * H, (i + 1) * T * H), ids, H, pooling, options.marker, b0 + i);
        if (options.normalize) {
          const norm = Math.hypot(...v);
          if (norm > 0) for (let h = 0; h < H; h++) v[h] = v[h]! / norm;
        }
        out.push(v);
      });
    }
    return out;
  }

  /** The deepest layer a request needs; throws for a layer the model does not have. */
  #deepest(layers: LayerRef[]): number {
    const L = this.config.layers;
    let deepest = 0;
    for (const l of layers) {
      if (l !== 'final' && !(Number.isInteger(l) && l >= 0 && l <= L)) {
        throw new LmrecError(`layer ${String(l)} does not exist: use 0..${L} or 'final'`, 'INVALID_ARGUMENT');
      }
      deepest = Math.max(deepest, l === 'final' ? L : l);
    }
    return deepest;
  }

  /**
   * Runs sequences (right-padded to the longest) up to the deepest layer `wanted`, and the
   * final norm (and head) when asked. States come back as [batch x tokens x hidden].
   */
  async #run(seqs: ArrayLike<number>[], wanted: LayerRef[], logits: boolean): Promise<Map<LayerRef | 'logits', Float32Array>> {
    const deepest = this.#deepest(wanted);
    const final = wanted.includes('final');
    const B = seqs.length;
    const T = Math.max(0, ...seqs.map((s) => s.length));
    if (this.config.family === 'encoder' && T > this.config.maxPositions) {
      throw new LmrecError(`an input of ${T} tokens is longer than the model's ${this.config.maxPositions} positions`, 'INVALID_ARGUMENT');
    }
    const tokens = new BigInt64Array(B * T);
    const positions = new BigInt64Array(B * T);
    seqs.forEach((ids, b) => {
      if (ids.length === 0) throw new LmrecError(`input ${b} has no tokens`, 'INVALID_ARGUMENT');
      for (let t = 0; t < ids.length; t++) {
        const id = ids[t]!;
        if (!Number.isInteger(id) || id < 0 || id >= this.config.vocab) {
          throw new LmrecError(`token id ${id} at position ${t} is outside the vocabulary (0..${this.config.vocab - 1})`, 'INVALID_ARGUMENT');
        }
        tokens[b * T + t] = BigInt(id);
        positions[b * T + t] = BigInt(t);
      }
    });
    const out = new Map<LayerRef | 'logits', Float32Array>();
    const lengths = seqs.map((s) => s.length);
    const inputs: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', tokens, [B, T]),
      position_ids: new ort.Tensor('int64', positions, [B, T]),
      attention_bias: new ort.Tensor('float32', attentionBias(lengths, T, this.config.family === 'decoder'), [B, 1, T, T]),
    };
    // each graph takes the inputs it declares
    const feeds = (session: ort.InferenceSession, extra: Record<string, ort.Tensor>) =>
      Object.fromEntries(session.inputNames.map((name) => [name, extra[name] ?? inputs[name]!]));
    const L = this.config.layers;
    let hidden: ort.Tensor | undefined;
    for (const block of this.#blocks) {
      if (block.first > 0 && block.first >= deepest) break; // the first block always runs: it embeds
      // fetch only the block's last layer and the layers asked for (every fetched output is
      // copied out of onnxruntime); inner layers need the block's every-layer variant
      const last = block.first + block.count;
      const fetch = [`hidden_${last}`];
      // (hidden_<first> is the previous block's output, except the first block's embeddings)
      for (let l = block.first === 0 ? 0 : block.first + 1; l < last; l++) if (wanted.includes(l)) fetch.push(`hidden_${l}`);
      const session = fetch.length > 1 ? await this.#everyLayer(block) : block.session;
      if (last === L && final && !logits && session.outputNames.includes('final')) fetch.push('final');
      const result = await session.run(feeds(session, hidden ? { hidden } : {}), fetch);
      for (const name of fetch) out.set(name === 'final' ? 'final' : Number(name.slice(7)), result[name]!.data as Float32Array);
      hidden = result[`hidden_${last}`]!;
    }
    if (final && !out.has('final')) {
      if (!this.#head) {
        out.set('final', hidden!.data as Float32Array); // encoders end normalized
      } else {
        const result = await this.#head.run({ hidden: hidden! });
        out.set('final', result.final!.data as Float32Array);
        if (logits) out.set('logits', result.logits!.data as Float32Array);
      }
    }
    return out;
  }
}

/**
 * One sequence's states [T x H] pooled to a vector: the mean over its tokens (a native
 * GEMV: in JS this loop cost 0.5-0.7 ms per small batch), its last token, or the last
 * occurrence of the marker token.
 */
function pool(hidden: Float32Array, ids: ArrayLike<number>, H: number, pooling: 'mean' | 'last' | 'marker', marker: number | undefined, input: number): Float32Array {
  if (pooling === 'mean') {
    const n = ids.length;
    const v = new Float32Array(H);
    native.sgemm(undefined, 1, H, n, 1 / n, new Float32Array(n).fill(1), false, hidden.subarray(0, n * H), false, 0, v, 1);
    return v;
  }
  let t = ids.length - 1;
  if (pooling === 'marker') {
    while (t >= 0 && ids[t] !== marker) t--;
    if (t < 0) throw new LmrecError(`input ${input} does not contain the marker token ${marker}`, 'INVALID_ARGUMENT');
  }
  return hidden.slice(t * H, (t + 1) * H);
}

/**
 * Options for every session of a model. Each session has its own intra-op thread pool. Its
 * threads spin between the ops of a run (waking sleeping threads for every op cost up to 20%
 * on small models) but stop spinning when the run ends (`force_spinning_stop`): spinning
 * threads of one session otherwise steal the cores from the next one in the chain, which
 * made segmented runs up to 2x slower. Measured against no spinning at all: 1.02-1.23x faster.
 */
export function lmSessionOptions(threads?: number): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    interOpNumThreads: 1,
    ...(threads ? { intraOpNumThreads: threads } : {}),
    extra: { session: { force_spinning_stop: '1', intra_op: { allow_spinning: '1' } } },
  };
}

/**
 * Additive attention bias for right-padded sequences, [B x T x T]: token t of sequence b may
 * attend to the tokens s within its length (and, when causal, only s <= t). Padding rows
 * attend to themselves only, so they stay finite (their states are never used).
 */
export function attentionBias(lengths: number[], T: number, causal = true): Float32Array {
  const bias = new Float32Array(lengths.length * T * T).fill(MASKED);
  lengths.forEach((len, b) => {
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < (causal ? t + 1 : T); s++) if (s < len || s === t) bias[(b * T + t) * T + s] = 0;
    }
  });
  return bias;
}

interface GraphBuilders {
  block: (first: number, count: number, everyLayer?: boolean) => Uint8Array;
  head?: () => Uint8Array;
}

/** Builders of one model's graphs; weights are decoded once, on first use. */
function graphBuilders(dir: string, config: ModelConfig, precision: Precision): GraphBuilders {
  if (config.family === 'encoder') {
    let w: ReturnType<typeof encoderWeights> | undefined;
    const weights = () => (w ??= encoderWeights(Safetensors.open(dir), config));
    return {
      block: (first, count, everyLayer) => encoderBlockGraph(config, weights(), first, count, precision, everyLayer),
    };
  }
  let w: ReturnType<typeof decoderWeights> | undefined;
  const weights = () => (w ??= decoderWeights(Safetensors.open(dir), config));
  return {
    block: (first, count, everyLayer) => blockGraph(config, weights(), first, count, precision, everyLayer),
    head: () => headGraph(config, weights(), precision),
  };
}
