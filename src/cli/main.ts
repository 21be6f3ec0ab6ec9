#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { writeSynthetic } from '../data/synthetic.js';
import { LmrecError } from '../errors.js';
import type { DistillOptions } from '../pretrain/distill.js';
import type { PretrainOptions } from '../pretrain/pretrain.js';
import type { SrmFitOptions } from '../srm/sequential-recommender.js';
import { collabCommand } from './collab.js';
import { runDemo } from './demo.js';
import { runServe, type ServeCliOptions } from './serve.js';
import { runEval } from './eval.js';
import { qualityCommand, runQualityEval, srmFromEval } from './eval-quality.js';
import { budget, fieldValue, fraction, idList, indexChoice, layerChoice, layerList, nonNegative, nonNegativeInt, positive, positiveInt } from './options.js';
import { runDistill, runPretrain } from './pretrain.js';
import { interruptOnCtrlC } from './interrupt.js';
import { runFit, runRecommend, runSimilar, runSweep, type FitCommandOptions, type ModelCommandOptions, type RecommendCommandOptions, type SimilarCommandOptions } from './recommender.js';

type TrainingCliOptions = { budget?: number; json?: boolean } & Record<string, unknown>;

/**
 * Commander's options as the API's: the same camelCase names but --budget, which is
 * budgetSeconds there. The API checks them (zod), so a mismatch is an INVALID_ARGUMENT, not a crash.
 */
function apiOptions<T>(opts: TrainingCliOptions): T {
  const { budget, json: _json, ...rest } = opts;
  return { ...rest, ...(budget !== undefined ? { budgetSeconds: budget } : {}) } as T;
}

/** Options both training commands take. */
function trainingOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--items <file>', 'catalog (.jsonl or .csv with an id column and text fields)')
    .requiredOption('--events <file>', 'interactions (.jsonl or .csv with user, item and optionally ts)')
    .requiredOption('--out <dir>', 'model directory to write (Hugging Face layout)')
    .option('--template <text>', "how an item reads, e.g. '{title} ({category})' (default: its title, else every field)")
    .option('--separator <text>', 'written between events (default a newline)')
    .option('--context <tokens>', 'most tokens of a history; older events are left out', positiveInt)
    .option('--epochs <n>', 'passes over the training text (default 1)', positive)
    .option('--steps <n>', 'train exactly this many steps', positiveInt)
    .option('--budget <time>', "time budget ('90s', '5m', '1h'); the schedule is fitted to it", budget)
    .option('--lr <lr>', 'peak learning rate', positive)
    .option('--batch-tokens <n>', 'tokens per step', positiveInt)
    .option('--item-weight <w>', 'weight of the next-item loss (default 4)', nonNegative)
    .option('--threads <count>', 'training threads (default: all)', positiveInt)
    .option('--seed <seed>', 'random seed', nonNegativeInt)
    .option('--checkpoint <file>', 'checkpoint file (default <out>.checkpoint)')
    .option('--resume', 'continue from the checkpoint (same data and options)')
    .option('--json', 'print the report as JSON on stdout');
}

/** The package's version, from the package.json two levels above src/cli or dist/cli. */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch (e) {
    throw new LmrecError(`cannot read lmrec's package.json: ${(e as Error).message}`, 'IO_ERROR');
  }
}

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

const program = new Command();
program.name('lmrec').description('Language-model-powered recommendations for Node.js');
// Read on demand rather than with .version(): only `--version` needs the file.
program.option('-V, --version', 'print the version').on('option:version', () => {
  process.stdout.write(`${version()}\n`);
  process.exit(0);
});

/** Where a command's human-readable lines go: stdout, or stderr when --json keeps stdout for the JSON. */
function humanLog(json: boolean | undefined): (line: string) => void {
  const stream = json ? process.stderr : process.stdout;
  return (line) => stream.write(`${line}\n`);
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 1)}\n`);
}

const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;

interface DemoCliOptions {
  items: number;
  users: number;
  budget: number;
  sweepBudget: number;
  coldFraction: number;
  seed: number;
  out?: string;
  json?: boolean;
  index: boolean;
  n: number;
  dim: number;
  queries: number;
  k: number;
  threads?: number;
}

program
  .command('demo')
  .description('the recommender end to end on a generated shop: layer sweep, quality on warm and cold items, recommendations, speed')
  .option('--items <count>', 'catalog size', positiveInt, 1000)
  .option('--users <count>', 'users', positiveInt, 2000)
  .addOption(new Option('--budget <time>', "training time of the ID-only SRM and of the final fit ('20s', '1m'); lmrec's fit in the comparison gets it plus --sweep-budget").argParser(budget).default(20, '20s'))
  .addOption(new Option('--sweep-budget <time>', "time of lmrec's layer sweep in the comparison").argParser(budget).default(40, '40s'))
  .option('--cold-fraction <f>', 'share of items kept out of training (cold)', fraction, 0.1)
  .option('--seed <seed>', 'random seed of the data and the models', nonNegativeInt, 7)
  .option('--out <dir>', 'also write quality.json, quality.md and sweep.svg here')
  .option('--json', 'print the whole result as JSON on stdout (the report and progress go to stderr)')
  .option('--no-index', 'leave out the vector-index benchmark')
  .option('--n <count>', 'vector-index benchmark: vectors to index', positiveInt, 100_000)
  .option('--dim <dim>', 'vector-index benchmark: vector dimension', positiveInt, 64)
  .option('--queries <count>', 'vector-index benchmark: queries to run', positiveInt, 500)
  .option('--k <k>', 'vector-index benchmark: neighbours per query', positiveInt, 10)
  .option('--threads <count>', 'training and search threads (default: all)', positiveInt)
  .addHelpText(
    'after',
    examples(
      'lmrec demo                                  # about 2.5 minutes on 2 cores',
      'lmrec demo --budget 10s --sweep-budget 20s --no-index   # a quicker look',
      'lmrec demo --out report --json > demo.json  # keep quality.json and sweep.svg, and the whole result',
    ),
  )
  .action(async (opts: DemoCliOptions) => {
    const { json, ...rest } = opts;
    const result = await runDemo({ ...rest, log: humanLog(json) });
    if (json) printJson(result);
  });

/** The data options fit and sweep share. */
function dataOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--items <file>', 'catalog (.jsonl or .csv: an id column and text fields such as title, text, category)')
    .requiredOption('--events <file>', 'interactions (.jsonl or .csv: user, item and optionally ts)');
}

/** The model options fit and sweep share. */
function modelOptions(cmd: Command): Command {
  return cmd
    .option('--model <default|dir>', "language model: 'default' (bundled) or a Hugging Face model directory", 'default')
    .option('--layers <list>', 'layers the sweep tries, e.g. 0,2,4 (default: every layer of a model up to 12 deep, else 8 spread)', layerList)
    .option('--dim <n>', 'bytes of an item code, 8..512 (default 64)', positiveInt)
    .option('--template <text>', "how an item reads, e.g. '{title} ({category})' (default: its title, else every field)")
    .addOption(new Option('--compression <kind>', 'LM state -> item code: linear (default) or one hidden layer').choices(['linear', 'mlp']))
    .option('--seed <seed>', 'random seed', nonNegativeInt)
    .option('--threads <count>', 'training threads (default: all)', positiveInt)
    .option('--svg <file>', 'write the layer sweep as an SVG chart (validation NDCG@10 and HR@10 by layer)');
}

modelOptions(
  dataOptions(program.command('fit').description('fit a recommender on a catalog and an event log (LM item codes + a sequential model) and save it'))
    .requiredOption('--out <dir>', 'directory to save the recommender to (replaced whole, atomically)')
    .option('--layer <auto|n>', "LM layer whose states represent items, or 'auto': the best of a layer sweep", layerChoice, 'auto')
    .option('--budget <time>', "time budget of the whole fit ('90s', '10m', '1h'); the best model so far is kept", budget)
    .option('--epochs <n>', 'most epochs of the final training (default 200; early-stopped on validation)', positiveInt),
)
  .option('--json', 'print the report as JSON on stdout (the summary and progress go to stderr)')
  .addHelpText(
    'after',
    examples(
      'lmrec fit --items items.jsonl --events events.jsonl --out rec --budget 10m',
      'lmrec fit --items items.csv --events events.csv --out rec --layer 2 --template "{title} ({category})"',
      'lmrec fit --items items.jsonl --events events.jsonl --out rec --layers 0,2,4 --svg sweep.svg --json > fit.json',
      '',
      'Ctrl-C stops the fit at its next step and saves the best model so far; a second Ctrl-C quits.',
      'Then: lmrec recommend --model rec --user u42',
    ),
  )
  .action(async (opts: FitCommandOptions & { json?: boolean }) => {
    const result = await runFit(opts, { log: humanLog(opts.json), signal: interruptOnCtrlC('stopping the fit at its next step; the best model so far will be saved') });
    if (opts.json) printJson(result);
  });

modelOptions(
  dataOptions(program.command('sweep').description("the layer sweep alone: how well each LM layer's states serve as item codes, on validation (saves no model)"))
    .option('--budget <time>', "time budget of the whole sweep ('2m'), shared by the layers", budget),
)
  .option('--json', 'print the sweep as JSON on stdout (the table and progress go to stderr)')
  .addHelpText(
    'after',
    examples(
      'lmrec sweep --items items.jsonl --events events.jsonl --budget 2m',
      'lmrec sweep --items items.jsonl --events events.jsonl --layers 0,1,2 --svg sweep.svg',
      'lmrec sweep --items items.jsonl --events events.jsonl --model ./my-llama --json > sweep.json',
    ),
  )
  .action(async (opts: ModelCommandOptions & { json?: boolean }) => {
    const result = await runSweep(opts, { log: humanLog(opts.json), signal: interruptOnCtrlC('stopping the sweep at its next step') });
    if (opts.json) printJson(result);
  });

/** Filters recommend and similar share. */
function filterOptions(cmd: Command): Command {
  return cmd
    .option('--k <k>', 'how many items', positiveInt, 10)
    .option('--exclude <ids>', 'items never to return, comma-separated', idList)
    .option('--category <c>', "only items whose 'category' field is one of these (comma-separated or repeated)", idList)
    .option('--filter <field=value>', 'only items with this field value (repeatable; values of one field are alternatives)', fieldValue)
    .option('--json', 'print the result as JSON on stdout (notes go to stderr)');
}

filterOptions(
  program
    .command('recommend')
    .description('the best next items for a known user or an anonymous history, from a saved recommender')
    .requiredOption('--model <dir>', 'a directory written by lmrec fit')
    .option('--user <id>', "a user of the event log: their stored history (unknown users get popular items)")
    .option('--history <ids>', 'items of a session, oldest first, comma-separated (with --user: after theirs)', idList)
    .option('--include-seen', 'may return items of the history'),
)
  .addHelpText(
    'after',
    examples(
      'lmrec recommend --model rec --user u42',
      'lmrec recommend --model rec --history i7,i19,i3 --k 5 --category shoes',
      'lmrec recommend --model rec --user u42 --exclude i1,i2 --filter brand=acme --json',
    ),
  )
  .action(async (opts: RecommendCommandOptions & { json?: boolean }) => {
    const result = await runRecommend(opts, { log: humanLog(opts.json) });
    if (opts.json) printJson(result);
  });

filterOptions(
  program
    .command('similar')
    .description('the items most like one item (cosine between item embeddings; cold items too, by their text)')
    .requiredOption('--model <dir>', 'a directory written by lmrec fit')
    .requiredOption('--item <id>', 'an item of the catalog')
    .addOption(new Option('--by <how>', "compare item embeddings ('behaviour'), codes ('content'), or 'auto': content for cold items").choices(['auto', 'behaviour', 'content'])),
)
  .addHelpText(
    'after',
    examples(
      'lmrec similar --model rec --item i7',
      'lmrec similar --model rec --item i7 --k 20 --category shoes',
      'lmrec similar --model rec --item i7 --json | jq ".items[].id"',
    ),
  )
  .action(async (opts: SimilarCommandOptions & { json?: boolean }) => {
    const result = await runSimilar(opts, { log: humanLog(opts.json) });
    if (opts.json) printJson(result);
  });

program
  .command('synth')
  .description('write a seeded synthetic catalog (items.jsonl) and interaction log (events.jsonl)')
  .requiredOption('--out <dir>', 'directory to write into')
  .option('--items <count>', 'catalog size', positiveInt, 10_000)
  .option('--users <count>', 'users', positiveInt, 2_000)
  .option('--topics <count>', 'latent topics', positiveInt, 20)
  .option('--seed <seed>', 'random seed', positiveInt, 1)
  .action((opts: { out: string; items: number; users: number; topics: number; seed: number }) => {
    const data = writeSynthetic(opts.out, opts);
    process.stdout.write(`wrote ${data.items.length} items and ${data.events.length} events to ${opts.out}\n`);
  });

program
  .command('eval')
  .description('leave-one-out evaluation (full ranking, history masked, ties at chance): HR@K, NDCG@K, MRR')
  .requiredOption('--items <file>', 'catalog (.jsonl or .csv with an id column)')
  .requiredOption('--events <file>', 'interactions (.jsonl or .csv with user, item and optionally ts)')
  .option('--out <file>', 'write the report as JSON')
  .option('--json', 'print the report as JSON on stdout (progress goes to stderr)')
  .option('--no-srm', 'leave the SRM out (popularity only)')
  .option('--srm-epochs <count>', 'most SRM epochs (early stopping on validation NDCG@10)', positiveInt, 200)
  .option('--srm-patience <count>', 'validations without improvement before stopping', positiveInt, 5)
  .option('--srm-dim <dim>', 'SRM embedding width', positiveInt, 64)
  .option('--srm-blocks <count>', 'SRM self-attention blocks', positiveInt, 2)
  .option('--srm-heads <count>', 'SRM attention heads (must divide the width; default 1)', positiveInt)
  .option('--srm-max-len <count>', 'most recent events the SRM reads', positiveInt, 200)
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
  .option('--lm <dir>', "also rank with the item head of a model lmrec trained (pretrain, distill); for eval quality, lmrec's LM (default: the bundled one)")
  .option('--cold-items <fraction>', 'for eval quality: the share of items made cold (default 0.1). Without the subcommand: deprecated, runs eval quality', fraction)
  .option('--budget <time>', 'for eval quality: an optional time bound of each fit', budget)
  .option('--layers <list>', "for eval quality: layers lmrec's sweep tries, e.g. 0,2,4", layerList)
  .addCommand(qualityCommand({ humanLog, printJson, examples }))
  .addCommand(collabCommand({ humanLog, printJson, examples }))
  .addHelpText(
    'after',
    examples(
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
      const result = await runQualityEval(
        {
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
        },
        { log: humanLog(opts.json), signal: interruptOnCtrlC('stopping the comparison (the fit under way is scored with its best weights so far)') },
      );
      if (opts.json) printJson(result);
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

trainingOptions(
  program
    .command('pretrain')
    .description("train lmrec's small LM on the catalog's behaviour written as text (next token + next item)")
    .option('--model <dir>', "start from 'default' (the bundled model) or a Llama-style model directory (default: a new model)")
    .option('--vocab-size <n>', 'a new model: BPE vocabulary learned from the item texts', positiveInt)
    .option('--dim <n>', 'a new model: width', positiveInt)
    .option('--layers <n>', 'a new model: layers', positiveInt)
    .option('--heads <n>', 'a new model: attention heads', positiveInt)
    .option('--kv-heads <n>', 'a new model: key/value heads', positiveInt)
    .option('--ffn <n>', 'a new model: SwiGLU width', positiveInt)
    .option('--freeze-layers <n>', 'train only the layers from this one up', nonNegativeInt)
    .option('--local-layers <n>', 'the bottom n layers read each event alone, as late interaction serves the model split at n (with --model DIR --freeze-layers n: tune a model for it)', nonNegativeInt),
).action(async (opts: TrainingCliOptions) => {
  await runPretrain(apiOptions<PretrainOptions>(opts), opts.json === true);
});

trainingOptions(
  program
    .command('distill')
    .description('distil a smaller student from a deeper teacher, block by block (SLMRec)')
    .requiredOption('--teacher <dir>', 'teacher model directory (Llama-style, with its tokenizer)')
    .option('--layers <n>', "student layers (default a quarter of the teacher's)", positiveInt)
    .option('--blocks <n>', 'blocks the layers are aligned in (default 4)', positiveInt)
    .option('--lambda <x>', "weight of the alignment's cosine term (default 1)", nonNegative)
    .option('--aux-weight <w>', "weight of each intermediate block's item loss (default 1)", nonNegative),
).action(async (opts: TrainingCliOptions) => {
  await runDistill(apiOptions<DistillOptions>(opts), opts.json === true);
});

program
  .command('serve')
  .description('serve a fitted recommender over HTTP (JSON API v1, OpenAPI at /openapi.json, metrics at /metrics)')
  .requiredOption('--model <dir>', 'recommender directory (lmrec fit)')
  .option('--store <where>', 'SQLite file, or postgres://user:pass@host/db for replicas sharing one database (default <model>.db)')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port (0: any free one)', nonNegativeInt, 8080)
  .option('--token <token>', 'require Authorization: Bearer <token> (or set LMREC_TOKEN)')
  .option('--body-limit <bytes>', 'largest request body', positiveInt, 2 ** 20)
  .option('--rate-limit <n>', 'requests per minute per client address (default: no limit)', positiveInt)
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
  .option('--update-interval <time>', "at most one background SRM update per this time ('2s', '1m'; events meanwhile join the next)", budget, 2)
  .option('--update-threads <n>', 'threads the background SRM updates train on (the rest serve requests)', positiveInt, 1)
  .option('--index <kind>', "'exact' (scan every item), 'partitioned' (scan the partitions nearest each query; or a partition count) or 'auto' (partitioned from 200,000 items)", indexChoice, 'auto')
  .option('--heap-arenas <n>', "glibc heap arenas the process allocates from (MALLOC_ARENA_MAX; fewer hold less memory after each model update)", positiveInt, 2)
  .addHelpText(
    'after',
    examples(
      'lmrec fit --items items.jsonl --events events.jsonl --out rec',
      'lmrec serve --model rec --port 8080 &',
      "curl -s localhost:8080/v1/users/u5/recommendations?k=5",
      "curl -s 'localhost:8080/v1/users/u5/recommendations?k=5&category=c3&exclude_seen=false'",
      "curl -s -XPOST localhost:8080/v1/recommend -H 'content-type: application/json' -d '{\"history\":[\"i3\",\"i17\"],\"k\":5}'",
      "curl -s -XPOST localhost:8080/v1/events -H 'content-type: application/json' -d '{\"events\":[{\"user\":\"u5\",\"item\":\"i42\"}]}'",
      "curl -s -XPUT localhost:8080/v1/items/new1 -H 'content-type: application/json' -d '{\"fields\":{\"title\":\"Matte lipstick\",\"category\":\"c3\"}}'",
      'curl -s localhost:8080/v1/items/new1/similar?k=5',
      "curl -s -XPOST localhost:8080/v1/candidates -H 'content-type: application/json' -d '{\"history\":[\"i3\"],\"n\":50}'",
      'curl -s -XDELETE localhost:8080/v1/items/new1',
      'curl -s localhost:8080/metrics; curl -s localhost:8080/openapi.json',
    ),
  )
  .action(async (opts: ServeCliOptions) => {
    await runServe(opts);
  });

program.parseAsync().catch((err: unknown) => {
  // Every failure lmrec expects is an LmrecError; anything else is a bug, still shown without a stack.
  const text = err instanceof LmrecError ? `[${err.code}] ${err.message}` : `[INTERNAL] ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`lmrec: ${text}\n`, () => process.exit(1));
});
