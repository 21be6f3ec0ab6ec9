/**
 * `lmrec eval`: leave-one-out evaluation (src/cli/eval.ts runs it), and the parent of
 * `eval quality`, `eval collab` and `eval rerank`, which take its options as their own.
 */
import { Command, Option } from 'commander';
import { SRM_DEFAULTS, type SrmFitOptions } from '../../srm/sequential-recommender.js';
import type { CommandKit } from '../command-kit.js';
import { runEval } from '../eval.js';
import { srmFromEval } from '../eval-quality.js';
import { interruptOnCtrlC } from '../interrupt.js';
import { budget, fraction, layerList, positive, positiveInt } from '../options.js';
import { collabCommand } from './eval-collab.js';
import { qualityCommand, runQuality } from './eval-quality.js';
import { rerankCommand } from './eval-rerank.js';

interface EvalCliOptions {
  items: string;
  events: string;
  out?: string;
  json?: boolean;
  srm: boolean;
  srmEpochs: number;
  srmPatience: number;
  srmDim: number;
  srmBlocks: number;
  srmHeads?: number;
  srmMaxLen: number;
  srmLoss: 'full' | 'sampled' | 'auto';
  srmDropout?: number;
  srmLr?: number;
  srmBatchSize?: number;
  srmBeta1?: number;
  srmBeta2?: number;
  srmValidateEvery?: number;
  srmMaxSeconds?: number;
  srmOut?: string;
  threads?: number;
  seed: number;
  sampledNegatives?: number;
  lm?: string;
  coldItems?: number;
  budget?: number;
  layers?: number[];
}

export function evalCommand(kit: CommandKit): Command {
  return new Command('eval')
    .description('leave-one-out evaluation (full ranking, history masked, ties at chance): HR@K, NDCG@K, MRR')
    .requiredOption('--items <file>', 'catalog (.jsonl or .csv with an id column)')
    .requiredOption('--events <file>', 'interactions (.jsonl or .csv with user, item and optionally ts)')
    .option('--out <file>', 'write the report as JSON')
    .option('--json', 'print the report as JSON on stdout (progress goes to stderr)')
    .option('--no-srm', 'leave the SRM out (popularity only)')
    .option('--srm-epochs <count>', 'most SRM epochs (early stopping on validation NDCG@10)', positiveInt, 200)
    .option('--srm-patience <count>', 'validations without improvement before stopping', positiveInt, 5)
    .option('--srm-dim <dim>', 'SRM embedding width', positiveInt, SRM_DEFAULTS.dim)
    .option('--srm-blocks <count>', 'SRM self-attention blocks', positiveInt, SRM_DEFAULTS.blocks)
    .option('--srm-heads <count>', 'SRM attention heads (must divide the width; default 1)', positiveInt)
    .option('--srm-max-len <count>', 'most recent events the SRM reads', positiveInt, SRM_DEFAULTS.maxLen)
    .addOption(new Option('--srm-loss <loss>', 'full softmax, sampled softmax, or auto (full up to 20,000 items)').choices(['full', 'sampled', 'auto']).default('auto'))
    .option('--srm-dropout <p>', 'SRM dropout probability', fraction)
    .option('--srm-lr <lr>', 'SRM learning rate', positive)
    .option('--srm-batch-size <count>', 'SRM training windows per step', positiveInt)
    .option('--srm-beta1 <b>', "Adam's first-moment decay", fraction)
    .option('--srm-beta2 <b>', "Adam's second-moment decay", fraction)
    .option('--srm-validate-every <count>', 'validate every this many epochs', positiveInt)
    .option('--srm-max-seconds <s>', 'training time budget; the best weights so far are kept', positive)
    .option('--srm-out <file>', 'save the trained SRM')
    .option('--threads <count>', 'training threads (default: all)', positiveInt)
    .option('--seed <seed>', 'random seed', positiveInt, 1)
    .option('--sampled-negatives <count>', 'rank among this many sampled negatives instead of the full catalog', positiveInt)
    .option('--lm <dir>', "also rank with the item head of a model lmrec trained (pretrain, distill); for eval quality, lmrec's LM (default: the bundled one); for eval rerank, the model that re-ranks")
    .option('--cold-items <fraction>', 'for eval quality: the share of items made cold (default 0.1). Without the subcommand: deprecated, runs eval quality', fraction)
    .option('--budget <time>', 'for eval quality: an optional time bound of each fit', budget)
    .option('--layers <list>', "for eval quality: layers lmrec's sweep tries, e.g. 0,2,4", layerList)
    .addCommand(qualityCommand(kit))
    .addCommand(collabCommand(kit))
    .addCommand(rerankCommand(kit))
    .addHelpText(
      'after',
      kit.examples(
        'lmrec eval --items items.jsonl --events events.jsonl --srm-max-seconds 120',
        'lmrec eval --items items.jsonl --events events.jsonl --no-srm --lm ./my-lm --out eval.json',
        'lmrec eval quality --items items.jsonl --events events.jsonl --cold-items 0.1 --seeds 1,2 --out quality.json',
      ),
    )
    .action(async (opts: EvalCliOptions, cmd: Command) => {
      if (opts.coldItems !== undefined) {
        // deprecated: the quality table moved to `lmrec eval quality`; the same run, eval's
        // --seed, --srm-epochs and --srm-patience standing in for --seeds, --epochs and --patience
        process.stderr.write('lmrec: `eval --cold-items` is deprecated: use `lmrec eval quality --cold-items F` (see lmrec eval quality --help)\n');
        const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
        await runQuality(kit, opts.json, {
          items: opts.items,
          events: opts.events,
          coldItems: opts.coldItems,
          seeds: given('seed') ? [opts.seed] : undefined,
          epochs: given('srmEpochs') ? opts.srmEpochs : undefined,
          patience: given('srmPatience') ? opts.srmPatience : undefined,
          budget: opts.budget,
          lm: opts.lm,
          layers: opts.layers,
          srm: srmFromEval(cmd),
          threads: opts.threads,
          out: opts.out,
        });
        return;
      }
      // The first Ctrl-C stops training at its next step and the evaluation goes on with the best
      // weights; a second one exits at once.
      const signal = interruptOnCtrlC('stopping training');
      const srm: SrmFitOptions | false = opts.srm && {
        signal,
        epochs: opts.srmEpochs,
        patience: opts.srmPatience,
        dim: opts.srmDim,
        blocks: opts.srmBlocks,
        heads: opts.srmHeads,
        maxLen: opts.srmMaxLen,
        loss: opts.srmLoss,
        dropout: opts.srmDropout,
        lr: opts.srmLr,
        batchSize: opts.srmBatchSize,
        beta1: opts.srmBeta1,
        beta2: opts.srmBeta2,
        validateEvery: opts.srmValidateEvery,
        maxSeconds: opts.srmMaxSeconds,
        seed: opts.seed,
        threads: opts.threads,
      };
      const run = { items: opts.items, events: opts.events, out: opts.out, srm, srmOut: opts.srmOut, sampledNegatives: opts.sampledNegatives, lm: opts.lm };
      // With --json, stdout carries the report alone.
      const progress = opts.json ? process.stderr : process.stdout;
      const report = await runEval(run, (line) => progress.write(`${line}\n`));
      if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
    });
}
