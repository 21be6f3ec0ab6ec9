/**
 * A LanguageModel's inputs made ready to run: texts tokenized (the JS thread given back every
 * few ms), every input checked against the vocabulary and the context before anything runs,
 * and sequences grouped into batches whose padded run fits the memory bound (maxBatchBytes).
 */
import { LmrecError } from '../errors.js';
import type { ModelConfig } from './config.js';
import { runBytes } from './run-memory.js';

/** Text (tokenized with the model's tokenizer.json) or token ids. */
export type ModelInput = string | ArrayLike<number>;

/** The longest the JS thread works on a call between yields (tokenizing). */
const YIELD_MS = 4;

export class RunInputs {
  readonly #config: ModelConfig;
  readonly #maxBatchBytes: number;
  readonly #tokenize: (text: string) => number[];

  constructor(config: ModelConfig, maxBatchBytes: number, tokenize: (text: string) => number[]) {
    this.#config = config;
    this.#maxBatchBytes = maxBatchBytes;
    this.#tokenize = tokenize;
  }

  /**
   * Token ids of each input, checked: each a string or token ids within the vocabulary, not
   * empty, and no longer than the model's context (or cut to it when `truncate`). Everything is
   * checked before anything runs.
   */
  prepare(inputs: readonly ModelInput[], truncate: boolean | undefined, single?: string): ArrayLike<number>[] {
    const { maxPositions: max, vocab } = this.#config;
    return inputs.map((input, i) => {
      const name = single ?? `input ${i}`;
      if (typeof input !== 'string' && !Array.isArray(input) && !(ArrayBuffer.isView(input) && !(input instanceof DataView))) {
        throw new LmrecError(`${name} must be a string or an array of token ids, got ${kindOf(input)}`, 'INVALID_ARGUMENT');
      }
      let ids: ArrayLike<number> = typeof input === 'string' ? this.#tokenize(input) : input;
      if (ids.length === 0) throw new LmrecError(`${name} has no tokens`, 'INVALID_ARGUMENT');
      if (ids.length > max) {
        if (!truncate) {
          throw new LmrecError(
            `${name} has ${ids.length} tokens, more than the model's context of ${max}: shorten it, or pass truncate: true to keep its first ${max}`,
            'INPUT_TOO_LONG',
          );
        }
        const all = ids;
        ids = Array.from({ length: max }, (_, t) => all[t]!);
      }
      for (let t = 0; t < ids.length; t++) {
        const id = ids[t]!;
        if (!Number.isInteger(id) || id < 0 || id >= vocab) {
          throw new LmrecError(`${name}: token id ${String(id)} at position ${t} is outside the vocabulary (0..${vocab - 1})`, 'INVALID_ARGUMENT');
        }
      }
      return ids;
    });
  }

  /**
   * The texts among `inputs` as token ids, the JS thread given back every few ms: tokenizing is
   * the part of a run left on it (~1.4 ms a 400-token text), and a batch of long texts would
   * otherwise hold it for ~0.1 s. Stops at the first input that is neither text nor ids, for
   * #prepare to refuse in order.
   */
  async tokenizeYielding(inputs: readonly ModelInput[]): Promise<ModelInput[]> {
    const out = [...inputs];
    let since = performance.now();
    for (let i = 0; i < out.length; i++) {
      const input = out[i];
      if (typeof input !== 'string') {
        if (Array.isArray(input) || (ArrayBuffer.isView(input) && !(input instanceof DataView))) continue;
        break;
      }
      out[i] = this.#tokenize(input);
      if (performance.now() - since > YIELD_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        since = performance.now();
      }
    }
    return out;
  }

  /** REQUEST_TOO_LARGE when one sequence of `tokens` cannot run within maxBatchBytes. */
  checkBudget(tokens: number, outputs: number, name: string, batch = 1): void {
    const bytes = runBytes(this.#config, { batch, tokens, outputs });
    if (bytes > this.#maxBatchBytes) {
      throw new LmrecError(
        `${name} (${batch > 1 ? `${batch} x ` : ''}${tokens} tokens) needs about ${mib(bytes)} in one run, more than maxBatchBytes (${mib(this.#maxBatchBytes)}): shorten it, or load the model with a larger maxBatchBytes`,
        'REQUEST_TOO_LARGE',
      );
    }
  }

  /**
   * Consecutive [start, end) batches of at most `batchSize` sequences whose padded run fits
   * maxBatchBytes (inputs keep their order; a batch is closed when the next input would not
   * fit). Checks every sequence alone first, so an impossible request fails before any run.
   */
  batches(seqs: ArrayLike<number>[], batchSize: number): [number, number][] {
    seqs.forEach((s, i) => this.checkBudget(s.length, 1, `input ${i}`));
    const batches: [number, number][] = [];
    let start = 0;
    let T = 0;
    for (let i = 0; i < seqs.length; i++) {
      const longest = Math.max(T, seqs[i]!.length);
      const fits = runBytes(this.#config, { batch: i - start + 1, tokens: longest, outputs: 1 }) <= this.#maxBatchBytes;
      if (i > start && (i - start === batchSize || !fits)) {
        batches.push([start, i]);
        start = i;
        T = seqs[i]!.length;
      } else {
        T = longest;
      }
    }
    if (seqs.length > start) batches.push([start, seqs.length]);
    return batches;
  }
}

/** What a wrong argument is, for messages. */
export function kindOf(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
