/**
 * The Recommender: MARC on lmrec's parts. Point it at a catalog and an event log; get
 * `recommend(user)` in about a millisecond, with items that were never clicked still
 * recommendable from their text.
 *
 *   item text --LM (frozen)--> pooled state at layer l --standardise--> features f_i
 *   code_i  = int8(tanh(compress(f_i)))                      (stored: codeDim bytes an item)
 *   e_i     = [item has training events] · id_i + code_i · Proj   (the SRM's item embedding)
 *   u       = SRM(history)                                   (SASRec over the user's items)
 *   score_i = u · e_i                                         (the SRM's next-item logit)
 *
 * Serving: the e_i sit in an int8 VectorIndex (inner product) with their fp32 originals. A
 * request scans the int8 codes for the top 4k candidates with filters applied while scanning
 * (seen items, an exclude list, field filters or a predicate: never over-fetching), then
 * re-scores them exactly in fp32, so the returned scores are score_i above. Users without a
 * known history get the items most often seen in training (`fallback: 'popularity'`, scores
 * are counts). `similar(i)` ranks items by cosine between their e_i.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { LmrecError } from '../errors.js';
import { checkItemRecord } from '../data/limits.js';
import type { EventRecord, ItemRecord } from '../data/records.js';
import type { Scorer } from '../eval/leave-one-out.js';
import { native } from '../addon/loader.js';
import { DEFAULT_MODEL_DIR } from '../lm/default-model.js';
import { LanguageModel } from '../lm/language-model.js';
import { SequentialRecommender } from '../srm/sequential-recommender.js';
import { compileItemTemplate } from '../text/item-template.js';
import { parseOptions } from '../util/options.js';
import { BackgroundWork } from './background.js';
import { Catalog } from './catalog.js';
import { ContentIndex } from './content-index.js';
import { ContentScores } from './content-scores.js';
import { fitParts, modelScorer, type FittedParts, type LayerSweep } from './fit.js';
import { applyScaling, encodeItemStates } from './item-states.js';
import { rerank, type RerankStage } from './lm-stage.js';
import {
  loadOptionsSchema,
  type AddEventsReport,
  type FitReport,
  type IndexChoice,
  type IndexInfo,
  type ItemView,
  type Manifest,
  type Recommendations,
  type RecommenderFitOptions,
  type RecommenderLoadOptions,
  type RecommendRequest,
  type ScoredItem,
  type SimilarOptions,
} from './options.js';
import { recommend, recommendMany, similar } from './ranking.js';
import { openRecommenderDir, writeRecommenderDir } from './recommender-files.js';
import { readSavedCatalog, readSavedHistories, readSavedScaling, SAVED_PARTS, savedManifestSchema, writeSavedParts } from './saved-parts.js';
import { ServingIndexes } from './serving.js';
import { itemNumbers, itemTemplate, live, type RecommenderState } from './state.js';

export * from './options.js';
export type { RerankStage } from './lm-stage.js';
export type { LayerSweep } from './fit.js';

export class Recommender {
  readonly #s: RecommenderState;
  readonly #work: BackgroundWork;
  readonly #backgroundThreads: number | undefined;

  private constructor(parts: FittedParts, o: { index?: IndexChoice | undefined; updateIntervalMs?: number | undefined; updateThreads?: number | undefined } = {}) {
    this.#s = {
      ...parts,
      serving: new ServingIndexes(o.index ?? 'auto'),
      lexical: undefined,
      popular: undefined,
      catalogTemplate: undefined,
      lmOwned: false,
      removed: new Set(),
      warming: new Set(),
    };
    this.#work = new BackgroundWork(this.#s, () => this.#reindex(), o);
    this.#backgroundThreads = o.updateThreads;
  }

  /** What the last fit measured (kept with the saved model). */
  get report(): FitReport {
    return this.#s.manifest.report;
  }

  /** The LM layer whose states represent items. */
  get layer(): number {
    return this.#s.manifest.layer;
  }

  /** Items in the catalog, removed ones included. */
  get items(): number {
    return this.#s.catalog.size;
  }

  /** The serving indexes: exact or partitioned, recommend()'s partitions (1 when exact), and the bytes all three hold. */
  get indexInfo(): IndexInfo {
    return this.#s.serving.info;
  }

  /** Users with a stored history (from fit or addEvents). */
  get users(): number {
    return this.#s.users.size;
  }

  /**
   * An item's id and fields, or undefined when it is not in the catalog.
   * @param id The item's id.
   */
  item(id: string): ItemView | undefined {
    const i = this.#s.catalog.ids.get(id);
    return i === undefined || this.#s.removed.has(i) ? undefined : { id, fields: this.#s.catalog.fields[i]! };
  }

  /**
   * Replaces an item's fields: item(), filters and rerank's texts read the new ones at once.
   * Its code still comes from the text it was encoded from, until the next fit. UNKNOWN_ID for
   * an item not in the catalog.
   * @param id The item's id.
   * @param fields Its new fields, whole (strings only): they replace the old ones.
   */
  setItemFields(id: string, fields: Readonly<Record<string, string>>): void {
    const i = this.#s.catalog.ids.get(id);
    if (i === undefined || this.#s.removed.has(i)) throw new LmrecError(`item '${String(id)}' is not in the catalog`, 'UNKNOWN_ID');
    if (fields === null || typeof fields !== 'object' || Object.values(fields).some((v) => typeof v !== 'string')) {
      throw new LmrecError('fields must be an object of strings', 'INVALID_ARGUMENT');
    }
    this.#s.catalog.setFields(i, { ...fields });
  }

  /** Every item in answers, in catalog order (removed ones left out). */
  *listItems(): IterableIterator<ItemView> {
    for (let i = 0; i < this.#s.catalog.size; i++) {
      if (!this.#s.removed.has(i)) yield { id: this.#s.catalog.ids.name(i), fields: this.#s.catalog.fields[i]! };
    }
  }

  /**
   * Takes items out of every answer (recommend, rerank, similar) and out of item(), e.g. when
   * they leave the catalog. Their rows stay in the model, so restoreItems() brings them back
   * at once. Not saved with the model: a service keeps the catalog's truth in its store.
   * UNKNOWN_ID for an id the catalog never had; returns how many were in answers before.
   * @param ids Ids of catalog items; already removed ones are left as they are.
   */
  removeItems(ids: readonly string[]): number {
    const items = itemNumbers(this.#s, ids, 'ids', false).items;
    let n = 0;
    for (const i of items) {
      if (this.#s.removed.has(i)) continue;
      this.#s.removed.add(i);
      n++;
    }
    return n;
  }

  /**
   * Brings removed items back into answers; returns how many were removed.
   * @param ids Ids of catalog items; those not removed are left as they are.
   */
  restoreItems(ids: readonly string[]): number {
    let n = 0;
    for (const i of itemNumbers(this.#s, ids, 'ids', false).items) if (this.#s.removed.delete(i)) n++;
    return n;
  }

  /**
   * Whether a user has a stored history (from fit or addEvents).
   * @param id The user's id.
   */
  hasUser(id: string): boolean {
    return this.#s.users.get(id) !== undefined;
  }

  /** The task module, for evaluation and tools. */
  get srm(): SequentialRecommender {
    return live(this.#s);
  }

  /**
   * Scores of every item for evaluation splits (item numbers in catalog order), as
   * recommend() ranks them: the evaluation's view of the whole model.
   */
  scorer(): Scorer {
    return modelScorer(live(this.#s), this.#s.content);
  }

  /**
   * Reads the catalog and events, encodes every item's text with the language model, sweeps
   * the layers (layer 'auto'), trains the compression and task modules jointly with early
   * stopping on the validation split (the last two events of each user are validation and
   * test, as in the evaluation), and indexes the item embeddings.
   * @param options The catalog, events, language model and training settings (see RecommenderFitOptions).
   */
  static async fit(options: RecommenderFitOptions): Promise<Recommender> {
    const t0 = performance.now();
    const rec = new Recommender((await fitParts(options, false)) as FittedParts);
    options.onProgress?.({ stage: 'indexing', done: 0, total: 1 });
    await rec.#serve();
    options.onProgress?.({ stage: 'indexing', done: 1, total: 1 });
    rec.#s.manifest.report.seconds = (performance.now() - t0) / 1000;
    return rec;
  }

  /**
   * The layer sweep alone (MARC's mid-layer analysis): each candidate layer's states probed on
   * validation users; no model is trained or kept. Takes fit's options (`layer` is ignored;
   * `budget` bounds the whole sweep).
   * @param options fit()'s options.
   */
  static async sweepLayers(options: RecommenderFitOptions): Promise<LayerSweep> {
    return (await fitParts({ ...options, layer: 'auto' }, true)) as LayerSweep;
  }

  /**
   * Loads a directory written by save(): the manifest and every part are checked against their
   * checksums, then against each other; any damage is a CORRUPT_FILE naming the part.
   * @param dir A directory written by save() (or `lmrec fit`).
   * @param options Background learning from addEvents and the serving indexes.
   */
  static async load(dir: string, options: RecommenderLoadOptions = {}): Promise<Recommender> {
    const o = parseOptions(loadOptionsSchema, options, 'Recommender.load');
    const { manifest, part } = openRecommenderDir<Manifest>(dir, savedManifestSchema);
    const catalog = readSavedCatalog(part('catalog.jsonl'));
    const { users, histories } = readSavedHistories(part('histories.jsonl'), catalog.size);
    const H = manifest.model.hidden;
    const scales = readSavedScaling(part('scaling.f32'), H);
    const srm = await SequentialRecommender.load(part('srm.bin'));
    // read before the close below (a closed model answers CLOSED)
    const items = srm.items;
    const codeDim = srm.info.codeDim;
    if (items !== catalog.size || codeDim === 0) {
      srm.close();
      throw new LmrecError(`'${dir}': its model (${items} items, codes ${codeDim} wide) does not match its catalog of ${catalog.size} items`, 'CORRUPT_FILE');
    }
    let content: ContentScores;
    try {
      const state: unknown = manifest.content ?? { weight: 0, recent: 1, words: [], idf: [] };
      const template = compileItemTemplate(manifest.template, catalog.fieldNames());
      content = ContentScores.restore(state, catalog.fields.map((f) => template.render(f)));
    } catch (e) {
      srm.close();
      // the state and template come from the manifest: whatever they fail with is damage
      throw new LmrecError(`'${dir}': its content part is damaged (${(e as Error).message})`, 'CORRUPT_FILE');
    }
    const rec = new Recommender(
      { catalog, users, histories, manifest, scaling: { mean: scales.slice(0, H), scale: scales.slice(H) }, srm, content, lm: undefined },
      { index: o.index, updateIntervalMs: o.updateIntervalMs, updateThreads: o.updateThreads },
    );
    await rec.#serve();
    return rec;
  }

  /**
   * Writes the recommender to a directory (manifest, model, catalog, histories), atomically:
   * a failed save leaves the previous one intact. Waits for background updates first.
   * @param dir The directory to write: new, empty, or a saved recommender (replaced); any other directory is INVALID_ARGUMENT.
   */
  async save(dir: string): Promise<void> {
    await this.flush();
    const srm = live(this.#s);
    await writeRecommenderDir(dir, this.#s.manifest, async (tmp) => {
      mkdirSync(tmp, { recursive: true });
      await srm.save(path.join(tmp, 'srm.bin'));
      writeSavedParts(tmp, this.#s);
      return SAVED_PARTS;
    });
  }

  /**
   * The k best items for a user or an anonymous history, best first, filters applied before
   * the top k is taken. An unknown user with no history gets popular items (`fallback`).
   * @param request Whose recommendations (a user, a history or both), how many, and what to leave out.
   */
  recommend(request: RecommendRequest): Recommendations {
    return recommend(this.#s, request);
  }

  /**
   * recommend() for many requests at once, the scan off the JS thread: requests without a
   * filter share one batched scan (far cheaper per query than one scan each), fetching past
   * each one's exclusions and dropping them after; the rest (filters, long exclusion lists)
   * and the popularity fallbacks are answered by recommend(). The same answers as recommend(),
   * request by request, up to the int8 scan's approximation (a wider pool is rescored in fp32).
   * (`lmrec serve` batches concurrent requests this way.)
   * @param requests Requests as recommend() takes them; the answers come in the same order.
   */
  recommendMany(requests: readonly RecommendRequest[]): Promise<Recommendations[]> {
    return recommendMany(this.#s, requests);
  }

  /**
   * recommend(), re-ranked by a language model reading the history as text (late
   * interaction): the SRM's best `candidates` (default 50) are scored again as
   *   fused_i = u·e_i + weight · lm_i
   * where lm_i is, with an `LmRanker` (a model lmrec trained on this catalog, tuned for late
   * interaction), its item head's score of item i after the last `events` history items; with a
   * plain `LateInteraction`, the LM's mean per-token log-probability of the item's text after the
   * history's texts. The k best fused scores are returned. Candidates the LM cannot score (no
   * text; no head row) keep the SRM score alone; with an LmRanker, cold candidates (no training
   * events: the head only ever learned to rank them low) get the mean of the others' head
   * scores, so the stage does not bury what recommend() finds by text. Off the default path:
   * it costs an LM run per request and helps only with a model that knows the catalog. A
   * request without a known history is answered by popularity, as recommend() does.
   * @param request As recommend() takes it; k may not exceed `stage.candidates`.
   * @param stage The model that re-ranks, its weight, the candidates and the history events it reads.
   */
  rerank(request: RecommendRequest, stage: RerankStage): Promise<Recommendations> {
    return rerank(this.#s, request, stage);
  }

  /**
   * Items most like `id`, best first, the item itself left out: cosine between item
   * embeddings (`by: 'behaviour'`, ID + code) or between their codes alone (`'content'`).
   * The default, 'auto', compares a cold item (no ID embedding) by content, since its
   * embedding and a warm item's are not alike in kind.
   * @param id The item's id (UNKNOWN_ID when not in the catalog).
   * @param options How many (k, default 10, as recommend's), what to compare (by), and items to leave out (exclude, filter).
   */
  similar(id: string, options: SimilarOptions = {}): ScoredItem[] {
    return similar(this.#s, id, options);
  }

  /**
   * New items, encoded by the language model, compressed and indexed without a refit; they
   * are recommendable at once by their code. Needs the model the recommender was fit with
   * (loaded on first use). DUPLICATE_ID for an id already in the catalog.
   * @param items Item records (`{ id, fields }`) with new ids, held to the input limits.
   */
  async addItems(items: readonly ItemRecord[]): Promise<string[]> {
    if (!Array.isArray(items)) throw new LmrecError('addItems needs an array of item records', 'INVALID_ARGUMENT');
    items.forEach((it, i) => checkItemRecord(it, 'INVALID_DATA', `item ${i}`)); // the limits fit and the store apply
    if (items.length === 0) return [];
    return this.#work.enqueue(async () => {
      const probe = new Catalog();
      probe.add(items); // validates ids before anything changes
      for (const it of items) if (this.#s.catalog.ids.get(it.id) !== undefined) throw new LmrecError(`item '${it.id}' is already in the catalog`, 'DUPLICATE_ID');
      const template = itemTemplate(this.#s, items.flatMap((it) => Object.keys(it.fields ?? {})));
      const texts = items.map((it) => template.render(it.fields ?? {}));
      const lm = await this.#languageModel();
      const [raw] = await encodeItemStates(lm, texts, [this.#s.manifest.layer], { pooling: this.#s.manifest.pooling });
      const features = applyScaling(raw!, this.#s.scaling);
      const H = this.#s.scaling.mean.length;
      texts.forEach((t, j) => t.trim().length === 0 && features.fill(0, j * H, (j + 1) * H));
      const srm = live(this.#s);
      await srm.addItems(features);
      const first = this.#s.catalog.size;
      this.#s.catalog.add(items);
      // new items have no events: they follow every counted item, in number order
      if (this.#s.popular) {
        const order = new Int32Array(first + items.length);
        order.set(this.#s.popular);
        for (let i = first; i < order.length; i++) order[i] = i;
        this.#s.popular = order;
      }
      this.#s.catalogTemplate = undefined;
      // the template's source is the fit's: only the new items' texts are rendered and read
      const { content, rows } = this.#s.content.withItems(texts);
      const lexical = await this.#s.lexical?.withItems(content, rows);
      try {
        await this.#reindex();
      } catch (e) {
        await lexical?.close();
        throw e;
      }
      // with the indexes that hold the new items
      const old = this.#s.lexical;
      this.#s.content = content;
      this.#s.lexical = lexical;
      await old?.close();
      return items.map((it) => it.id);
    });
  }

  /**
   * Appends events to users' histories (recommendations see them at once) and updates the SRM
   * on them in the background (`flush()` waits for it). Events of unknown (or removed) items
   * are skipped and counted; unknown users are created. A user's history keeps its most recent
   * 10,000 events.
   * @param events Events (`{ user, item, ts? }`) in order; the users' histories grow in this order.
   */
  addEvents(events: readonly EventRecord[]): AddEventsReport {
    return this.#work.add(events);
  }

  /** Waits for background work (updates from addEvents, items being added); rethrows its failure once. */
  flush(): Promise<void> {
    return this.#work.flush();
  }

  /** Resolves when the background work queued so far has ended, its failure left for flush() to report. */
  whenIdle(): Promise<void> {
    return this.#work.whenIdle();
  }

  /**
   * Tells `listener` of each background SRM update that fails, when it fails (flush() still
   * rethrows the first one). A failed update changes nothing that serves: recommendations keep
   * coming from the last good model. Returns the function that removes the listener.
   * @param listener Called with each failure.
   */
  onBackgroundError(listener: (error: unknown) => void): () => void {
    return this.#work.onError(listener);
  }

  /** The last background update's failure while no later update has succeeded; undefined when healthy. */
  get backgroundFailure(): unknown {
    return this.#work.failure;
  }

  /** Frees the models and indexes after background work ends; any later call is CLOSED. */
  async close(): Promise<void> {
    const s = this.#s;
    if (!s.srm) return;
    await this.#work.whenIdle().catch(() => undefined);
    s.srm.close();
    s.srm = undefined;
    s.serving.close();
    await s.lexical?.close();
    s.lexical = undefined;
    if (s.lm && s.lmOwned) await s.lm.close();
    s.lm = undefined;
  }

  async #languageModel(): Promise<LanguageModel> {
    if (this.#s.lm) return this.#s.lm;
    const src = this.#s.manifest.model.source;
    if (src === '(given)') throw new LmrecError('this recommender was fit with a LanguageModel object: adding items needs the model, pass it to fit from a directory', 'UNSUPPORTED');
    // background work: its threads bounded as the updates' are (onnxruntime's threads spin
    // between operators, and on a small server they took the cores requests needed)
    const lm = await LanguageModel.load(src === 'default' ? DEFAULT_MODEL_DIR : src, this.#backgroundThreads ? { threads: this.#backgroundThreads } : {});
    if (lm.config.hidden !== this.#s.manifest.model.hidden) {
      await lm.close();
      throw new LmrecError(`the model at '${src}' is ${lm.config.hidden} wide, not the ${this.#s.manifest.model.hidden} this recommender was fit with`, 'DIM_MISMATCH');
    }
    this.#s.lm = lm;
    this.#s.lmOwned = true;
    return lm;
  }

  /** Everything requests read, built for a fit or loaded model: the content part's index and the serving indexes. */
  async #serve(): Promise<void> {
    if (this.#s.content.active) this.#s.lexical = await ContentIndex.build(this.#s.content);
    await this.#reindex();
  }

  /** The serving indexes brought up to the current model (see ServingIndexes.reindex). */
  async #reindex(): Promise<void> {
    await this.#s.serving.reindex(live(this.#s), this.#s.catalog.size);
    // at the swap, before any event can arrive: the new mask holds every item warmed until now
    this.#s.warming.clear();
    // what the old indexes (and the update's training) freed goes back to the OS, off the JS
    // thread: otherwise glibc keeps it in its arenas and RSS climbs with every update
    await native.releaseMemory();
  }
}
