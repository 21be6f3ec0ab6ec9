/**
 * What pretraining and distillation share: the catalog and interactions read and split as the
 * evaluation splits them, behaviour written as text with a model's tokenizer, and the item
 * head's leave-one-out metrics.
 */
import { LmrecError } from '../errors.js';
import { IdMap, readInteractions } from '../data/interactions.js';
import { readItems, type ItemRecord } from '../data/records.js';
import { evaluate, leaveOneOut, type LeaveOneOut, type Metrics, type Split } from '../eval/leave-one-out.js';
import type { TextTokenizer } from '../lm/tokenizer.js';
import type { NativeLmTrainer } from '../addon/lm-trainer.js';
import { historyCorpus, type BehaviourEncoder } from './behaviour-corpus.js';
import { renderItemTexts } from '../text/item-template.js';

export interface BehaviourData {
  catalog: IdMap;
  records: ItemRecord[];
  /** Each item's text, by integer id, and the template that wrote it. */
  texts: string[];
  template: string;
  split: LeaveOneOut;
}

export async function readCatalog(file: string): Promise<{ ids: IdMap; records: ItemRecord[] }> {
  const ids = new IdMap();
  const records: ItemRecord[] = [];
  for await (const item of readItems(file)) {
    if (ids.get(item.id) !== undefined) throw new LmrecError(`${file}: item '${item.id}' appears twice`, 'INVALID_DATA');
    ids.add(item.id);
    records.push(item);
  }
  if (records.length === 0) throw new LmrecError(`${file}: the catalog is empty`, 'INVALID_DATA');
  return { ids, records };
}

/** Reads the catalog and events, writes the items as text, and splits the histories. */
export async function readBehaviour(itemsFile: string, eventsFile: string, template?: string): Promise<BehaviourData> {
  const { ids, records } = await readCatalog(itemsFile);
  const data = await readInteractions(eventsFile, { items: ids });
  const rendered = renderItemTexts(records, template);
  return { catalog: ids, records, texts: rendered.texts, template: rendered.template.source, split: leaveOneOut(data.sequences) };
}

/**
 * Behaviour written with `tokenizer` over item texts (a catalog's `data.texts`, or texts a
 * model's template rendered): no special tokens of its own, BOS and EOS are placed explicitly.
 */
export function behaviourEncoder(
  data: { readonly texts: readonly string[] },
  tokenizer: TextTokenizer,
  o: { bos: number; eos: number; context: number; separator?: string | undefined },
): BehaviourEncoder {
  return {
    texts: data.texts,
    tokenizer: { encode: (text) => tokenizer.encode(text, false) },
    options: { bos: o.bos, eos: o.eos, maxTokens: o.context, ...(o.separator !== undefined ? { separator: o.separator } : {}) },
  };
}

/** The item head's HR@K / NDCG@K / MRR on the validation and test splits (empty without users of 3+ events). */
export async function itemHeadMetrics(
  trainer: NativeLmTrainer,
  data: BehaviourData,
  encoder: BehaviourEncoder,
  threads?: number,
): Promise<{ valid: Metrics; test: Metrics }> {
  if (data.split.valid.length === 0) return { valid: {}, test: {} };
  const context = encoder.options.maxTokens;
  const scorer = (splits: Split[]) => trainer.itemScores(historyCorpus(splits.map((s) => s.history), encoder), { threads, context });
  const ks = [1, 5, 10, 20];
  return {
    valid: await evaluate(data.split.valid, data.catalog.size, scorer, ks),
    test: await evaluate(data.split.test, data.catalog.size, scorer, ks),
  };
}

/** Whether a model's item head (lmrec.json's items) was trained on this catalog, row for row. */
export function headFitsCatalog(items: readonly string[] | undefined, data: BehaviourData): boolean {
  return items !== undefined && items.length === data.catalog.size && items.every((id, i) => id === data.catalog.name(i));
}

/** Catalog ids in integer order: the item head's row order, recorded in lmrec.json. */
export function itemIds(data: BehaviourData): string[] {
  return Array.from({ length: data.catalog.size }, (_, i) => data.catalog.name(i));
}
