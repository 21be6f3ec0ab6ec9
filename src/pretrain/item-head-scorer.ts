/**
 * Scores from the item head of a model lmrec trained (pretrain or distill): each history is
 * written as text the way the model learned it (its template, separator, BOS), run through the
 * native decoder, and the head's scores are mapped from the model's item order (lmrec.json) to
 * the catalog's. `lmrec eval --lm DIR` ranks with it beside popularity and the SRM.
 */
import { LmrecError } from '../errors.js';
import type { IdMap } from '../data/interactions.js';
import type { Scorer } from '../eval/leave-one-out.js';
import { tokenizerFromJson } from '../lm/tokenizer.js';
import { native } from '../addon/loader.js';
import { historyCorpus } from './behaviour-corpus.js';
import { behaviourEncoder, readCatalog } from './behaviour-data.js';
import { renderItemTexts } from '../text/item-template.js';
import { fillParams, importModel } from './hf-model.js';

export interface ItemHeadScorer {
  scorer: Scorer;
  close(): void;
}

/** The item head of `dir` as a scorer over the catalog of `itemsFile` (whose integer ids `catalog` holds). */
export async function openItemHeadScorer(dir: string, itemsFile: string, catalog: IdMap, threads?: number): Promise<ItemHeadScorer> {
  const m = importModel(dir);
  if (!m.shape.items || !m.info?.items) throw new LmrecError(`'${dir}' has no item head (train one with lmrec pretrain)`, 'UNSUPPORTED');
  const { records } = await readCatalog(itemsFile);
  const headRow = new Int32Array(catalog.size);
  const rowOf = new Map(m.info.items.map((id, i) => [id, i]));
  for (let i = 0; i < catalog.size; i++) {
    const row = rowOf.get(catalog.name(i));
    if (row === undefined) throw new LmrecError(`item '${catalog.name(i)}' is not in the catalog '${dir}' was trained on: pretrain it on this catalog`, 'INVALID_DATA');
    headRow[i] = row;
  }
  const { texts } = renderItemTexts(records, m.info.template);
  const tokenizer = tokenizerFromJson(JSON.parse(m.tokenizer['tokenizer.json']) as object, JSON.parse(m.tokenizer['tokenizer_config.json']) as object, dir);
  const encoder = behaviourEncoder({ texts }, tokenizer, { bos: m.bos, eos: m.eos, context: m.info.context ?? m.shape.maxPositions, separator: m.info.separator });
  const trainer = new native.NativeLmTrainer(m.shape);
  trainer.setParams(fillParams(trainer, m.tensors, trainer.params()));
  const items = m.shape.items;
  const scorer: Scorer = async (splits) => {
    const scores = await trainer.itemScores(historyCorpus(splits.map((s) => s.history), encoder), { threads, context: encoder.options.maxTokens });
    const out = new Float32Array(splits.length * catalog.size);
    for (let s = 0; s < splits.length; s++) for (let i = 0; i < catalog.size; i++) out[s * catalog.size + i] = scores[s * items + headRow[i]!]!;
    return out;
  };
  return { scorer, close: () => trainer.close() };
}
