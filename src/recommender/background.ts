/**
 * Background work of a Recommender, one job at a time, in order: SRM updates on the events
 * addEvents appends (the histories change at once, the model catches up), and items being
 * added. A failed update changes nothing that serves: the last good model keeps answering,
 * and the failure is told at once to listeners (a server logs it and reports degraded health)
 * and once to flush().
 */
import { LmrecError } from '../errors.js';
import { checkEventRecord } from '../data/limits.js';
import type { EventRecord } from '../data/records.js';
import type { AddEventsReport } from './options.js';
import { live, type RecommenderState } from './state.js';

/** Events kept per user by addEvents. */
const MAX_HISTORY = 10_000;

export class BackgroundWork {
  readonly #s: RecommenderState;
  readonly #reindex: () => Promise<void>;
  #queue: Promise<void> = Promise.resolve();
  #pendingUsers = new Map<number, number>(); // user -> new events since the last update
  #updateIntervalMs = 0;
  #updateThreads: number | undefined;
  #lastUpdate = 0;
  #updateScheduled = false;
  #backgroundError: unknown; // for flush() to rethrow, once
  #failure: unknown; // the last background update's failure, until one succeeds
  readonly #failureListeners = new Set<(error: unknown) => void>();

  /** `reindex` brings the serving indexes up to the SRM after an update. */
  constructor(s: RecommenderState, reindex: () => Promise<void>, o: { updateIntervalMs?: number | undefined; updateThreads?: number | undefined } = {}) {
    this.#s = s;
    this.#reindex = reindex;
    this.#updateIntervalMs = o.updateIntervalMs ?? 0;
    this.#updateThreads = o.updateThreads;
  }

  /** Appends events to the histories and schedules an SRM update on them (see Recommender.addEvents). */
  add(events: readonly EventRecord[]): AddEventsReport {
    if (!Array.isArray(events)) throw new LmrecError('addEvents needs an array of event records', 'INVALID_ARGUMENT');
    events.forEach((e, i) => checkEventRecord(e, 'INVALID_DATA', `event ${i}`)); // all checked before any is taken
    const srm = live(this.#s);
    let accepted = 0;
    let unknownItems = 0;
    let newUsers = 0;
    const warm: number[] = [];
    for (const e of events) {
      if (typeof e?.user !== 'string' || typeof e.item !== 'string') throw new LmrecError('every event needs string user and item ids', 'INVALID_DATA');
      const item = this.#s.catalog.ids.get(e.item);
      if (item === undefined || this.#s.removed.has(item)) {
        unknownItems++;
        continue;
      }
      let u = this.#s.users.get(e.user);
      if (u === undefined) {
        u = this.#s.users.add(e.user);
        this.#s.histories.push([]);
        newUsers++;
      }
      const h = this.#s.histories[u]!;
      h.push(item);
      // bounded per user: the oldest events stop counting as seen (the SRM reads far fewer)
      if (h.length > MAX_HISTORY) h.splice(0, h.length - MAX_HISTORY);
      this.#pendingUsers.set(u, (this.#pendingUsers.get(u) ?? 0) + 1);
      // only items not warm yet: warming waits for a training step in progress
      if (!this.#s.serving.now.warm[item] && !this.#s.warming.has(item)) {
        this.#s.warming.add(item);
        warm.push(item);
      }
      accepted++;
    }
    if (warm.length > 0) srm.warmItems(warm);
    if (accepted > 0) this.#scheduleUpdate();
    return { accepted, unknownItems, newUsers };
  }

  /** Waits for the work queued so far; rethrows its first failure, once. */
  async flush(): Promise<void> {
    await this.#queue;
    if (this.#backgroundError !== undefined) {
      const e = this.#backgroundError;
      this.#backgroundError = undefined;
      throw e;
    }
  }

  /** Resolves when the work queued so far has ended, its failure left for flush(). */
  whenIdle(): Promise<void> {
    return this.#queue;
  }

  /** Calls `listener` with each failed update as it fails; returns the function that removes it. */
  onError(listener: (error: unknown) => void): () => void {
    if (typeof listener !== 'function') throw new LmrecError('onBackgroundError needs a function', 'INVALID_ARGUMENT');
    this.#failureListeners.add(listener);
    return () => void this.#failureListeners.delete(listener);
  }

  /** The last update's failure while no later update has succeeded; undefined when healthy. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Runs `work` after the work queued before it. */
  enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  #scheduleUpdate(): void {
    if (this.#updateScheduled) return;
    this.#updateScheduled = true;
    void this.enqueue(async () => {
      // events arriving during the wait join this update
      const wait = this.#lastUpdate + this.#updateIntervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.#lastUpdate = Date.now();
      this.#updateScheduled = false;
      const pending = this.#pendingUsers;
      this.#pendingUsers = new Map();
      if (!this.#s.srm) return;
      // one update per count of fresh events, so each trains on exactly its new events
      const byFresh = new Map<number, number[][]>();
      for (const [u, fresh] of pending) {
        const seq = this.#s.histories[u]!;
        if (seq.length < 2) continue;
        const f = Math.min(fresh, seq.length - 1);
        (byFresh.get(f) ?? byFresh.set(f, []).get(f)!).push(seq.slice());
      }
      try {
        for (const [fresh, seqs] of byFresh) await this.#s.srm.update(seqs, { fresh, ...(this.#updateThreads ? { threads: this.#updateThreads } : {}) });
        // items warmed while the update trained: no training now, so they apply at once
        if (this.#s.warming.size > 0) this.#s.srm.warmItems([...this.#s.warming]);
        this.#s.popular = undefined;
        await this.#reindex();
        this.#failure = undefined;
      } catch (e) {
        this.#backgroundError ??= e;
        this.#failure = e;
        this.#s.warming.clear(); // warmed again by their next event
        // at once, not at the next flush(): a server says so in its log, health and metrics
        for (const listener of this.#failureListeners) {
          try {
            listener(e);
          } catch {
            // a listener's own failure must not stop the updates
          }
        }
      }
    });
  }
}
