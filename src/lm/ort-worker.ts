/**
 * onnxruntime off the JS thread. onnxruntime-node's `session.run` returns a promise but runs
 * the graph synchronously on the calling thread (1.30: its backend calls the binding's
 * synchronous `run` inside a setImmediate), and so does opening a session: on the JS thread,
 * every request of a server waits for each run (an item's encode: 0.35-0.6 s a block under
 * load). One worker thread per process owns every LanguageModel's sessions instead; the JS
 * thread sends it a chain of runs and gets the fetched outputs back.
 *
 *  - A chain is several sessions run in order, each fed the chain's inputs by name and, for an
 *    input named 'hidden', the previous run's first fetched output: a model's blocks run in one
 *    message, and the states between blocks never cross threads.
 *  - Inputs the caller owns are copied to the worker; those made for the call are transferred
 *    (no copy), as are the outputs coming back.
 *  - The worker is shared (onnxruntime is loaded once per process, as on the JS thread before)
 *    and started on the first model load; it holds the process open only while a call is
 *    pending. If it dies, pending and later calls of its sessions fail INTERNAL, and the next
 *    model load starts a new one.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { LmrecError } from '../errors.js';

/** A tensor as sent to the worker. */
export interface WireTensor {
  type: 'int64' | 'float32';
  data: BigInt64Array | Float32Array;
  dims: number[];
}

/** One run of a chain: `fetches[0]` feeds the next run's 'hidden'; `keep` are the outputs returned. */
export interface ChainStep {
  session: RemoteSession;
  fetches: string[];
  keep: string[];
}

/** A session the worker owns. */
export interface RemoteSession {
  readonly id: number;
  readonly inputNames: readonly string[];
  readonly worker: OrtWorker;
}

type Reply = { id: number; value?: unknown; error?: string };

// CommonJS, evaluated by the worker (no file to resolve: the same from src/ under tsx or
// vitest and from dist/); it requires onnxruntime-node by the path resolved here.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let ort;
try {
  ort = require(workerData.ort);
  parentPort.postMessage({ id: 0, value: true });
} catch (e) {
  parentPort.postMessage({ id: 0, error: String((e && e.message) || e) });
}
const sessions = new Map();
const message = (e) => String((e && e.message) || e);
parentPort.on('message', async (m) => {
  try {
    if (m.op === 'create') {
      const s = await ort.InferenceSession.create(m.source, m.options);
      sessions.set(m.session, s);
      parentPort.postMessage({ id: m.id, value: { inputNames: s.inputNames } });
    } else if (m.op === 'run') {
      const inputs = {};
      for (const [name, t] of Object.entries(m.inputs)) inputs[name] = new ort.Tensor(t.type, t.data, t.dims);
      const out = {};
      let carried = inputs.hidden;
      for (const step of m.steps) {
        const s = sessions.get(step.session);
        if (!s) throw new Error('the session was released');
        const feeds = {};
        for (const name of s.inputNames) feeds[name] = name === 'hidden' ? carried : inputs[name];
        const r = await s.run(feeds, step.fetches);
        for (const name of step.keep) out[name] = r[name].data;
        carried = r[step.fetches[0]];
      }
      const buffers = new Set();
      for (const v of Object.values(out)) if (v.buffer instanceof ArrayBuffer) buffers.add(v.buffer);
      parentPort.postMessage({ id: m.id, value: out }, [...buffers]);
    } else if (m.op === 'release') {
      const s = sessions.get(m.session);
      sessions.delete(m.session);
      if (s) await s.release();
      parentPort.postMessage({ id: m.id, value: true });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: message(e) });
  }
});
`;

let shared: Promise<OrtWorker> | undefined;
let sharedWorker: OrtWorker | undefined;

export class OrtWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  #next = 1;
  #dead: Error | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  /** The process's worker, started (and onnxruntime loaded in it) on first use. */
  static shared(): Promise<OrtWorker> {
    shared ??= OrtWorker.#start().catch((e: unknown) => {
      shared = undefined; // a later load may try again
      throw e;
    });
    return shared;
  }

  static #start(): Promise<OrtWorker> {
    let ortPath: string;
    try {
      ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    } catch (e) {
      return Promise.reject(new LmrecError(`onnxruntime-node could not be loaded: ${(e as Error).message}`, 'NATIVE_UNAVAILABLE'));
    }
    // execArgv: none of the parent's loaders (tsx) are needed to evaluate plain CommonJS
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ort: ortPath }, execArgv: [], stdout: false, stderr: false });
    const w = new OrtWorker(worker);
    worker.on('message', (m: Reply) => w.#settle(m));
    const die = (e: Error) => {
      w.#dead ??= e;
      if (sharedWorker === w) (sharedWorker = undefined), (shared = undefined);
      for (const p of w.#pending.values()) p.reject(new LmrecError(`onnxruntime's worker thread stopped: ${e.message}`, 'INTERNAL'));
      w.#pending.clear();
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
    return new Promise<OrtWorker>((resolve, reject) => {
      // message 0: whether onnxruntime loaded (the worker is ref'd until then)
      w.#pending.set(0, {
        resolve: () => resolve((sharedWorker = w)),
        reject: (e) => {
          void worker.terminate();
          reject(e instanceof LmrecError ? e : new LmrecError(`onnxruntime-node could not be loaded: ${(e as Error).message}`, 'NATIVE_UNAVAILABLE'));
        },
      });
    });
  }

  /** Opens a session from an .onnx file or its bytes (transferred when they are a whole buffer: the caller gives them up). */
  async createSession(source: string | Uint8Array, options: InferenceSession.SessionOptions): Promise<RemoteSession> {
    const session = this.#next++;
    const whole = typeof source !== 'string' && source.buffer instanceof ArrayBuffer && source.byteOffset === 0 && source.byteLength === source.buffer.byteLength;
    const { inputNames } = (await this.#call({ op: 'create', session, source, options }, whole ? [(source as Uint8Array).buffer as ArrayBuffer] : [])) as { inputNames: string[] };
    return { id: session, inputNames, worker: this };
  }

  /**
   * Runs a chain of sessions on `inputs` (see the module's notes); `transfer` lists the
   * inputs the caller gives up. Resolves with the kept outputs by name.
   */
  async run(steps: readonly ChainStep[], inputs: Record<string, WireTensor>, transfer: readonly string[] = []): Promise<Record<string, Float32Array>> {
    const buffers = new Set<ArrayBuffer>();
    const sent: Record<string, WireTensor> = {};
    for (const [name, t] of Object.entries(inputs)) {
      const whole = t.data.buffer instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength;
      // a view into a larger buffer would be cloned whole: only its part is sent
      const data = whole ? t.data : t.data.slice();
      sent[name] = { ...t, data };
      if (data !== t.data || transfer.includes(name)) buffers.add(data.buffer as ArrayBuffer);
    }
    const message = { op: 'run', inputs: sent, steps: steps.map((s) => ({ session: s.session.id, fetches: s.fetches, keep: s.keep })) };
    return (await this.#call(message, [...buffers])) as Record<string, Float32Array>;
  }

  async release(session: RemoteSession): Promise<void> {
    if (this.#dead) return; // its sessions went with it
    await this.#call({ op: 'release', session: session.id }, []);
  }

  #call(message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<unknown> {
    if (this.#dead) return Promise.reject(new LmrecError(`onnxruntime's worker thread stopped: ${this.#dead.message}`, 'INTERNAL'));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref(); // a pending call keeps the process alive
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  #settle(m: Reply): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (this.#pending.size === 0) this.#worker.unref(); // idle: the process may exit
    if (m.error !== undefined) p.reject(new Error(m.error));
    else p.resolve(m.value);
  }
}
