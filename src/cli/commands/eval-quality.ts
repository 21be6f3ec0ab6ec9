/**
 * `lmrec eval quality`, the quality table (src/cli/eval-quality.ts runs it), a subcommand of
 * `lmrec eval`.
 */
import { Command, InvalidArgumentError } from 'commander';
import type { QualityVariant } from '../../eval/quality.js';
import type { CommandKit } from '../command-kit.js';
import { runQualityEval, srmFromEval, type QualityCommandOptions } from '../eval-quality.js';
import { interruptOnCtrlC } from '../interrupt.js';
import { nonNegativeInt, positiveInt } from '../options.js';

/** A comma-separated list of distinct seeds, e.g. '1,2,3'. */
function seedList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const n = parts.map((s) => Number(s.replace(/_/g, '')));
  if (parts.some((s) => s === '') || n.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError("expected seeds (integers >= 0) separated by commas, e.g. '1,2,3'");
  return [...new Set(n)];
}

/** A comma-separated list of lmrec variants: int8, fp32. */
function variantList(value: string): QualityVariant[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((s) => s !== 'int8' && s !== 'fp32')) throw new InvalidArgumentError("expected variants from 'int8' and 'fp32' separated by commas, e.g. 'int8,fp32'");
  return [...new Set(parts as QualityVariant[])];
}

interface QualityCliOptions {
  items: string;
  events: string;
  out?: string;
  json?: boolean;
  lm?: string;
  coldItems?: number;
  budget?: number;
  layers?: number[];
  threads?: number;
  seed?: number;
  seeds?: number[];
  coldSeed?: number;
  epochs?: number;
  patience?: number;
  template?: string;
  variants?: QualityVariant[];
}

/**
 * `lmrec eval quality`, a subcommand of `eval`. It takes eval's own --items, --events, --out,
 * --json, --threads, --lm, --cold-items, --budget, --layers and --srm-* shape options
 * (commander gives the parent the options it declares, wherever they stand), and adds its own
 * under names eval does not use.
 */
export function qualityCommand(kit: CommandKit): Command {
  return new Command('quality')
    .description('the quality table: popularity, content TF-IDF, ID-only SRM, SRM + content and lmrec (LM codes + SRM) on warm and cold test targets, over model seeds')
    .option('--seeds <list>', 'model seeds, comma-separated; every trained model is fit once per seed (default 1)', seedList)
    .option('--cold-seed <seed>', 'seed of the cold-item draw, shared by every model and seed', nonNegativeInt, 7)
    .option('--epochs <n>', 'most epochs of each training (early stopping on validation NDCG@10 decides)', positiveInt, 200)
    .option('--patience <n>', 'validations without improvement before stopping', positiveInt, 5)
    .option('--template <text>', "how an item reads, for content TF-IDF and lmrec alike, e.g. '{title} ({year}); {genres}' (default: its title, else every field)")
    .option('--variants <list>', "lmrec rows: 'int8' (the product's codes), 'fp32' (fp32 codes), comma-separated (default int8)", variantList)
    .addHelpText(
      'after',
      '\nAlso takes eval\'s --items and --events (required), --cold-items (share of items made cold; default 0.1), --budget\n' +
        "(an optional time bound of each fit), --lm (lmrec's language model; default the bundled one), --layers (layers\n" +
        "lmrec's sweep tries), --srm-dim, --srm-blocks, --srm-heads, --srm-max-len, --srm-lr, --srm-dropout, --srm-batch-size,\n" +
        '--threads, --out (the JSON result) and --json.\n' +
        kit.examples(
          'lmrec eval quality --items items.jsonl --events events.jsonl',
          'lmrec eval quality --items items.jsonl --events events.jsonl --cold-items 0.1 --seeds 1,2,3 --out quality.json',
          "lmrec eval quality --items movies.jsonl --events ratings.jsonl --template '{title} ({year}); {genres}' --variants int8,fp32",
          'lmrec eval quality --items items.jsonl --events events.jsonl --epochs 20 --budget 2m --lm ./my-lm --json > quality.json',
        ),
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<QualityCliOptions>();
      const parent = cmd.parent!;
      // eval's --seed, when given, is the one seed unless --seeds says otherwise
      const seeds = opts.seeds ?? (parent.getOptionValueSource('seed') === 'cli' && opts.seed !== undefined ? [opts.seed] : undefined);
      await runQuality(
        kit,
        opts.json,
        {
          items: opts.items,
          events: opts.events,
          coldItems: opts.coldItems,
          coldSeed: opts.coldSeed,
          seeds,
          epochs: opts.epochs,
          patience: opts.patience,
          budget: opts.budget,
          lm: opts.lm,
          template: opts.template,
          variants: opts.variants,
          layers: opts.layers,
          srm: srmFromEval(parent),
          threads: opts.threads,
          out: opts.out,
        },
      );
    });
}

/** The comparison run from the command line: Ctrl-C stops it (the fit under way is scored), --json prints the result. */
export async function runQuality(kit: CommandKit, json: boolean | undefined, options: QualityCommandOptions): Promise<void> {
  const signal = interruptOnCtrlC('stopping the comparison (the fit under way is scored with its best weights so far)');
  const result = await runQualityEval(options, { log: kit.humanLog(json), signal });
  if (json) kit.printJson(result);
}
