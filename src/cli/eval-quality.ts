/**
 * `lmrec eval quality`: the quality table (src/eval/quality.ts compareModels) on a catalog and
 * an event log: popularity, content TF-IDF, the ID-only SRM, SRM + content and lmrec (the
 * Recommender: LM codes + SRM), on one leave-one-out split with a share of cold items, warm
 * and cold test targets apart, over one or more model seeds. `lmrec eval --cold-items F` is a
 * deprecated alias of it.
 */
import { Command, InvalidArgumentError } from 'commander';
import { compareModels, qualityMarkdown, type QualityOptions, type QualityResult, type QualityVariant } from '../eval/quality.js';
import { sweepTable } from '../recommender/layer-sweep.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { qualityStep, stepBar } from './fit-progress.js';
import { interruptOnCtrlC } from './interrupt.js';
import { positiveInt, nonNegativeInt } from './options.js';
import type { CommandIo } from './recommender.js';

export interface QualityCommandOptions {
  items: string;
  events: string;
  /** Share of items made cold (every event of theirs removed from training), in [0, 1). Default 0.1. */
  coldItems?: number | undefined;
  /** Seed of the cold-item draw. Default 7. */
  coldSeed?: number | undefined;
  /** Model seeds. Default [1]. */
  seeds?: number[] | undefined;
  /** Most epochs of each training (early stopping decides). Default 200. */
  epochs?: number | undefined;
  patience?: number | undefined;
  /** Optional time bound of each fit, in seconds. */
  budget?: number | undefined;
  /** The language model directory of the lmrec rows; default the bundled one. */
  lm?: string | undefined;
  template?: string | undefined;
  variants?: QualityVariant[] | undefined;
  /** Layers the lmrec fit's sweep tries (one layer: no sweep). */
  layers?: number[] | undefined;
  srm?: QualityOptions['srm'];
  threads?: number | undefined;
  /** Write the result as JSON here. */
  out?: string | undefined;
}

/** Runs compareModels with a step bar on io.progress (stderr) and prints the table. */
export async function runQualityEval(o: QualityCommandOptions, io: CommandIo): Promise<QualityResult> {
  const bar = stepBar(io.progress ?? process.stderr, 'quality');
  let result: QualityResult;
  try {
    result = await compareModels({
      items: o.items,
      events: o.events,
      model: o.lm ?? 'default',
      ...(o.coldItems !== undefined ? { coldFraction: o.coldItems } : {}),
      ...(o.coldSeed !== undefined ? { coldSeed: o.coldSeed } : {}),
      ...(o.seeds ? { seeds: o.seeds } : {}),
      ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
      ...(o.patience !== undefined ? { patience: o.patience } : {}),
      ...(o.budget !== undefined ? { budget: o.budget } : {}),
      ...(o.template !== undefined ? { template: o.template } : {}),
      ...(o.variants ? { variants: o.variants } : {}),
      ...(o.layers ? { sweepLayers: o.layers } : {}),
      ...(o.srm && Object.keys(o.srm).length > 0 ? { srm: o.srm } : {}),
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onProgress: (what, p, at) => bar.step(qualityStep(what, p), at),
    });
  } finally {
    bar.stop();
  }
  for (const line of qualityText(result)) io.log(line);
  if (o.out) {
    writeFileAtomic(o.out, `${JSON.stringify(result, null, 1)}\n`);
    io.log(`wrote ${o.out}`);
  }
  return result;
}

/** The result as printed: the data, the split, the layer sweep, the table. */
export function qualityText(r: QualityResult): string[] {
  const { data } = r;
  const lines = [
    `${data.items} items, ${data.users} users, ${data.events} events${data.unknownEvents ? ` (${data.unknownEvents} with unknown items skipped)` : ''}`,
    `${r.coldItems} items made cold (every event of theirs removed from training; seed ${r.coldSeed}); test targets: ${r.warmTargets} warm, ${r.coldTargets} cold; validation on ${r.validUsers} users`,
    `item text: '${r.template}'; training: at most ${r.epochs} epochs, early stopping after ${r.patience} validations without improvement${r.budget !== undefined ? `, at most ${r.budget} s a fit` : ''}`,
  ];
  if (r.sweep.length > 0) {
    lines.push('', `lmrec's layer sweep (validation, seed ${r.seeds[0]}; * = chosen; the model has ${r.lastLayer} layers, 0 = the embeddings):`, sweepTable(r.sweep, r.layer));
  } else if (r.layer !== undefined) {
    lines.push('', `lmrec: LM layer ${r.layer} (no sweep)`);
  }
  const seeds = r.seeds.length > 1 ? `mean ± standard deviation over seeds ${r.seeds.join(', ')}` : `seed ${r.seeds[0]}`;
  lines.push('', `test quality (leave-one-out, full ranking; warm and cold targets apart; ${seeds}):`, qualityMarkdown(r));
  if (r.aborted) lines.push('', 'stopped early: the fit under way was scored with its best weights so far, later fits were skipped');
  return lines;
}

/** A comma-separated list of distinct seeds, e.g. '1,2,3'. */
export function seedList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const n = parts.map((s) => Number(s.replace(/_/g, '')));
  if (parts.some((s) => s === '') || n.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError("expected seeds (integers >= 0) separated by commas, e.g. '1,2,3'");
  return [...new Set(n)];
}

/** A comma-separated list of lmrec variants: int8, fp32. */
export function variantList(value: string): QualityVariant[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((s) => s !== 'int8' && s !== 'fp32')) throw new InvalidArgumentError("expected variants from 'int8' and 'fp32' separated by commas, e.g. 'int8,fp32'");
  return [...new Set(parts as QualityVariant[])];
}

/** The SRM settings given on eval's command line (--srm-dim ...), for the SRM and lmrec rows; the defaults stay the Recommender's. */
export function srmFromEval(evalCmd: Command): NonNullable<QualityOptions['srm']> {
  const opts = evalCmd.opts<Record<string, number | undefined>>();
  const names = [
    ['dim', 'srmDim'],
    ['blocks', 'srmBlocks'],
    ['heads', 'srmHeads'],
    ['maxLen', 'srmMaxLen'],
    ['lr', 'srmLr'],
    ['dropout', 'srmDropout'],
    ['batchSize', 'srmBatchSize'],
  ] as const;
  return Object.fromEntries(names.flatMap(([key, name]) => (evalCmd.getOptionValueSource(name) === 'cli' && opts[name] !== undefined ? [[key, opts[name]]] : [])));
}

/** What the parent `eval` command lends: its output helpers. */
export interface QualityCommandIo {
  humanLog: (json: boolean | undefined) => (line: string) => void;
  printJson: (value: unknown) => void;
  examples: (...lines: string[]) => string;
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
export function qualityCommand(io: QualityCommandIo): Command {
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
        io.examples(
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
      const result = await runQualityEval(
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
        { log: io.humanLog(opts.json), signal: interruptOnCtrlC('stopping the comparison (the fit under way is scored with its best weights so far)') },
      );
      if (opts.json) io.printJson(result);
    });
}
