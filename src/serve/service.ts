/**
 * The recommendation service behind `lmrec serve`: a Recommender in memory, and a Store
 * (SQLite, or PostgreSQL shared by replicas) holding the catalog and every event received.
 *
 *  - Events are written to the store first (durable, in one global order), then applied to the
 *    in-memory histories from the store's log by one catch-up loop: the events this replica
 *    received and those another replica wrote (the store wakes every replica) take the same
 *    path, and a restarted replica replays the log, so none is lost or applied twice. The SRM
 *    learns from them in the background (Recommender.addEvents).
 *  - The store holds the catalog's truth. On first start with an empty store the model's
 *    catalog is copied in; later, items the store has and the model lacks are encoded and
 *    indexed (addItems), and items the model has and the store lacks are removed from answers.
 *  - Item changes are entries of the same log (the store writes one with each put or delete), so
 *    an item added, changed or removed through another replica reaches this one in order with
 *    the events around it; applying one reads the item's current state, so replays converge.
 */
import { LmrecError } from '../errors.js';
import type { ItemRecord } from '../data/records.js';
import { LmRanker } from '../recommender/lm-ranker.js';
import { rerankSettings, type RerankStage } from '../recommender/lm-stage.js';
import { Recommender, type IndexChoice, type IndexInfo, type RecommendRequest, type Recommendations, type ScoredItem } from '../recommender/recommender.js';
import { openStore } from './store/open-store.js';
import { isCatalogChange, STORE_LIMITS, type Store } from './store/store.js';
import { checkItem } from './store/validate.js';

export interface ServiceOptions {
  /** A Recommender directory (lmrec fit). */
  model: string;
  /** A SQLite file path, or a postgres:// URL. */
  store: string;
  /** Background SRM learning: at most one update per this many ms, on this many threads (defaults 2000 and 1: the cores serve requests). */
  updateIntervalMs?: number;
  /** Threads a background SRM update trains on (default 1). */
  updateThreads?: number;
  /** The serving indexes (Recommender.load's `index`). Default 'auto'. */
  index?: IndexChoice;
  /**
   * The LM stage on every recommendation (Recommender.rerank): a model lmrec pretrained on
   * this catalog and tuned for late interaction (an LmRanker) re-scores the SRM's best
   * `candidates` (at least k) as SRM + weight × its item-head score after the last `events`
   * history items. Items it was not trained on keep the SRM score. Off by default: it costs
   * an LM run a request (docs/benchmarks.md: its gain and latency on the dev sets).
   */
  rerank?: RerankOptions;
  /**
   * Told about failures off the request path (reading the log, a background SRM update) as they
   * happen. Default: the logger of the server made with createServer when it has one, else
   * process.emitWarning.
   */
  onError?: (e: unknown) => void;
}

/** `ServiceOptions.rerank`: the model directory, the stage's settings, how it runs. */
export interface RerankOptions extends Omit<RerankStage, 'model'> {
  /** A model directory lmrec pretrained on this catalog with an item head, tuned with --local-layers. */
  model: string;
  /** Precision of its matrix products (LmRanker.load's). Default 'fp32'. */
  precision?: 'fp32' | 'int8';
  /** onnxruntime threads it runs on. Default 1 (the other cores answer requests). */
  threads?: number;
}

export interface IncomingEvent {
  /** The user's id (an unknown user is created). */
  user: string;
  /** The item's id; an item the model does not serve is stored and counted as unknown. */
  item: string;
  /** The event's time (any increasing number); default the store's arrival time, ms since 1970. */
  ts?: number;
}

const REPLAY_PAGE = STORE_LIMITS.read;
const CATCH_UP_RETRY_MS = 500;
/** Requests one batched scan answers at most. */
const MAX_BATCH = 64;
const ITEMS_PAGE = 1_000;

export interface ServiceStats {
  /** Items the model holds, those removed from answers included. */
  items: number;
  /** Users with a history (from the fit or the event log). */
  users: number;
  /** The newest event seq applied to the in-memory histories, and the store's newest. */
  appliedSeq: number;
  /** The store's newest seq this replica knows of; ready once appliedSeq reaches it. */
  storeSeq: number;
  /** Seconds since the oldest event applied but not yet learned by the SRM (0 when caught up). */
  srmLagSeconds: number;
  /** The store's backend. */
  storeKind: 'sqlite' | 'postgres';
  /** The serving indexes (Recommender.indexInfo). */
  index: IndexInfo;
  /** Background SRM updates that failed since the service opened. */
  backgroundErrors: number;
}

/**
 * The service's health: 'degraded' while the last background SRM update failed (and none
 * since succeeded), with that failure. It still serves, from the last good model.
 */
export type ServiceHealth = { status: 'ok' } | { status: 'degraded'; error: { code: string; message: string } };

export class RecommendationService {
  readonly #rec: Recommender;
  readonly #store: Store;
  #applied = 0;
  #storeSeq = 0;
  #catchUp: Promise<void> = Promise.resolve();
  #again = false;
  #lagSince: number | undefined;
  #unsubscribe: () => void = () => undefined;
  #retry: NodeJS.Timeout | undefined;
  readonly #waiting: { request: RecommendRequest; resolve: (r: Recommendations) => void; reject: (e: unknown) => void }[] = [];
  #batchScheduled = false;
  #closed = false;
  readonly #onErrorGiven: ((e: unknown) => void) | undefined;
  #logger: ((e: unknown) => void) | undefined;
  #backgroundErrors = 0;
  #stopFailures: () => void = () => undefined;
  #stage: Required<RerankStage> | undefined;

  private constructor(rec: Recommender, store: Store, onError: ((e: unknown) => void) | undefined) {
    this.#rec = rec;
    this.#store = store;
    this.#onErrorGiven = onError;
  }

  /** Where failures off the request path go: the onError given, else the server's logger, else a process warning. */
  #onError(e: unknown): void {
    const report = this.#onErrorGiven ?? this.#logger ?? ((x: unknown) => process.emitWarning(x instanceof Error ? x.message : String(x), { code: 'LMREC_SERVICE' }));
    try {
      report(e);
    } catch {
      // a reporter's own failure must not stop the service
    }
  }

  /**
   * Reports failures off the request path to a server's logger, unless open() was given an onError (createServer calls this).
   * @param logger Called with each failure off the request path.
   */
  reportTo(logger: (e: unknown) => void): void {
    this.#logger = logger;
  }

  /**
   * Loads the model, opens the store, reconciles the catalog and replays the event log.
   * @param o The model directory and store location (required), background learning, indexes and onError.
   */
  static async open(o: ServiceOptions): Promise<RecommendationService> {
    const rec = await Recommender.load(o.model, { updateIntervalMs: o.updateIntervalMs ?? 2000, updateThreads: o.updateThreads ?? 1, ...(o.index ? { index: o.index } : {}) });
    let store: Store | undefined;
    let ranker: LmRanker | undefined;
    try {
      store = await openStore(o.store);
      const s = new RecommendationService(rec, store, o.onError);
      // a failed background update is told at once (and counted), not left for the next flush
      s.#stopFailures = rec.onBackgroundError((e) => {
        s.#backgroundErrors++;
        s.#onError(e);
      });
      await s.#reconcileCatalog();
      s.#unsubscribe = store.onEvents((last) => {
        s.#storeSeq = Math.max(s.#storeSeq, last); // readyz says not ready until it is applied
        void s.#requestCatchUp().catch(() => undefined);
      });
      await s.#requestCatchUp();
      if (o.rerank) {
        const { model, precision, threads, ...stage } = o.rerank;
        const settings = rerankSettings(stage); // refused before the model loads
        // the texts histories are written with: the catalog as the store holds it
        ranker = await LmRanker.load(model, [...rec.listItems()], { precision: precision ?? 'fp32', threads: threads ?? 1 });
        s.#stage = { model: ranker, ...settings };
      }
      return s;
    } catch (e) {
      await ranker?.close();
      await store?.close();
      await rec.close();
      throw e;
    }
  }

  /** The Recommender it serves (the service owns it: close the service, not it). */
  get recommender(): Recommender {
    return this.#rec;
  }

  /** 'ok', or 'degraded' with the failure while background SRM updates fail (see ServiceHealth). Reads no store. */
  health(): ServiceHealth {
    const e = this.#rec.backgroundFailure;
    if (e === undefined) return { status: 'ok' };
    const code = e instanceof LmrecError ? e.code : 'INTERNAL';
    return { status: 'degraded', error: { code, message: `the last background SRM update failed (serving the last good model): ${e instanceof Error ? e.message : String(e)}` } };
  }

  /** Whether every event in the store has been applied. */
  get ready(): boolean {
    return !this.#closed && this.#applied >= this.#storeSeq;
  }

  /**
   * recommend() for a stored user, batched with the requests that arrive with it (one scan off the JS thread).
   * @param user A user's id: their stored history (an unknown user gets popular items).
   * @param o What to return.
   * @param o.k How many, at most 10,000.
   * @param o.excludeSeen Leave out the items of the user's history.
   * @param o.category Only items whose 'category' field is this.
   */
  recommendForUser(user: string, o: { k: number; excludeSeen: boolean; category?: string | undefined }): Promise<Recommendations> {
    return this.#batched({ user, k: o.k, excludeSeen: o.excludeSeen, ...(o.category !== undefined ? { filter: { category: o.category } } : {}) });
  }

  /**
   * recommend() for an anonymous history, batched with the requests that arrive with it.
   * @param history An anonymous session's item ids, oldest first.
   * @param o What to return.
   * @param o.k How many, at most 10,000.
   * @param o.excludeSeen Leave out the items of the history.
   * @param o.category Only items whose 'category' field is this.
   */
  recommendForHistory(history: string[], o: { k: number; excludeSeen: boolean; category?: string | undefined }): Promise<Recommendations> {
    return this.#batched({ history, k: o.k, excludeSeen: o.excludeSeen, ...(o.category !== undefined ? { filter: { category: o.category } } : {}) });
  }

  /**
   * Requests that arrive together are answered together: one batched scan off the JS thread
   * (Recommender.recommendMany) costs far less per request than one scan each on it.
   */
  #batched(request: RecommendRequest): Promise<Recommendations> {
    // the LM stage answers each request on its own (its LM run is the cost, not the scan)
    if (this.#stage) return this.#rec.rerank(request, { ...this.#stage, candidates: Math.max(this.#stage.candidates, request.k ?? 10) });
    return new Promise((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject });
      if (!this.#batchScheduled) {
        this.#batchScheduled = true;
        setImmediate(() => void this.#answerBatch());
      }
    });
  }

  async #answerBatch(): Promise<void> {
    this.#batchScheduled = false;
    const jobs = this.#waiting.splice(0, MAX_BATCH);
    if (this.#waiting.length > 0) {
      this.#batchScheduled = true;
      setImmediate(() => void this.#answerBatch());
    }
    try {
      const answers = await this.#rec.recommendMany(jobs.map((j) => j.request));
      jobs.forEach((j, i) => j.resolve(answers[i]!));
    } catch {
      // one bad request must not fail the others: each on its own, with its own error
      for (const j of jobs) {
        try {
          j.resolve(this.#rec.recommend(j.request));
        } catch (e) {
          j.reject(e);
        }
      }
    }
  }

  /**
   * Items most like `id` (Recommender.similar, by 'auto').
   * @param id The item's id (UNKNOWN_ID when not served).
   * @param o What to return.
   * @param o.k How many, at most 10,000.
   * @param o.category Only items whose 'category' field is this.
   */
  similar(id: string, o: { k: number; category?: string | undefined }): ScoredItem[] {
    return this.#rec.similar(id, { k: o.k, ...(o.category !== undefined ? { filter: { category: o.category } } : {}) });
  }

  /**
   * The cloud's answer to a device (LSC4Rec): the n best items for a history, with ranks.
   * @param history The item ids the device sends, oldest first.
   * @param n How many candidates, at most 10,000.
   */
  candidates(history: string[], n: number): { id: string; rank: number; score: number }[] {
    return this.#rec.recommend({ history, k: n }).items.map((x, rank) => ({ id: x.id, rank, score: x.score }));
  }

  /**
   * Stores a batch of events (all or nothing), then applies the log up to them before
   * returning, so the next request sees the new histories.
   * @param events The events, in order; at most STORE_LIMITS.batch of them.
   */
  async ingest(events: IncomingEvent[]): Promise<{ stored: number; unknownItems: number; seq: number }> {
    this.#live();
    if (events.length === 0) return { stored: 0, unknownItems: 0, seq: this.#applied };
    const unknownItems = events.filter((e) => this.#rec.item(e.item) === undefined).length;
    const stored = await this.#store.appendEvents(events.map((e) => ({ user: e.user, item: e.item, ...(e.ts !== undefined ? { ts: e.ts } : {}) })));
    const seq = stored.at(-1)!.seq;
    try {
      while (this.#applied < seq && !this.#closed) await this.#requestCatchUp();
    } catch {
      // stored is stored: the retry loop applies it once the log can be read again
    }
    return { stored: stored.length, unknownItems, seq };
  }

  /**
   * Adds an item (encoded, compressed and indexed at once) or replaces a stored one's fields.
   * @param item The item record, held to the input limits; its fields replace a stored item's whole.
   */
  async putItem(item: ItemRecord): Promise<'created' | 'updated'> {
    this.#live();
    checkItem(item); // what the store would refuse is refused before the model changes
    const inModel = this.#rec.item(item.id) !== undefined;
    // into the model first: an item the model cannot encode is not stored either
    if (!inModel) await this.#adopt(item);
    let r: 'created' | 'updated';
    try {
      r = await this.#store.putItem(item);
    } catch (e) {
      if (!inModel) this.#rec.removeItems([item.id]); // not stored: not served either
      throw e;
    }
    // fields and filters change at once; the code stays that of the old text until the next fit
    this.#rec.setItemFields(item.id, item.fields);
    return inModel ? 'updated' : r;
  }

  /**
   * Removes an item from the catalog and from every answer; false when there was none.
   * @param id The item's id.
   */
  async deleteItem(id: string): Promise<boolean> {
    this.#live();
    const stored = await this.#store.deleteItem(id);
    const inModel = this.#rec.item(id) !== undefined;
    if (inModel) this.#rec.removeItems([id]);
    return stored || inModel;
  }

  /**
   * A served item's id and fields (a copy), or undefined.
   * @param id The item's id.
   */
  item(id: string): ItemRecord | undefined {
    const v = this.#rec.item(id);
    return v && { id: v.id, fields: { ...v.fields } };
  }

  /** Sizes, log positions and the SRM's lag, now. */
  async stats(): Promise<ServiceStats> {
    return {
      items: this.#rec.items,
      users: this.#rec.users,
      appliedSeq: this.#applied,
      storeSeq: this.#storeSeq,
      srmLagSeconds: this.#lagSince === undefined ? 0 : (Date.now() - this.#lagSince) / 1000,
      storeKind: this.#store.kind,
      index: this.#rec.indexInfo,
      backgroundErrors: this.#backgroundErrors,
    };
  }

  /** Applies what is left of the log, waits for the SRM's background update, closes everything. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#unsubscribe();
    await this.#catchUp.catch(() => undefined);
    this.#closed = true;
    clearTimeout(this.#retry);
    try {
      // not flush(): a failed update was reported when it failed, and the events it missed are stored
      await this.#rec.whenIdle();
    } finally {
      this.#stopFailures();
      await this.#store.close();
      await this.#stage?.model.close();
      await this.#rec.close();
    }
  }

  #live(): void {
    if (this.#closed) throw new LmrecError('the service is shutting down', 'CLOSED');
  }

  /** Brings a removed item back (its rows never left the model); false for an id the model never had. */
  #restore(id: string): boolean {
    try {
      return this.#rec.restoreItems([id]) > 0;
    } catch (e) {
      if (e instanceof LmrecError && e.code === 'UNKNOWN_ID') return false;
      throw e;
    }
  }

  /**
   * One catch-up loop at a time; a request during a run makes it run once more. A failed read
   * (the database restarting) neither blocks later runs nor is lost: a retry follows.
   */
  #requestCatchUp(): Promise<void> {
    this.#again = true;
    const run = this.#catchUp
      .catch(() => undefined)
      .then(async () => {
        while (this.#again && !this.#closed) {
          this.#again = false;
          await this.#applyLog();
        }
      });
    this.#catchUp = run;
    run.catch((e: unknown) => {
      this.#onError(e);
      if (!this.#closed && !this.#retry) this.#retry = setTimeout(() => ((this.#retry = undefined), void this.#requestCatchUp().catch(() => undefined)), CATCH_UP_RETRY_MS);
    });
    return run;
  }

  async #applyLog(): Promise<void> {
    for (;;) {
      const page = await this.#store.eventsSince(this.#applied, REPLAY_PAGE);
      if (page.length === 0) break;
      // in log order: a catalog change between events applies between them
      let from = 0;
      const flushEvents = (to: number) => {
        if (to > from) {
          this.#rec.addEvents(page.slice(from, to).map((e) => ({ user: e.user, item: e.item, ts: e.ts })));
          this.#applied = page[to - 1]!.seq;
          this.#lagSince ??= Date.now();
        }
      };
      for (let i = 0; i < page.length; i++) {
        if (!isCatalogChange(page[i]!)) continue;
        flushEvents(i);
        await this.#applyCatalogChange(page[i]!.item);
        this.#applied = page[i]!.seq;
        from = i + 1;
      }
      flushEvents(page.length);
      if (page.length < REPLAY_PAGE) break;
    }
    this.#storeSeq = Math.max(this.#storeSeq, await this.#store.lastSeq());
    if (this.#lagSince !== undefined) {
      const since = this.#lagSince;
      void this.#rec.whenIdle().then(() => {
        if (this.#lagSince === since) this.#lagSince = undefined;
      });
    }
  }

  /** Brings the model in line with the store's item `id` (put, updated or deleted, here or by another replica). */
  async #applyCatalogChange(id: string): Promise<void> {
    const stored = await this.#store.item(id);
    if (stored) await this.#adopt(stored);
    else if (this.#rec.item(id)) this.#rec.removeItems([id]);
  }

  /**
   * Makes the model serve `item` with its fields: kept (fields replaced if they differ),
   * restored if it was removed (its rows never left the model), or encoded and added.
   */
  async #adopt(item: ItemRecord): Promise<void> {
    const inModel = this.#rec.item(item.id);
    if (inModel || this.#restore(item.id)) {
      if (!inModel || !sameFields(inModel.fields, item.fields)) this.#rec.setItemFields(item.id, item.fields);
      return;
    }
    try {
      await this.#rec.addItems([item]);
    } catch (e) {
      if (!(e instanceof LmrecError && e.code === 'DUPLICATE_ID')) throw e; // added meanwhile by a concurrent PUT
    }
  }

  async #reconcileCatalog(): Promise<void> {
    const modelItems = [...this.#rec.listItems()];
    // a new store: the model's catalog becomes the stored one, all at once
    if (await this.#store.importCatalog(modelItems)) return;
    const stored = new Set<string>();
    const missing: ItemRecord[] = [];
    for (let after: string | undefined; ; ) {
      const page = await this.#store.items(after, ITEMS_PAGE);
      if (page.length === 0) break;
      for (const it of page) {
        stored.add(it.id);
        const inModel = this.#rec.item(it.id);
        if (!inModel) missing.push(it);
        else if (!sameFields(inModel.fields, it.fields)) this.#rec.setItemFields(it.id, it.fields);
      }
      after = page.at(-1)!.id;
    }
    const gone = modelItems.filter((it) => !stored.has(it.id)).map((it) => it.id);
    if (gone.length > 0) this.#rec.removeItems(gone);
    if (missing.length > 0) await this.#rec.addItems(missing);
  }
}

function sameFields(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
