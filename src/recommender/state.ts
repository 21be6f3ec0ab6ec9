/**
 * What a Recommender holds, shared by the modules that do its jobs (ranking, background
 * updates, the LM stage, saving): one plain object, owned by the Recommender facade.
 */
import { LmrecError } from '../errors.js';
import type { IdMap } from '../data/interactions.js';
import type { LanguageModel } from '../lm/language-model.js';
import { compileItemTemplate } from '../text/item-template.js';
import type { SequentialRecommender } from '../srm/sequential-recommender.js';
import type { Catalog } from './catalog.js';
import type { ContentIndex } from './content-index.js';
import type { ContentScores } from './content-scores.js';
import type { FeatureScaling } from './item-states.js';
import type { Manifest, RecommendRequest } from './options.js';
import type { ServingIndexes } from './serving.js';

export interface RecommenderState {
  readonly catalog: Catalog;
  readonly users: IdMap;
  /** Per user number: item numbers, oldest first. */
  readonly histories: number[][];
  readonly manifest: Manifest;
  readonly scaling: FeatureScaling;
  /** The task module; undefined once closed. */
  srm: SequentialRecommender | undefined;
  readonly serving: ServingIndexes;
  content: ContentScores;
  /** The content part as served requests read it (undefined while the content part is off). */
  lexical: ContentIndex | undefined;
  /** Items by training count, most first (rebuilt after updates). */
  popular: Int32Array | undefined;
  /** The fit's item template compiled over the catalog's fields (until items are added). */
  catalogTemplate: ReturnType<typeof compileItemTemplate> | undefined;
  lm: LanguageModel | undefined;
  /** Whether `lm` was loaded here (closed with the recommender), not the caller's. */
  lmOwned: boolean;
  /** Items out of every answer (removeItems). */
  readonly removed: Set<number>;
  /** Items warmed since the serving mask was taken. */
  readonly warming: Set<number>;
}

/** The SRM of an open recommender; CLOSED after close(). */
export function live(s: RecommenderState): SequentialRecommender {
  if (!s.srm) throw new LmrecError('this recommender was closed', 'CLOSED');
  return s.srm;
}

/** Item numbers of `ids`: unknown ones skipped and counted, or UNKNOWN_ID. */
export function itemNumbers(s: RecommenderState, ids: readonly string[], what: string, skipUnknown: boolean): { items: number[]; ignored: number } {
  if (!Array.isArray(ids)) throw new LmrecError(`${what} must be an array of item ids`, 'INVALID_ARGUMENT');
  const items: number[] = [];
  let ignored = 0;
  for (const id of ids) {
    const i = typeof id === 'string' ? s.catalog.ids.get(id) : undefined;
    if (i === undefined) {
      if (!skipUnknown) throw new LmrecError(`${what}: item '${String(id)}' is not in the catalog`, 'UNKNOWN_ID');
      ignored++;
    } else items.push(i);
  }
  return { items, ignored };
}

/** The items a filter admits (undefined: no filter, every item). */
export function admitted(s: RecommenderState, filter: RecommendRequest['filter']): number[] | undefined {
  if (filter === undefined) return undefined;
  if (typeof filter === 'function') {
    const out: number[] = [];
    s.catalog.fields.forEach((fields, i) => filter({ id: s.catalog.ids.name(i), fields }) && out.push(i));
    return out;
  }
  if (typeof filter !== 'object' || filter === null) throw new LmrecError('filter must be an object of field values or a predicate', 'INVALID_ARGUMENT');
  return s.catalog.matching(filter);
}

/**
 * The fit's item template over the catalog's fields (and `extra` ones, of items being
 * added); the catalog's own is compiled once and kept until items are added.
 */
export function itemTemplate(s: RecommenderState, extra: string[]): ReturnType<typeof compileItemTemplate> {
  if (extra.length === 0 && s.catalogTemplate) return s.catalogTemplate;
  const compiled = compileItemTemplate(s.manifest.template, [...new Set([...extra, ...s.catalog.fieldNames()])]);
  if (extra.length === 0) s.catalogTemplate = compiled;
  return compiled;
}
