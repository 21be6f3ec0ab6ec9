/**
 * LanguageModel: a Hugging Face model directory (a Llama-style decoder or a BERT-style
 * encoder) run through onnxruntime-node as segmented graphs (embeddings, blocks of layers,
 * and for decoders the final norm + head), so any layer's hidden states are one call away and
 * a request runs only the layers it needs. The graphs are opened and run on onnxruntime's own
 * thread (src/lm/ort-worker.ts): a model at work leaves the JS thread free to serve.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { LmrecError } from '../errors.js';
import { parseOptions } from '../util/options.js';
import { native } from '../addon/loader.js';
import { readConfig, type ModelConfig } from './config.js';
import { decoderWeights } from './decoder-weights.js';
import { encoderWeights } from './encoder-weights.js';
import { defaultCacheDir, GraphCache, graphKey } from './graph-cache.js';
import { blockGraph, headGraph } from './onnx/decoder-graphs.js';
import { MASKED, type Precision } from './onnx/ops.js';
import { encoderBlockGraph } from './onnx/encoder-graphs.js';
import { OrtWorker, type ChainStep, type RemoteSession, type WireTensor } from './ort-worker.js';
import { kindOf, RunInputs, type ModelInput } from './run-inputs.js';
import { loadSchema, hiddenStatesSchema, logitsSchema, encodeSchema, encodeLayersSchema, type LanguageModelOptions, type LayerRef, type TruncateOptions, type HiddenStatesOptions, type LogitsOptions, type Pooling, type EncodeOptions, type EncodeLayersOptions } from './model-options.js';
import { Safetensors } from './safetensors.js';
import { loadTokenizer, type TextTokenizer } from './tokenizer.js';

export * from './model-options.js';

const DEFAULT_MAX_BATCH_BYTES = 2 ** 30;

/**
 * onnxruntime runs on its own thread (src/lm/ort-worker.ts), started on the first model load:
 * loading it costs ~0.25 s and ~70 MB, which users of the vector index alone should not pay on
 * `import 'lmrec'`, and its runs block the thread they run on.
 */
function onnxruntime(): Promise<OrtWorker> {
  return OrtWorker.shared();
}

/** onnxruntime's own failures as LmrecErrors. */
async function ortCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof LmrecError) throw e;
    const message = (e as Error).message;
    throw new LmrecError(`onnxruntime, ${what}: ${message}`, /bad_alloc|failed to allocate/i.test(message) ? 'OUT_OF_MEMORY' : 'INTERNAL');
  }
}

interface Block {
  first: number;
  count: number;
  /** Outputs the block's last layer only. */
  session: RemoteSession;
  /** Outputs every layer of the block; built on the first request for an inner layer. */
  everyLayer?: Promise<RemoteSession>;
}

type OpenSession = (name: string, make: () => Uint8Array) => Promise<RemoteSession>;

/**
 * A language model for hidden states, pooled vectors and next-token logits. Load one with
 * {@link LanguageModel.load}; free its native memory with {@link LanguageModel.close}.
 *
 * Every failure is an LmrecError, raised before anything runs: INVALID_ARGUMENT for a wrong
 * argument, option type or unknown option key; INPUT_TOO_LONG for an input past the model's
 * context (see {@link TruncateOptions}); REQUEST_TOO_LARGE for an input that cannot run
 * within `maxBatchBytes`; CLOSED after {@link LanguageModel.close}.
 */
/**
 * Running chosen layers on given inputs, for late interaction (src/lm/late-interaction.ts):
 * not part of the public API.
 */
export interface LayerAccess {
  /**
   * Layers (from, to] of a padded batch of B sequences of T tokens: from = 0 embeds `input`
   * (token ids per sequence), else `input` is hidden_from [B x T x H]. positions [B x T] and
   * an additive attention bias [B x T x T] (0 or MASKED) are the caller's. from and to must
   * be block boundaries. Returns hidden_to [B x T x H].
   */
  run(input: ArrayLike<number>[] | Float32Array, B: number, T: number, positions: BigInt64Array, bias: Float32Array, from: number, to: number): Promise<Float32Array>;
  /** Next-token logits [R x vocab] of R rows of last-layer states [R x H] (final norm, head). */
  head(rows: Float32Array, R: number): Promise<Float32Array>;
  /** The block boundaries (0, and each block's last layer). */
  boundaries(): number[];
}

let access: (lm: LanguageModel) => LayerAccess;

/** The layer runner of a model (see {@link LayerAccess}). */
export function layerAccess(lm: LanguageModel): LayerAccess {
  return access(lm);
}

export class LanguageModel {
  static {
    access = (lm) => ({
      run: (input, B, T, positions, bias, from, to) => lm.#use(() => lm.#runLayers(input, B, T, positions, bias, from, to)),
      head: (rows, R) => lm.#use(() => lm.#headLogits(rows, R)),
      boundaries: () => [0, ...lm.#blocks.map((b) => b.first + b.count)],
    });
  }

  /** The model's shape, read from its config.json. */
  readonly config: ModelConfig;
  readonly #dir: string;
  readonly #ort: OrtWorker;
  readonly #tokenizer: TextTokenizer | undefined;
  readonly #inputs: RunInputs;
  // The first block embeds the tokens, and a decoder's last block applies the final norm.
  readonly #blocks: Block[];
  // decoders: the final norm + LM head (its own graph: onnxruntime computes every node of a
  // graph whatever is fetched, and the head is the costliest product for encode)
  readonly #head: RemoteSession | undefined;
  readonly #open: OpenSession;
  // A factory, not the builders: builders keep the decoded weights alive once used.
  readonly #builders: () => GraphBuilders;
  // calls running now: close() waits for them before it frees their sessions
  readonly #running = new Set<Promise<unknown>>();
  #closed = false;

  private constructor(
    dir: string,
    ort: OrtWorker,
    config: ModelConfig,
    tokenizer: TextTokenizer | undefined,
    maxBatchBytes: number,
    blocks: Block[],
    head: RemoteSession | undefined,
    open: OpenSession,
    builders: () => GraphBuilders,
  ) {
    this.#dir = dir;
    this.#ort = ort;
    this.config = config;
    this.#tokenizer = tokenizer;
    this.#inputs = new RunInputs(config, maxBatchBytes, (text) => this.tokenize(text));
    this.#blocks = blocks;
    this.#head = head;
    this.#open = open;
    this.#builders = builders;
  }

  /**
   * Loads a Hugging Face model directory (`config.json`, `model.safetensors` or its shards,
   * optionally `tokenizer.json`) and opens its graphs, built or read from the graph cache.
   * @param dir The model directory.
   * @param options Graph blocks, threads, precision, graph cache and memory bound (see LanguageModelOptions).
   */
  static async load(dir: string, options?: LanguageModelOptions): Promise<LanguageModel> {
    if (typeof dir !== 'string' || dir === '') {
      throw new LmrecError(`LanguageModel.load needs a model directory, got ${kindOf(dir)}`, 'INVALID_ARGUMENT');
    }
    const o = parseOptions(loadSchema, options, 'LanguageModel.load');
    const blockSize = o.blockSize ?? 4;
    const precision = o.precision ?? 'fp32';
    const config = readConfig(dir);
    const cache =
      o.cacheDir === false ? undefined : new GraphCache(o.cacheDir ?? defaultCacheDir(), await graphKey(dir, { precision, blockSize }));
    const ort = await onnxruntime();
    const sessionOptions = lmSessionOptions(o.threads, o.memoryArena);
    // opened on onnxruntime's thread: building a session blocks the thread it runs on too
    const create = (source: string | Uint8Array) => ortCall('opening a graph', () => ort.createSession(source, sessionOptions));
    // Weights are decoded only when a graph has to be built.
    const build = graphBuilders(dir, config, precision);
    const session: OpenSession = async (name, make) => {
      if (cache?.has(name)) {
        try {
          return await create(cache.path(name));
        } catch {
          // a damaged cache file: rebuilt below
        }
      }
      const bytes = make();
      cache?.write(name, bytes);
      return create(bytes);
    };
    const opened: RemoteSession[] = [];
    try {
      const blocks: Block[] = [];
      for (let first = 0; first < config.layers; first += blockSize) {
        const count = Math.min(blockSize, config.layers - first);
        const s = await session(`layers_${first}_${count}`, () => build.block(first, count));
        opened.push(s);
        blocks.push({ first, count, session: s });
      }
      const head = build.head ? await session('head', build.head) : undefined;
      if (head) opened.push(head);
      const tokenizer = loadTokenizer(dir);
      const maxBatchBytes = o.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
      return new LanguageModel(dir, ort, config, tokenizer, maxBatchBytes, blocks, head, session, () => graphBuilders(dir, config, precision));
    } catch (e) {
      await Promise.all(opened.map((s) => ort.release(s)));
      throw e;
    }
  }

  /**
   * Token ids of a text, with the model's tokenizer (NO_TOKENIZER without a tokenizer.json).
   * @param text The text to tokenize.
   */
  tokenize(text: string): number[] {
    this.#checkOpen();
    if (typeof text !== 'string') throw new LmrecError(`tokenize needs a string, got ${kindOf(text)}`, 'INVALID_ARGUMENT');
    if (!this.#tokenizer) {
      throw new LmrecError(`'${this.#dir}' has no tokenizer.json: pass token ids, or add the model's tokenizer.json`, 'NO_TOKENIZER');
    }
    return this.#tokenizer.encode(text);
  }

  /**
   * Hidden states of one input at the requested layers (default `['final']`), in the order
   * asked, each [tokens x hidden] row-major. Runs the layers up to the deepest one requested.
   * @param input Text, or token ids.
   * @param options The layers to return, and whether a long input is truncated.
   */
  hiddenStates(input: ModelInput, options?: HiddenStatesOptions): Promise<Float32Array[]> {
    return this.#use(async () => {
      const o = parseOptions(hiddenStatesSchema, options, 'hiddenStates');
      const layers = o.layers ?? ['final'];
      this.#deepest(layers);
      const [ids] = this.#inputs.prepare([input], o.truncate, 'the input');
      const outputs = new Set(layers).size;
      this.#inputs.checkBudget(ids!.length, outputs, 'the input');
      const states = await this.#run([ids!], layers);
      return layers.map((l) => states.get(l)!);
    });
  }

  /**
   * A decoder's next-token logits after the input's last token (after the last kept one when truncated), [vocab].
   * @param input Text, or token ids.
   * @param options Whether an input longer than the context is truncated (else INPUT_TOO_LONG).
   */
  logits(input: ModelInput, options?: LogitsOptions): Promise<Float32Array> {
    return this.#use(async () => {
      const o = parseOptions(logitsSchema, options, 'logits');
      const head = this.#head;
      if (!head) throw new LmrecError(`'${this.#dir}' is an encoder: it has no language-model head`, 'UNSUPPORTED');
      const [ids] = this.#inputs.prepare([input], o.truncate, 'the input');
      const T = ids!.length;
      this.#inputs.checkBudget(T, 1, 'the input');
      const L = this.config.layers;
      const states = (await this.#run([ids!], [L])).get(L)!;
      // the head only needs the last position: logits for every position would be T x vocab
      const H = this.config.hidden;
      const hidden: WireTensor = { type: 'float32', data: states.slice((T - 1) * H), dims: [1, 1, H] };
      const result = await ortCall('running the head', () => this.#ort.run([{ session: head, fetches: ['logits'], keep: ['logits'] }], { hidden }, ['hidden']));
      return result.logits!;
    });
  }

  /**
   * One vector per input: the layer's states pooled over each sequence's tokens. Inputs are
   * run in padded batches (padding is masked out of attention and pooling), no larger than
   * `batchSize` nor than `maxBatchBytes` allows. An empty `inputs` gives [].
   * @param inputs Texts or token-id arrays, one vector each.
   * @param options The layer, pooling, normalisation, batch size and truncation.
   */
  encode(inputs: readonly ModelInput[], options?: EncodeOptions): Promise<Float32Array[]> {
    return this.#use(async () => {
      const o = parseOptions(encodeSchema, options, 'encode');
      return (await this.#encodeLayers(inputs, [o.layer ?? 'final'], o))[0]!;
    });
  }

  /**
   * The same for several layers in one pass (a layer sweep): one array per layer, in the
   * order asked, each holding one vector per input. Only the layers up to the deepest run.
   * @param inputs Texts or token-id arrays.
   * @param options The layers (required), and encode's other options.
   */
  encodeLayers(inputs: readonly ModelInput[], options: EncodeLayersOptions): Promise<Float32Array[][]> {
    return this.#use(async () => {
      const o = parseOptions(encodeLayersSchema, options, 'encodeLayers');
      return this.#encodeLayers(inputs, o.layers, o);
    });
  }

  async #encodeLayers(inputs: readonly ModelInput[], layers: LayerRef[], o: Omit<EncodeOptions, 'layer'>): Promise<Float32Array[][]> {
    if (!Array.isArray(inputs)) throw new LmrecError(`encode needs an array of inputs, got ${kindOf(inputs)}`, 'INVALID_ARGUMENT');
    this.#deepest(layers);
    const pooling = o.pooling ?? 'mean';
    if ((pooling === 'marker') !== (o.marker !== undefined)) {
      throw new LmrecError("encode: 'marker' is the token id of pooling 'marker': give both or neither", 'INVALID_ARGUMENT');
    }
    if (pooling === 'cls' && this.config.family === 'decoder') {
      throw new LmrecError("encode: pooling 'cls' takes the first token, which a decoder's causal attention keeps blind to the rest: use 'last' or 'mean'", 'INVALID_ARGUMENT');
    }
    const seqs = this.#inputs.prepare(await this.#inputs.tokenizeYielding(inputs), o.truncate);
    const H = this.config.hidden;
    const out: Float32Array[][] = layers.map(() => []);
    for (const [start, end] of this.#inputs.batches(seqs, o.batchSize ?? 16)) {
      const batch = seqs.slice(start, end);
      const states = await this.#run(batch, layers);
      const T = Math.max(...batch.map((s) => s.length));
      layers.forEach((layer, li) => {
        const hidden = states.get(layer)!;
        batch.forEach((ids, i) => {
          const v = pool(hidden.subarray(i * T * H, (i + 1) * T * H), ids, H, pooling, o.marker, start + i);
          if (o.normalize) {
            const norm = Math.hypot(...v);
            if (norm > 0) for (let h = 0; h < H; h++) v[h] = v[h]! / norm;
          }
          out[li]!.push(v);
        });
      });
    }
    return out;
  }

  /**
   * Frees the model's native memory (its onnxruntime sessions), after the calls already
   * running finish. Any use afterwards is CLOSED; closing again does nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#running]);
    const everyLayer = await Promise.allSettled(this.#blocks.flatMap((b) => (b.everyLayer ? [b.everyLayer] : [])));
    const sessions = [
      ...this.#blocks.map((b) => b.session),
      ...everyLayer.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
      ...(this.#head ? [this.#head] : []),
    ];
    await Promise.all(sessions.map((s) => this.#ort.release(s)));
  }

  #checkOpen(): void {
    if (this.#closed) throw new LmrecError(`the model '${this.#dir}' is closed`, 'CLOSED');
  }

  /** Runs a call unless the model is closed, and lets close() wait for it. */
  #use<T>(call: () => Promise<T>): Promise<T> {
    try {
      this.#checkOpen();
    } catch (e) {
      return Promise.reject(e);
    }
    const p = call();
    this.#running.add(p);
    const forget = () => this.#running.delete(p);
    p.then(forget, forget);
    return p;
  }

  async #runLayers(input: ArrayLike<number>[] | Float32Array, B: number, T: number, positions: BigInt64Array, bias: Float32Array, from: number, to: number): Promise<Float32Array> {
    const H = this.config.hidden;
    const blocks = this.#blocks.filter((b) => b.first >= from && b.first + b.count <= to);
    if (blocks[0]?.first !== from || blocks.at(-1)!.first + blocks.at(-1)!.count !== to) {
      throw new LmrecError(`layers ${from}..${to} do not fall on the model's block boundaries (${[0, ...this.#blocks.map((b) => b.first + b.count)].join(', ')}): load it with a blockSize that divides the split layer`, 'INVALID_ARGUMENT');
    }
    this.#inputs.checkBudget(T, 1, 'the segments', B);
    // positions, bias and hidden states are the caller's: copied to onnxruntime's thread
    const inputs: Record<string, WireTensor> = {
      position_ids: { type: 'int64', data: positions, dims: [B, T] },
      attention_bias: { type: 'float32', data: bias, dims: [B, 1, T, T] },
    };
    if (from === 0) {
      const ids = new BigInt64Array(B * T);
      (input as ArrayLike<number>[]).forEach((seq, b) => {
        for (let t = 0; t < seq.length; t++) ids[b * T + t] = BigInt(seq[t]!);
      });
      inputs.input_ids = { type: 'int64', data: ids, dims: [B, T] };
    } else {
      inputs.hidden = { type: 'float32', data: input as Float32Array, dims: [B, T, H] };
    }
    const out = `hidden_${to}`;
    const steps: ChainStep[] = blocks.map((block) => ({ session: block.session, fetches: [`hidden_${block.first + block.count}`], keep: block.first + block.count === to ? [out] : [] }));
    return (await ortCall('running a block', () => this.#ort.run(steps, inputs, from === 0 ? ['input_ids'] : [])))[out]!;
  }

  async #headLogits(rows: Float32Array, R: number): Promise<Float32Array> {
    const head = this.#head;
    if (!head) throw new LmrecError(`'${this.#dir}' is an encoder: it has no language-model head`, 'UNSUPPORTED');
    const hidden: WireTensor = { type: 'float32', data: rows, dims: [1, R, this.config.hidden] };
    return (await ortCall('running the head', () => this.#ort.run([{ session: head, fetches: ['logits'], keep: ['logits'] }], { hidden })))['logits']!;
  }

  /** The block's every-layer session, built (or read from the cache) on first use. */
  #everyLayer(block: Block): Promise<RemoteSession> {
    block.everyLayer ??= this.#open(`layers_${block.first}_${block.count}_all`, () =>
      this.#builders().block(block.first, block.count, true),
    );
    return block.everyLayer;
  }

  /** The deepest layer a request needs; INVALID_ARGUMENT for a layer the model does not have. */
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
   * Runs checked sequences (right-padded to the longest) up to the deepest layer `wanted`.
   * States come back as [batch x tokens x hidden].
   */
  async #run(seqs: ArrayLike<number>[], wanted: LayerRef[]): Promise<Map<LayerRef, Float32Array>> {
    const deepest = this.#deepest(wanted);
    const B = seqs.length;
    const T = Math.max(...seqs.map((s) => s.length));
    const tokens = new BigInt64Array(B * T);
    const positions = new BigInt64Array(B * T);
    seqs.forEach((ids, b) => {
      for (let t = 0; t < ids.length; t++) {
        tokens[b * T + t] = BigInt(ids[t]!);
        positions[b * T + t] = BigInt(t);
      }
    });
    const lengths = seqs.map((s) => s.length);
    // made for this call: given to onnxruntime's thread, not copied
    const inputs: Record<string, WireTensor> = {
      input_ids: { type: 'int64', data: tokens, dims: [B, T] },
      position_ids: { type: 'int64', data: positions, dims: [B, T] },
      attention_bias: { type: 'float32', data: attentionBias(lengths, T, this.config.family === 'decoder'), dims: [B, 1, T, T] },
    };
    const L = this.config.layers;
    // decoders: 'final' is the last block's normed output; encoders end normalized, so it is layer L
    const finalOutput = wanted.includes('final') ? (this.#head ? 'final' : `hidden_${L}`) : undefined;
    // every block runs in one chain on onnxruntime's thread, each fed the previous one's output
    const steps: ChainStep[] = [];
    for (const block of this.#blocks) {
      if (block.first > 0 && block.first >= deepest) break; // the first block always runs: it embeds
      // fetch only the block's last layer and the layers asked for (every fetched output is
      // copied out of onnxruntime); inner layers need the block's every-layer variant
      const last = block.first + block.count;
      const fetch = [`hidden_${last}`];
      // (hidden_<first> is the previous block's output, except the first block's embeddings)
      for (let l = block.first === 0 ? 0 : block.first + 1; l < last; l++) if (wanted.includes(l)) fetch.push(`hidden_${l}`);
      const session = fetch.length > 1 ? await this.#everyLayer(block) : block.session;
      if (last === L && finalOutput === 'final') fetch.push('final');
      // only the states asked for come back
      const keep = fetch.filter((name) => name === finalOutput || (name !== 'final' && wanted.includes(Number(name.slice(7)))));
      steps.push({ session, fetches: fetch, keep });
    }
    const result = await ortCall('running a block', () => this.#ort.run(steps, inputs, ['input_ids', 'position_ids', 'attention_bias']));
    const out = new Map<LayerRef, Float32Array>();
    for (const [name, data] of Object.entries(result)) {
      if (name === finalOutput) out.set('final', data);
      if (name !== 'final') out.set(Number(name.slice(7)), data);
    }
    return out;
  }
}


/**
 * One sequence's states [T x H] pooled to a vector: the mean over its tokens (a native
 * GEMV: in JS this loop cost 0.5-0.7 ms per small batch), its first or last token, or the
 * last occurrence of the marker token.
 */
function pool(hidden: Float32Array, ids: ArrayLike<number>, H: number, pooling: Pooling, marker: number | undefined, input: number): Float32Array {
  if (pooling === 'mean') {
    const n = ids.length;
    const v = new Float32Array(H);
    native.sgemm(undefined, 1, H, n, 1 / n, new Float32Array(n).fill(1), false, hidden.subarray(0, n * H), false, 0, v, 1);
    return v;
  }
  let t = pooling === 'cls' ? 0 : ids.length - 1;
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
 * No memory arena by default: each session's arena kept its largest run's memory for good, so
 * a model of n blocks held up to n times maxBatchBytes after one long input (6 one-layer
 * blocks at 1,024 tokens: 210 MB kept, 22 MB without). In bench:lm's interleaved rounds, int8
 * blocks ran 1.15x (Qwen2.5-0.5B shape) and 1.09x (MiniLM shape) faster without it.
 */
export function lmSessionOptions(threads?: number, memoryArena = false): InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    enableCpuMemArena: memoryArena,
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
