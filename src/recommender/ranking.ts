/**
 * Answering requests: a request's history and exclusions, the int8 scan of the item embeddings
 * (filters applied while scanning), the fp32 re-score, the content part fused in, and the
 * popularity fallback for requests without a known history; similar() over the same indexes.
 */
import { LmrecError } from '../errors.js';
import type { RecommenderState } from './state.js';
import { admitted, itemNumbers, live } from './state.js';
import type { ContentAsk, ContentRequest } from './content-index.js';
import type { Recommendations, RecommendRequest, ScoredItem, SimilarOptions } from './options.js';

/** Most results a request may ask for. */
export const MAX_K = 10_000;
/** recommendMany fetches past at most this many exclusions in the shared scan (more: a scan of their own). */
const BATCH_EXCLUDED = 256;
/** Candidates per result the int8 scan re-scores in fp32. */
const RESCORE = 4;

/** A request as recommend() and recommendMany() work on it (see prepare). */
export interface PreparedRequest {
  r: RecommendRequest;
  k: number;
  ignored: number;
  excluded: Set<number>;
  history: number[];
  state: Float32Array | undefined;
}

/** A prepared request answered on the calling thread: filters applied in the scan, or popularity without a state. */
export function answer(s: RecommenderState, p: PreparedRequest): Recommendations {
  const { r, k, ignored, excluded, state } = p;
  const only = admitted(s, r.filter);
  if (!state) return popularity(s, k, excluded, only, ignored);
  const width = s.lexical ? srmPool(s, k) : k;
  const found = s.serving.now.index.search(state, width, { rescore: RESCORE, exclude: [...excluded], ...(only ? { only } : {}) });
  if (!s.lexical) return result(found.ids.map((i, j) => ({ id: s.catalog.ids.name(i), score: found.scores[j]! })), null, ignored);
  const content = s.lexical.request(contentAsk(s, p, found.ids), s.serving.now.warm);
  return withContent(s, p, found.ids, found.scores, content, only);
}

/** What a request asks of the content part: its history, the SRM's candidates, and as many of the content's own best as the SRM's pool (and the exclusions they may hold). */
function contentAsk(s: RecommenderState, p: PreparedRequest, ids: ArrayLike<number>): ContentAsk {
  return { history: p.history, given: ids, limit: srmPool(s, p.k) + p.excluded.size };
}

/** With a content part: the SRM candidates a request fetches (they and the content's own candidates are fused). */
function srmPool(s: RecommenderState, k: number): number {
  return Math.min(s.serving.now.warm.length, Math.max(4 * k, 50));
}

/**
 * The k best fused scores (SRM + content) over the union of the SRM's best `ids` (admitted,
 * fp32 scores) and the content's best as many (of the items sharing a word with the history's
 * profile). An item in neither scores at most the SRM's worst candidate plus the content's
 * worst, so the union holds the exact top k whenever k candidates beat that sum (tested
 * against the exact scores; the pools are max(4k, 50)) and the content side's walk read every
 * posting of the profile's words (beyond CONTENT_POSTINGS its best are found among leaders).
 */
function withContent(s: RecommenderState, p: PreparedRequest, ids: ArrayLike<number>, scores: ArrayLike<number>, content: ContentRequest, only: number[] | undefined): Recommendations {
  const { vectors, warm } = s.serving.now;
  const { given, items, scores: extra } = content;
  const fused = new Map<number, number>();
  for (let j = 0; j < ids.length; j++) fused.set(ids[j]!, scores[j]! + given[j]!);
  const indexed = warm.length;
  const allowed = only ? new Set(only) : undefined;
  const state = p.state!;
  const d = state.length;
  items.forEach((i, j) => {
    if (fused.has(i) || i >= indexed || p.excluded.has(i) || (allowed && !allowed.has(i))) return;
    let dot = 0;
    for (let x = 0; x < d; x++) dot += state[x]! * vectors[i * d + x]!;
    fused.set(i, dot + extra[j]!);
  });
  const best = [...fused.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, p.k);
  return result(best.map(([i, score]) => ({ id: s.catalog.ids.name(i), score })), null, p.ignored);
}

/** A request checked: k, the items it must not get (exclusions, its history unless asked, removed items) and its user state. */
export function prepare(s: RecommenderState, request: RecommendRequest): PreparedRequest {
  const r = request ?? ({} as RecommendRequest);
  const k = checkK(r.k ?? 10);
  const { history, ignored } = requestHistory(s, r);
  const excluded = new Set<number>(itemNumbers(s, r.exclude ?? [], 'exclude', true).items);
  if (r.excludeSeen ?? true) for (const i of history) excluded.add(i);
  for (const i of s.removed) excluded.add(i);
  const srm = live(s);
  return { r, k, ignored, excluded, history, state: history.length > 0 ? srm.userVector(history) : undefined };
}

/**
 * recommend() for many requests at once, the scan off the JS thread: requests without a
 * filter share one batched scan (far cheaper per query than one scan each), fetching past
 * each one's exclusions and dropping them after; the rest (filters, long exclusion lists)
 * and the popularity fallbacks are answered by recommend(). The same answers as recommend(),
 * request by request, up to the int8 scan's approximation (a wider pool is rescored in fp32).
 * (`lmrec serve` batches concurrent requests this way.)
 */
export async function recommendMany(s: RecommenderState, requests: readonly RecommendRequest[]): Promise<Recommendations[]> {
  if (!Array.isArray(requests)) throw new LmrecError('recommendMany needs an array of requests', 'INVALID_ARGUMENT');
  const out: (Recommendations | undefined)[] = new Array(requests.length);
  const batch: (PreparedRequest & { at: number; state: Float32Array })[] = [];
  requests.forEach((request, at) => {
    const p = prepare(s, request);
    if (p.r.filter !== undefined || !p.state || p.excluded.size > BATCH_EXCLUDED) out[at] = answer(s, p);
    else batch.push({ ...p, at, state: p.state });
  });
  if (batch.length > 0) {
    const serving = s.serving.now;
    const want = (k: number) => (s.lexical ? srmPool(s, k) : k);
    const width = Math.max(...batch.map((b) => want(b.k) + b.excluded.size));
    const dim = batch[0]!.state.length;
    const queries = new Float32Array(batch.length * dim);
    batch.forEach((b, j) => queries.set(b.state, j * dim));
    const found = await serving.index.searchBatch(queries, Math.min(width, s.catalog.size), { rescore: RESCORE });
    const pools = batch.map((b, j) => {
      const ids: number[] = [];
      const scores: number[] = [];
      const f = found[j]!;
      for (let x = 0; x < f.ids.length && ids.length < want(b.k); x++) {
        if (b.excluded.has(f.ids[x]!)) continue;
        ids.push(f.ids[x]!);
        scores.push(f.scores[x]!);
      }
      return { ids, scores };
    });
    // the content side of the whole batch in one native call, off the JS thread, on the mask
    // of the indexes the candidates came from
    const lexical = s.lexical;
    const content = lexical ? await lexical.requests(batch.map((b, j) => contentAsk(s, b, pools[j]!.ids)), serving.warm) : [];
    batch.forEach((b, j) => {
      const { ids, scores } = pools[j]!;
      out[b.at] = lexical
        ? withContent(s, b, ids, scores, content[j]!, undefined)
        : result(ids.map((i, x) => ({ id: s.catalog.ids.name(i), score: scores[x]! })), null, b.ignored);
    });
  }
  return out as Recommendations[];
}

/** A request's history: the user's stored one, then the request's own items (unknown ones skipped and counted). */
export function requestHistory(s: RecommenderState, r: RecommendRequest): { history: number[]; ignored: number } {
  if (r.user !== undefined && typeof r.user !== 'string') throw new LmrecError('user must be a string id', 'INVALID_ARGUMENT');
  const u = r.user === undefined ? undefined : s.users.get(r.user);
  const stored = u === undefined ? [] : s.histories[u]!;
  const extra = itemNumbers(s, r.history ?? [], 'history', true);
  return { history: extra.items.length ? [...stored, ...extra.items] : stored, ignored: extra.ignored };
}

/**
 * Items most like `id`, best first, the item itself left out: cosine between item
 * embeddings (`by: 'behaviour'`, ID + code) or between their codes alone (`'content'`).
 * The default, 'auto', compares a cold item (no ID embedding) by content, since its
 * embedding and a warm item's are not alike in kind.
 */
export function similar(s: RecommenderState, id: string, options: SimilarOptions = {}): ScoredItem[] {
  if (options === null || typeof options !== 'object') throw new LmrecError('similar takes its options as an object, e.g. { k: 10 }', 'INVALID_ARGUMENT');
  const k = checkK(options.k ?? 10);
  live(s);
  const i = s.catalog.ids.get(id);
  if (i === undefined) throw new LmrecError(`item '${String(id)}' is not in the catalog`, 'UNKNOWN_ID');
  const by = options.by ?? 'auto';
  if (!['auto', 'behaviour', 'content'].includes(by)) throw new LmrecError(`by must be 'auto', 'behaviour' or 'content', got '${String(by)}'`, 'INVALID_ARGUMENT');
  const content = by === 'content' || (by === 'auto' && !s.serving.now.warm[i]);
  const { index, vectors } = content ? { index: s.serving.now.content, vectors: s.serving.now.codes } : { index: s.serving.now.similar, vectors: s.serving.now.vectors };
  const indexed = s.serving.now.warm.length; // items added since the last reindex are not in it yet
  if (i >= indexed) throw new LmrecError(`item '${id}' is being indexed; ask again in a moment`, 'BUSY');
  const d = vectors.length / indexed;
  if (s.removed.has(i)) throw new LmrecError(`item '${id}' was removed from the catalog`, 'UNKNOWN_ID');
  const exclude = [i, ...itemNumbers(s, options.exclude ?? [], 'exclude', true).items, ...s.removed];
  const only = admitted(s, options.filter);
  const found = index.search(vectors.subarray(i * d, (i + 1) * d), k, { rescore: RESCORE, exclude, ...(only ? { only } : {}) });
  return found.ids.map((x, j) => ({ id: s.catalog.ids.name(x), score: found.scores[j]! }));
}

function popularity(s: RecommenderState, k: number, excluded: Set<number>, only: number[] | undefined, ignored: number): Recommendations {
  const srm = live(s);
  const counts = srm.popularity();
  s.popular ??= popularOrder(counts);
  const allowed = only ? new Set(only) : undefined;
  const out: ScoredItem[] = [];
  for (const i of s.popular) {
    if (out.length >= k) break;
    if (excluded.has(i) || (allowed && !allowed.has(i))) continue;
    out.push({ id: s.catalog.ids.name(i), score: counts[i]! });
  }
  return result(out, 'popularity', ignored);
}

/**
 * Item numbers by count, highest first, ties by number. Counts are whole numbers of events: a
 * counting sort, O(items + highest count), where a comparison sort of 100k items held the JS
 * thread for ~50 ms after every background update. Anything else (a hand-made file) sorts.
 */
export function popularOrder(counts: Float32Array): Int32Array {
  let top = 0;
  let whole = true;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c > top) top = c;
    if (c < 0 || c !== Math.floor(c)) whole = false;
  }
  if (!whole || top > 4 * counts.length + 1024) {
    return Int32Array.from(counts.keys()).sort((a, b) => counts[b]! - counts[a]! || a - b);
  }
  const start = new Int32Array(top + 2); // start[top - c + 1]: how many items count more than c
  for (const c of counts) start[top - c + 1]!++;
  for (let j = 1; j < start.length; j++) start[j]! += start[j - 1]!;
  const order = new Int32Array(counts.length);
  for (let i = 0; i < counts.length; i++) order[start[top - counts[i]!]!++] = i;
  return order;
}

export function result(items: ScoredItem[], fallback: 'popularity' | null, ignored: number): Recommendations {
  return { items, fallback, ignored };
}

export function checkK(k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new LmrecError(`k must be a positive integer, got ${String(k)}`, 'INVALID_K');
  if (k > MAX_K) throw new LmrecError(`k must be at most ${MAX_K}, got ${k}`, 'REQUEST_TOO_LARGE');
  return k;
}

/** The k best items for a request (see Recommender.recommend). */
export function recommend(s: RecommenderState, request: RecommendRequest): Recommendations {
  return answer(s, prepare(s, request));
}
