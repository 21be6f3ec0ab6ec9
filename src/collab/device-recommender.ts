/**
 * The device side of LSC4Rec. A small SRM runs next to the user and sees every event at once;
 * the cloud's large model sees the whole catalog but only the history it was last sent. The
 * device keeps the last candidate list the cloud returned, re-ranks it with the SRM after the
 * real-time history, fuses the two (fusion.ts), and asks the cloud for a new list only when the
 * request policy says the two disagree enough (policy.ts).
 *
 * The cloud is never on the answer's path by default: `recommend` answers at once from the
 * list it has and, when the policy asks for a new one, fetches it in the background for the
 * answers after this one. A phone on a slow network then answers as fast as its SRM, and a
 * fresh list lands one interaction later. `waitForCloud` instead waits for the new list (bounded
 * by the time-out and retries) before answering: the setting of LSC4Rec's evaluation.
 *
 * Whatever the cloud does (hangs, fails, returns garbage or nothing) the device answers from
 * what it has: the last good list, and its SRM's own best items where the list runs short or
 * there is none. Failures are counted in `stats` and passed to `onError`, never thrown from
 * `recommend`.
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { parseOptions } from '../util/options.js';
import { Random } from '../util/random.js';
import { fetchCandidates, type CandidateList, type CloudClient, type CloudCounters } from './cloud.js';
import { FUSION_RULES, fusedOrder, fusedScore, type FusionRule } from './fusion.js';
import { DEFAULT_PAD_PENALTY, type RequestPolicy } from './policy.js';
import { rerank, type CandidateScorer, type Reranked } from './rerank.js';

export interface DeviceRecommenderOptions {
  /** The device's model (a SequentialRecommender, or anything with its score and topK). */
  srm: CandidateScorer;
  /** The catalog's item ids in the SRM's item order (item number i is `itemIds[i]`): histories, answers and the cloud's lists name items by these ids. */
  itemIds: readonly string[];
  /** The transport to the cloud's model: asked for N candidates after the history the device sends. */
  cloud: CloudClient;
  /** When to ask the cloud again: a ThresholdPolicy set on validation traffic (ThresholdPolicy.forRate), or a RandomPolicy. */
  policy: RequestPolicy;
  /** N: candidates asked of the cloud. Default 50, at most 10,000. */
  candidates?: number;
  /** How the cloud's ranks and the SRM's probabilities combine. Default 'gated' (LSC4Rec's). */
  fusion?: FusionRule;
  /** Inconsistency added per empty slot of a short list. Default 1 (see policy.ts). */
  padPenalty?: number;
  /** Each attempt is given up after this many milliseconds. Default 2000. */
  timeoutMs?: number;
  /** Attempts after a failed one. Default 2. */
  retries?: number;
  /** Wait before the first retry, doubling after. Default 100 ms. */
  backoffMs?: number;
  /** Longest wait between attempts. Default 2000 ms. */
  maxBackoffMs?: number;
  /** After a request fails (every attempt), no new one starts for this long. Default 5000 ms. */
  cooldownMs?: number;
  /** Default for recommend's waitForCloud. Default false. */
  waitForCloud?: boolean;
  /** Seed of the backoff jitter. */
  seed?: number;
  /** Called with each failed request (IO_ERROR, INVALID_DATA); the device answers on regardless. */
  onError?: (error: LmrecError) => void;
}

export interface DeviceRecommendOptions {
  /** How many. Default 10, at most 10,000. */
  k?: number;
  /** Leave out the items of the history. Default true. */
  excludeSeen?: boolean;
  /** Wait for a new list when one is asked for (bounded by time-out and retries). Default: the recommender's. */
  waitForCloud?: boolean;
  /** Stops waiting for the cloud (the answer then comes from what the device has). */
  signal?: AbortSignal;
}

/** An answered item: its id, its score, and where it came from. */
export interface DeviceItem {
  id: string;
  /** The fused score for a 'cloud' item, the SRM's for a 'device' one: compare scores within a source only. */
  score: number;
  /** The cloud's list (re-ranked and fused) or the SRM's own top items. */
  source: 'cloud' | 'device';
}

/** A device answer, shaped as Recommender.recommend's: the items, best first, and what happened on the way. */
export interface DeviceRecommendations {
  /** At most k items, best first. */
  items: DeviceItem[];
  /** History ids the device does not know (skipped). */
  ignored: number;
  /** The inconsistency S of the list this answer re-ranked, null when there was none. */
  inconsistency: number | null;
  /** Whether this answer asked the cloud for a new list. */
  requested: boolean;
}

export interface DeviceStats extends CloudCounters {
  /** Requests for a new list (each may make several attempts). */
  requests: number;
  /** New lists received. */
  updates: number;
  /** Times the policy asked while a request was in flight or after a failure (cooling down): no new request. */
  skipped: number;
}

const MAX_K = 10_000;

/** The current list as the SRM sees it after a history. */
type ListView = { list: CandidateList } & Reranked;

const optionsSchema = z.strictObject({
  srm: z.custom<CandidateScorer>(
    (v) => typeof v === 'object' && v !== null && typeof (v as CandidateScorer).score === 'function' && typeof (v as CandidateScorer).topK === 'function' && Number.isInteger((v as CandidateScorer).items) && (v as CandidateScorer).items >= 1,
    'a model with score(), topK() and items (a SequentialRecommender)',
  ),
  itemIds: z.array(z.string()).readonly(),
  cloud: z.custom<CloudClient>((v) => typeof v === 'object' && v !== null && typeof (v as CloudClient).candidates === 'function', 'an object with candidates(history, n, signal)'),
  policy: z.custom<RequestPolicy>((v) => typeof v === 'object' && v !== null && typeof (v as RequestPolicy).shouldRequest === 'function', 'an object with shouldRequest(inconsistency)'),
  candidates: z.number().int().min(1).max(MAX_K).optional(),
  fusion: z.enum(FUSION_RULES).optional(),
  padPenalty: z.number().min(0).optional(),
  timeoutMs: z.number().positive().optional(),
  retries: z.number().int().min(0).max(10).optional(),
  backoffMs: z.number().min(0).optional(),
  maxBackoffMs: z.number().min(0).optional(),
  cooldownMs: z.number().min(0).optional(),
  waitForCloud: z.boolean().optional(),
  seed: z.number().int().nonnegative().optional(),
  onError: z.custom<(e: LmrecError) => void>((v) => typeof v === 'function', 'a function').optional(),
});

const recommendSchema = z.strictObject({
  k: z.number().int().min(1).max(MAX_K).optional(),
  excludeSeen: z.boolean().optional(),
  waitForCloud: z.boolean().optional(),
  signal: z.instanceof(AbortSignal).optional(),
});

export class DeviceRecommender {
  readonly #o: Required<Omit<DeviceRecommenderOptions, 'onError' | 'seed' | 'itemIds'>> & Pick<DeviceRecommenderOptions, 'onError'>;
  readonly #ids: readonly string[];
  readonly #numbers = new Map<string, number>();
  readonly #rng: Random;
  readonly #stats: DeviceStats = { requests: 0, updates: 0, skipped: 0, attempts: 0, retries: 0, timeouts: 0, failures: 0, garbage: 0 };
  #list: CandidateList | undefined;
  #inFlight: Promise<boolean> | undefined;
  #coolUntil = 0;
  readonly #closing = new AbortController();

  /**
   * A device recommender with no candidate list yet: the first recommend() asks the cloud for one.
   * @param options The SRM, the cloud client, the request policy, and how requests are made (see DeviceRecommenderOptions).
   */
  constructor(options: DeviceRecommenderOptions) {
    const o = parseOptions(optionsSchema, options, 'DeviceRecommender');
    if (o.itemIds.length !== o.srm.items) throw new LmrecError(`itemIds names ${o.itemIds.length} items, the SRM knows ${o.srm.items}`, 'DIM_MISMATCH');
    this.#ids = [...o.itemIds];
    this.#ids.forEach((id, i) => this.#numbers.set(id, i));
    if (this.#numbers.size !== this.#ids.length) throw new LmrecError('itemIds names an item twice', 'DUPLICATE_ID');
    this.#o = {
      srm: o.srm,
      cloud: o.cloud,
      policy: o.policy,
      candidates: o.candidates ?? 50,
      fusion: o.fusion ?? 'gated',
      padPenalty: o.padPenalty ?? DEFAULT_PAD_PENALTY,
      timeoutMs: o.timeoutMs ?? 2000,
      retries: o.retries ?? 2,
      backoffMs: o.backoffMs ?? 100,
      maxBackoffMs: o.maxBackoffMs ?? 2000,
      cooldownMs: o.cooldownMs ?? 5000,
      waitForCloud: o.waitForCloud ?? false,
      onError: o.onError,
    };
    this.#rng = new Random(o.seed ?? 1);
  }

  /** Counters of the requests and what they met with (a copy). */
  get stats(): DeviceStats {
    return { ...this.#stats };
  }

  /** The cloud's last valid candidate list, best first (empty before the first one). */
  get cloudCandidates(): string[] {
    return Array.from(this.#list?.items ?? [], (i) => this.#ids[i]!);
  }

  /**
   * The k best next items after the real-time history. Re-ranks the cloud's last list with the
   * SRM and fuses; asks the cloud for a new list when there is none or the policy says so
   * (in the background, unless waitForCloud). Items of the list past what it holds, and every
   * item when there is no list, come from the SRM alone.
   * @param history The real-time history: item ids, oldest first (ids the device does not know are skipped and counted).
   * @param options How many, whether seen items are left out, and whether to wait for a new list.
   */
  async recommend(history: readonly string[], options: DeviceRecommendOptions = {}): Promise<DeviceRecommendations> {
    this.#checkOpen();
    const o = parseOptions(recommendSchema, options, 'recommend');
    const { items: h, ignored } = this.#known(history);
    let state = this.#rerank(h);
    const wanted = state === undefined || this.#o.policy.shouldRequest(state.inconsistency);
    let requested = false;
    if (wanted) {
      const started = this.#refresh(h);
      requested = started !== undefined;
      // waiting joins a request already on its way rather than starting a second one
      const pending = started ?? this.#inFlight;
      if (pending && (o.waitForCloud ?? this.#o.waitForCloud)) {
        await raceAbort(pending, o.signal);
        state = this.#rerank(h);
      }
    }
    return this.#answer(h, state, o.k ?? 10, o.excludeSeen ?? true, requested, ignored);
  }

  /**
   * Asks the cloud for a new list for this history now (unless one is on its way, which it
   * joins). True when a new list arrived; failures are counted and passed to onError.
   * @param history The real-time history sent to the cloud, item ids oldest first (unknown ones are left out).
   */
  async refresh(history: readonly string[]): Promise<boolean> {
    this.#checkOpen();
    return this.#inFlight ?? this.#start(this.#known(history).items);
  }

  /** Resolves when no request is in flight. */
  async whenIdle(): Promise<void> {
    while (this.#inFlight) await this.#inFlight;
  }

  /** Cancels a request in flight; later calls fail with CLOSED. The SRM is the caller's and stays open. */
  async close(): Promise<void> {
    this.#closing.abort();
  }

  /** The item numbers of a history's known ids, and how many it names that the device does not know. */
  #known(history: readonly string[]): { items: number[]; ignored: number } {
    if (!Array.isArray(history)) throw new LmrecError('history must be an array of item ids', 'INVALID_ARGUMENT');
    const items: number[] = [];
    for (const id of history) {
      if (typeof id !== 'string') throw new LmrecError('history must hold item ids (strings)', 'INVALID_ARGUMENT');
      const i = this.#numbers.get(id);
      if (i !== undefined) items.push(i);
    }
    return { items, ignored: history.length - items.length };
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted) throw new LmrecError('this DeviceRecommender was closed', 'CLOSED');
  }

  /** The SRM's view of the current list, or undefined when there is none yet. */
  #rerank(history: number[]): ListView | undefined {
    const list = this.#list;
    if (!list) return undefined;
    return { list, ...rerank(this.#o.srm, history, list.items, this.#o.candidates, this.#o.padPenalty, this.#o.srm.idMask?.()) };
  }

  /** A new request, or undefined when one is in flight or the last one failed too recently. */
  #refresh(history: number[]): Promise<boolean> | undefined {
    if (this.#inFlight || Date.now() < this.#coolUntil) {
      this.#stats.skipped++;
      return undefined;
    }
    return this.#start(history);
  }

  #start(history: number[]): Promise<boolean> {
    this.#stats.requests++;
    const o = this.#o;
    const run = fetchCandidates(
      o.cloud,
      history.map((i) => this.#ids[i]!),
      o.candidates,
      this.#numbers,
      { timeoutMs: o.timeoutMs, retries: o.retries, backoffMs: o.backoffMs, maxBackoffMs: o.maxBackoffMs, random: () => this.#rng.next() },
      this.#stats,
      this.#closing.signal,
    ).then(
      (list) => {
        this.#list = list;
        this.#stats.updates++;
        return true;
      },
      (e: unknown) => {
        if (this.#closing.signal.aborted) return false;
        this.#coolUntil = Date.now() + o.cooldownMs;
        const error = e instanceof LmrecError ? e : new LmrecError(`asking the cloud failed: ${String(e)}`, 'INTERNAL');
        try {
          o.onError?.(error);
        } catch {
          // a throwing callback must not break the device's answers
        }
        return false;
      },
    );
    const tracked = run.finally(() => {
      if (this.#inFlight === tracked) this.#inFlight = undefined;
    });
    this.#inFlight = tracked;
    return tracked;
  }

  #answer(history: number[], state: ListView | undefined, k: number, excludeSeen: boolean, requested: boolean, ignored: number): DeviceRecommendations {
    const seen = excludeSeen ? new Set(history) : undefined;
    const out: DeviceRecommendations = { items: [], ignored, inconsistency: state?.inconsistency ?? null, requested };
    const taken = new Set<number>();
    const push = (item: number, score: number, source: 'cloud' | 'device') => out.items.push({ id: this.#ids[item]!, score, source });
    if (state) {
      const { list, probabilities } = state;
      const rule = this.#o.fusion;
      for (const j of fusedOrder(rule, probabilities, this.#o.candidates)) {
        if (out.items.length >= k) break;
        const item = list.items[j]!;
        if (seen?.has(item)) continue;
        taken.add(item);
        push(item, fusedScore(rule, j, this.#o.candidates, probabilities[j]!), 'cloud');
      }
    }
    if (out.items.length < k) {
      // the SRM's own best items fill what the list cannot
      const more = this.#o.srm.topK(history, Math.min(this.#o.srm.items, k + taken.size), { excludeHistory: excludeSeen });
      more.ids.forEach((item, i) => {
        if (out.items.length >= k || taken.has(item)) return;
        push(item, more.scores[i]!, 'device');
      });
    }
    return out;
  }
}


/** Waits for `p` unless `signal` aborts first (then returns; p goes on). */
function raceAbort(p: Promise<unknown>, signal: AbortSignal | undefined): Promise<unknown> {
  if (!signal) return p;
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    void p.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(undefined);
    });
  });
}
