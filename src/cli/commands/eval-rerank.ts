/**
 * `lmrec eval rerank`, a subcommand of `lmrec eval`: the LM stage's weight and history length
 * chosen on validation users (src/eval/rerank-choice.ts), its test NDCG@10 beside recommend()
 * alone, and the `lmrec serve --rerank` line that serves it.
 */
import { Command, Option } from 'commander';
import { readCatalogIds, readInteractions } from '../../data/interactions.js';
import { readItems, type ItemRecord } from '../../data/records.js';
import { coldShareOf, describeColdShare, setAsideForColdShare } from '../../eval/cold-share.js';
import { leaveOneOut, sampleSplits, type Split } from '../../eval/leave-one-out.js';
import { rerankChart } from '../../eval/rerank-chart.js';
import { chooseRerank, type RerankChoice } from '../../eval/rerank-choice.js';
import { LmRanker } from '../../recommender/lm-ranker.js';
import { Recommender } from '../../recommender/recommender.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { CommandKit } from '../command-kit.js';
import { coldShareChoice, positiveInt } from '../options.js';

interface RerankCliOptions {
  items: string;
  events: string;
  lm?: string;
  model: string;
  candidates: number;
  users?: number;
  coldShare?: number | 'auto';
  precision: 'fp32' | 'int8';
  threads?: number;
  out?: string;
  svg?: string;
  json?: boolean;
}

export function rerankCommand(kit: CommandKit): Command {
  return new Command('rerank')
    .description("the LM stage (lmrec serve --rerank): its weight and history length chosen on validation users, test NDCG@10 against recommend() alone")
    .requiredOption('--model <dir>', 'the recommender (lmrec fit on the same --events)')
    .option('--candidates <n>', "how many of recommend()'s best are re-ranked", positiveInt, 50)
    .option('--users <n>', 'at most this many validation and test users (drawn at random)', positiveInt)
    .option(
      '--cold-share <x|auto>',
      "weight validation to this share of requests whose next item has no training events (leave-one-out's validation under-states the traffic's); 'auto': read it from the last events of test users left out of the measure (those --users leaves, else every other one)",
      coldShareChoice,
    )
    .option('--svg <file>', 'write the weight sweep as an SVG chart (test NDCG@10 of every user, warm and cold targets, against w)')
    .addOption(new Option('--precision <p>', "the LM's matrix products").choices(['fp32', 'int8']).default('fp32'))
    .addHelpText(
      'after',
      `\nAlso takes eval's --items and --events (required), --lm (required: a model lmrec pretrain trained on these\nevents and tuned with --local-layers), --out (the JSON result), --json and --threads.\n` +
        kit.examples(
          'lmrec fit --items items.jsonl --events events.jsonl --out rec',
          'lmrec pretrain --items items.jsonl --events events.jsonl --layers 6 --out lm',
          'lmrec pretrain --items items.jsonl --events events.jsonl --model lm --local-layers 2 --freeze-layers 2 --out tuned',
          'lmrec eval rerank --items items.jsonl --events events.jsonl --model rec --lm tuned --out rerank.json',
        ),
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<RerankCliOptions>();
      const log = kit.humanLog(o.json);
      if (!o.lm) return cmd.error("error: --lm <dir> is required: the model that re-ranks (lmrec pretrain, tuned with --local-layers)");
      const result = await runRerankEval(o, log);
      if (o.json) kit.printJson(result);
    });
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** What --cold-share did: weighted validation to it, or nothing (no cold-target users to weight, or only those). */
function coldNote(asked: number | undefined, choice: RerankChoice): string {
  if (asked === undefined) return '';
  return choice.weighted ? `; validation weighted to ${pct(asked)}` : '; --cold-share ignored: validation has no users with a cold target, or only those';
}

async function runRerankEval(o: RerankCliOptions, log: (line: string) => void): Promise<RerankChoice & { lm: string; model: string; precision: string }> {
  const catalog = await readCatalogIds(o.items);
  const split = leaveOneOut((await readInteractions(o.events, { items: catalog })).sequences);
  const users = o.users ?? Infinity;
  // the same users for validation and test (their places in both lists)
  const places = sampleSplits(Array.from(split.test, (_, j) => j), users, 11);
  const pick = { valid: places.map((j) => split.valid[j]!), test: places.map((j) => split.test[j]!) };
  // --cold-share auto: the traffic's share from test users measured nowhere here
  let setAside: Split[] = [];
  if (o.coldShare === 'auto') {
    const picked = new Set(places);
    if (picked.size < split.test.length) setAside = split.test.filter((_, j) => !picked.has(j));
    else ({ measured: pick.test, estimate: setAside } = setAsideForColdShare(split.test));
  }
  const records: ItemRecord[] = [];
  for await (const r of readItems(o.items)) records.push(r);
  const rec = await Recommender.load(o.model);
  try {
    const ranker = await LmRanker.load(o.lm!, records, { precision: o.precision, ...(o.threads ? { threads: o.threads } : {}) });
    try {
      let coldShare = o.coldShare === 'auto' ? undefined : o.coldShare;
      if (o.coldShare === 'auto') {
        const warm = rec.srm.idMask();
        coldShare = coldShareOf(setAside, (i) => warm[i] === 1);
        log(`cold targets among the last events of ${setAside.length} test users left out of the measure: ${describeColdShare(setAside.length, coldShare)}`);
      }
      log(`scoring ${pick.valid.length} validation and ${pick.test.length} test users (recommend()'s best ${o.candidates}, the LM after the last 10 and 20 events)`);
      let shown = 0;
      const choice = await chooseRerank(rec, ranker, pick, (i) => catalog.name(i), {
        candidates: o.candidates,
        ...(coldShare !== undefined ? { coldShare } : {}),
        onProgress: (done, total) => {
          const reached = Math.floor((100 * done) / total);
          if (reached >= shown + 10 || done === total) log(`  ${(shown = reached)}% (${done}/${total} users)`);
        },
      });
      log(`\ncold targets (no training events): ${pct(choice.validColdShare)} of validation, ${pct(choice.testColdShare)} of test users${coldNote(coldShare, choice)}`);
      log(`validation NDCG@10 by weight (rows: history events read)${choice.weighted ? `, weighted to ${pct(choice.coldShare)} cold targets` : ''}:`);
      const weights = [...new Set(choice.grid.map((g) => g.weight))];
      log(`  events ${weights.map((w) => `w=${w}`.padStart(8)).join('')}`);
      for (const m of new Set(choice.grid.map((g) => g.events))) {
        log(`  ${String(m).padStart(6)} ${weights.map((w) => choice.grid.find((g) => g.events === m && g.weight === w)!.validNdcg10.toFixed(4).padStart(8)).join('')}`);
      }
      log(`\nchosen: weight ${choice.weight}, the last ${choice.events} events (validation NDCG@10 ${choice.validNdcg10.toFixed(4)})`);
      log(`test NDCG@10: ${choice.testNdcg10.toFixed(4)} re-ranked, ${choice.aloneTestNdcg10.toFixed(4)} recommend() alone (${choice.gain >= 0 ? '+' : ''}${(100 * choice.gain).toFixed(1)}%)`);
      const chosen = choice.grid.find((g) => g.weight === choice.weight && g.events === choice.events)!;
      const group = (a: number, b: number) => (Number.isNaN(a) ? 'no users' : `${b.toFixed(4)} re-ranked, ${a.toFixed(4)} alone`);
      log(`  users with a cold target: ${group(choice.aloneGroups.cold, chosen.cold.test)}; with a warm one: ${group(choice.aloneGroups.warm, chosen.warm.test)}`);
      log(
        choice.weight > 0
          ? `serve it: lmrec serve --model ${o.model} --rerank ${o.lm} --rerank-weight ${choice.weight} --rerank-events ${choice.events} --rerank-candidates ${o.candidates}${o.precision === 'int8' ? ' --rerank-precision int8' : ''}`
          : 'the stage does not help on validation users: serve without --rerank',
      );
      const result = { ...choice, lm: o.lm!, model: o.model, precision: o.precision };
      if (o.out) writeFileAtomic(o.out, `${JSON.stringify(result, null, 1)}\n`);
      if (o.svg) {
        writeFileAtomic(o.svg, rerankChart(choice, `The LM stage: NDCG@10 against its weight (${o.lm})`));
        log(`wrote the weight sweep to ${o.svg}`);
      }
      return result;
    } finally {
      await ranker.close();
    }
  } finally {
    await rec.close();
  }
}
