/**
 * The LM stage: recommend()'s candidates re-ranked by a language model reading the history as
 * text (M6-Rec's late interaction), or by a model lmrec trained on the catalog (LmRanker).
 */
import { z } from 'zod';
import { LmrecError } from '../errors.js';
import { LateInteraction } from '../lm/late-interaction.js';
import { parseOptions } from '../util/options.js';
import { LmRanker } from './lm-ranker.js';
import type { Recommendations, RecommendRequest, ScoredItem } from './options.js';
import { checkK, MAX_K, recommend, requestHistory, result } from './ranking.js';
import { itemTemplate, type RecommenderState } from './state.js';

/** What re-ranks, and how much: see Recommender.rerank. */
export interface RerankStage {
  /**
   * What scores the candidates: an LmRanker (its item head, for a model trained on this
   * catalog) or a LateInteraction (the LM's log-probability of each item's text).
   */
  model: LateInteraction | LmRanker;
  /** Weight of the LM's score beside the SRM's. Default 1. */
  weight?: number;
  /** The SRM's best this many are re-ranked. Default 50. */
  candidates?: number;
  /** The last this many history events are read. Default 20. */
  events?: number;
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
 * events) get the mean of the others' head scores. Off the default path: it costs an LM run per
 * request and helps only with a model that knows the catalog. A request without a known
 * history is answered by popularity, as recommend() does.
 */
const settingsSchema = z.strictObject({
  weight: z.number().min(0).finite().default(1),
  candidates: z.number().int().min(1).max(MAX_K).default(50),
  events: z.number().int().min(1).default(20),
});
const stageSchema = settingsSchema.extend({
  model: z.custom<LateInteraction | LmRanker>((m) => m instanceof LateInteraction || m instanceof LmRanker, 'model must be a LateInteraction or an LmRanker'),
});

/** A stage's settings (all but the model) with their defaults; INVALID_ARGUMENT for what rerank would refuse. */
export function rerankSettings(options: Omit<RerankStage, 'model'>): Required<Omit<RerankStage, 'model'>> {
  return parseOptions(settingsSchema, options, 'rerank stage');
}

export async function rerank(s: RecommenderState, request: RecommendRequest, options: RerankStage): Promise<Recommendations> {
  const k = checkK(request?.k ?? 10);
  const stage = parseOptions(stageSchema, options, 'rerank stage');
  const { weight, candidates: n, events: m } = stage;
  if (n < k) throw new LmrecError(`rerank stage options: candidates (${n}) must be at least k (${k})`, 'INVALID_ARGUMENT');
  const first = recommend(s, { ...request, k: n });
  if (first.fallback || first.items.length === 0) return result(first.items.slice(0, k), first.fallback, first.ignored);
  const history = requestHistory(s, request).history.slice(-m);
  const scored = stage.model instanceof LmRanker ? await rankerScores(s, stage.model, history, first.items) : await textScores(s, stage.model, history, first.items);
  if (!scored) return result(first.items.slice(0, k), null, first.ignored);
  const fused = first.items.map((x) => ({ id: x.id, score: x.score }));
  scored.at.forEach((j, i) => (fused[j]!.score += weight * scored.scores[i]!));
  fused.sort((a, b) => b.score - a.score || s.catalog.ids.get(a.id)! - s.catalog.ids.get(b.id)!);
  return result(fused.slice(0, k), null, first.ignored);
}

/** The stage's item-head scores for a request of the Recommender's (see candidateHeadScores). */
function rankerScores(s: RecommenderState, ranker: LmRanker, history: number[], first: ScoredItem[]): Promise<{ at: number[]; scores: Float32Array } | undefined> {
  const warm = s.serving.now.warm;
  const isWarm = (id: string) => {
    const i = s.catalog.ids.get(id)!;
    return (i < warm.length && warm[i] === 1) || s.warming.has(i);
  };
  return candidateHeadScores(ranker, history.map((i) => s.catalog.ids.name(i)), first, isWarm);
}

/**
 * The item head's scores of the candidates it has rows for (`at`: their places in `first`),
 * after the history items it can read; those of cold candidates (`warm` false: no training
 * events, so their rows only ever learned to lose and the head buries the items recommend()
 * finds by their text) made undecided (see undecidedAsMean). Undefined when the head has
 * nothing to say. The stage and `lmrec eval rerank` (chooseRerank) both score this way.
 * @param ranker The model.
 * @param history Item ids, oldest first (those the ranker cannot read are skipped).
 * @param first recommend()'s candidates, best first.
 * @param warm Whether an item had training events.
 */
export async function candidateHeadScores(ranker: LmRanker, history: readonly string[], first: readonly { id: string }[], warm: (id: string) => boolean): Promise<{ at: number[]; scores: Float32Array } | undefined> {
  const ids = history.filter((id) => ranker.readable(id));
  const at = first.flatMap((x, j) => (ranker.scorable(x.id) ? [j] : []));
  if (ids.length === 0 || at.length === 0) return undefined;
  const scores = undecidedAsMean(await ranker.scores(ids, at.map((j) => first[j]!.id)), (x) => warm(first[at[x]!]!.id));
  return scores && { at, scores };
}

/**
 * An LM's candidate scores with the undecided ones (`decided(x)` false) set to the mean of the
 * decided: the fusion then moves them by the list's average, keeping recommend()'s order for
 * them against the rest. Undefined when none is decided (the LM then changes nothing).
 * @param scores The LM's score of each candidate.
 * @param decided Whether the LM's score of candidate x means something.
 */
export function undecidedAsMean(scores: Float32Array, decided: (x: number) => boolean): Float32Array | undefined {
  let sum = 0;
  let n = 0;
  scores.forEach((v, x) => {
    if (decided(x)) {
      sum += v;
      n++;
    }
  });
  if (n === 0) return undefined;
  const mean = sum / n;
  return scores.map((v, x) => (decided(x) ? v : mean));
}

/** The LM's mean log-probability of each candidate's text after the history's texts. */
async function textScores(s: RecommenderState, li: LateInteraction, history: number[], first: ScoredItem[]): Promise<{ at: number[]; scores: Float32Array } | undefined> {
  const template = itemTemplate(s, []);
  const text = (i: number) => template.render(s.catalog.fields[i]!);
  const historyTexts = history.map(text).filter((t) => t.trim().length > 0);
  const ids = first.map((x) => s.catalog.ids.get(x.id)!);
  const at = ids.flatMap((i, j) => (text(i).trim().length > 0 ? [j] : []));
  if (historyTexts.length === 0 || at.length === 0) return undefined;
  return { at, scores: await li.score(historyTexts, at.map((j) => text(ids[j]!))) };
}
