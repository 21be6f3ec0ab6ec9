/**
 * The device's side of the wire to the cloud: what it may ask (a history, N), what it accepts
 * back, and how it asks (a timeout per attempt, a bounded number of retries with exponential
 * backoff and jitter). The transport is the caller's (`CloudClient`: HTTP, a worker, an
 * in-process model), so this file uses nothing Node-only and runs in a browser as well.
 */
import { LmrecError } from '../errors.js';

/** The cloud's answer: candidate item ids, best first, and optionally their scores. */
export interface CloudReply {
  /** Candidate item ids, best first; ids the device does not know, repeats and entries past N are dropped. */
  items: readonly string[];
  /** The cloud's scores of the items (non-increasing). Informational: fusion uses the ranks. */
  scores?: ArrayLike<number>;
}

/** Asks the cloud for up to n candidates after a history. Should give up when `signal` aborts. */
export interface CloudClient {
  /**
   * @param history The device's real-time history, item ids oldest first (those the device knows).
   * @param n How many candidates to return at most (N).
   * @param signal Aborted when the device stops waiting for this attempt (its time-out, or close()); give up then.
   */
  candidates(history: readonly string[], n: number, signal: AbortSignal): Promise<CloudReply> | CloudReply;
}

/** A validated candidate list. */
export interface CandidateList {
  /** Unique item numbers (places in the device's catalog) of the ids it knows, best first. */
  items: Int32Array;
  /** Entries left out: ids the device does not know, repeats, and entries past N. */
  dropped: number;
}

/**
 * Checks a reply and keeps its valid candidates. Garbage (INVALID_DATA) is a reply of the wrong
 * shape: not an object, `items` not an array, an entry that is not a string, or `scores` that
 * are not finite numbers, one per item, non-increasing. Ids that are not in the device's
 * catalog are left out and counted, as LSC4Rec leaves out the item ids an LLM invents: their
 * slots count as padding.
 * @param reply What the cloud client answered.
 * @param slots N: entries past it are dropped.
 * @param catalog The device's catalog: id -> item number.
 */
export function validateReply(reply: unknown, slots: number, catalog: ReadonlyMap<string, number>): CandidateList {
  const bad = (why: string) => new LmrecError(`the cloud's reply is not a candidate list: ${why}`, 'INVALID_DATA');
  if (typeof reply !== 'object' || reply === null) throw bad(`got ${reply === null ? 'null' : typeof reply}`);
  const { items: list, scores } = reply as { items?: unknown; scores?: unknown };
  if (!Array.isArray(list)) throw bad("'items' is not an array");
  if (scores !== undefined) {
    if (!isArrayLike(scores) || scores.length !== list.length) throw bad("'scores' is not an array as long as 'items'");
    for (let i = 0; i < scores.length; i++) {
      const s = scores[i];
      if (typeof s !== 'number' || !Number.isFinite(s)) throw bad(`score ${i} is ${String(s)}`);
      if (i > 0 && s > (scores[i - 1] as number)) throw bad(`the scores rise at ${i}: the list must be best first`);
    }
  }
  const kept: number[] = [];
  const seen = new Set<number>();
  const n = Math.min(list.length, slots);
  for (let i = 0; i < n; i++) {
    const x: unknown = list[i];
    if (typeof x !== 'string') throw bad(`item ${i} is ${x === null ? 'null' : typeof x}, not an item id`);
    const item = catalog.get(x);
    if (item !== undefined && !seen.has(item)) {
      seen.add(item);
      kept.push(item);
    }
  }
  return { items: Int32Array.from(kept), dropped: list.length - kept.length };
}

function isArrayLike(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

export interface RetryOptions {
  /** Each attempt is given up after this many milliseconds. */
  timeoutMs: number;
  /** Attempts after the first one fails (time-out or error). */
  retries: number;
  /** The wait before the first retry; it doubles for each later one. */
  backoffMs: number;
  /** The longest wait between attempts. */
  maxBackoffMs: number;
  /** Uniform in [0, 1): the jitter. */
  random: () => number;
}

/** What asking the cloud has cost and met with. */
export interface CloudCounters {
  /** Calls of the cloud client, retries included. */
  attempts: number;
  /** Attempts made after a failed one (time-out or error). */
  retries: number;
  /** Attempts given up at the time-out (timeoutMs). */
  timeouts: number;
  /** Attempts that failed with an error (other than a time-out). */
  failures: number;
  /** Replies rejected as garbage. */
  garbage: number;
}

/**
 * Asks the cloud for a candidate list. A time-out or an error is retried up to `retries` times,
 * waiting min(maxBackoff, backoff·2^i)·(0.5 + 0.5·random) before retry i (equal jitter: spread
 * out, never immediate); then IO_ERROR. Garbage is INVALID_DATA at once: a server that sends it
 * will likely send it again, and a broken server should not be hammered. ABORTED when `signal`
 * aborts. A client that never settles is left behind at its time-out, never awaited.
 */
export async function fetchCandidates(
  client: CloudClient,
  history: readonly string[],
  slots: number,
  catalog: ReadonlyMap<string, number>,
  o: RetryOptions,
  counters: CloudCounters,
  signal?: AbortSignal,
): Promise<CandidateList> {
  let last = '';
  for (let i = 0; i <= o.retries; i++) {
    if (i > 0) {
      counters.retries++;
      await sleep(Math.min(o.maxBackoffMs, o.backoffMs * 2 ** (i - 1)) * (0.5 + 0.5 * o.random()), signal);
    }
    counters.attempts++;
    const r = await attempt(client, history, slots, o.timeoutMs, signal);
    if ('reply' in r) {
      try {
        return validateReply(r.reply, slots, catalog);
      } catch (e) {
        counters.garbage++;
        throw e;
      }
    }
    if (r.error === 'aborted') throw aborted();
    if (r.error === 'timeout') {
      counters.timeouts++;
      last = `no answer within ${o.timeoutMs} ms`;
    } else {
      counters.failures++;
      last = `it failed: ${r.cause instanceof Error ? r.cause.message : String(r.cause)}`;
    }
  }
  throw new LmrecError(`the cloud gave no candidate list after ${o.retries + 1} attempts (last: ${last})`, 'IO_ERROR');
}

type Attempt = { reply: unknown } | { error: 'timeout' } | { error: 'aborted' } | { error: 'failed'; cause: unknown };

/** One call of the client, settled by its reply, its failure, the time-out or `signal`, whichever comes first. */
function attempt(client: CloudClient, history: readonly string[], n: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<Attempt> {
  return new Promise((resolve) => {
    const call = new AbortController();
    const settle = (r: Attempt) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      call.abort(); // tells the client to stop, if it is still going
      resolve(r);
    };
    const onAbort = () => settle({ error: 'aborted' });
    const timer = setTimeout(() => settle({ error: 'timeout' }), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let reply: Promise<CloudReply>;
    try {
      reply = Promise.resolve(client.candidates(history, n, call.signal));
    } catch (e) {
      reply = Promise.reject(e);
    }
    reply.then(
      (r) => settle({ reply: r }),
      (cause: unknown) => settle({ error: 'failed', cause }),
    );
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function aborted(): LmrecError {
  return new LmrecError('the request to the cloud was cancelled', 'ABORTED');
}
