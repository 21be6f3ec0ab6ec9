#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeSynthetic } from '../data/synthetic.js';
import { LmrecError } from '../errors.js';
import type { DistillOptions } from '../pretrain/distill.js';
import type { PretrainOptions } from '../pretrain/pretrain.js';
import type { SrmFitOptions } from '../srm/sequential-recommender.js';
import { runDemo } from './demo.js';
import { runEval } from './eval.js';
import { runDistill, runPretrain } from './pretrain.js';
import { parseDuration } from '../util/duration.js';

/** An option parser for numbers that pass `ok` (underscores allowed as digit separators). */
function numberOption(ok: (n: number) => boolean, expected: string): (value: string) => number {
  return (value) => {
    const n = Number(value.replace(/_/g, ''));
    if (value.trim() === '' || !ok(n)) throw new InvalidArgumentError(`expected ${expected}`);
    return n;
  };
}

const positiveInt = numberOption((n) => Number.isInteger(n) && n >= 1, 'a positive integer');
const positive = numberOption((n) => Number.isFinite(n) && n > 0, 'a positive number');
const fraction = numberOption((n) => n >= 0 && n < 1, 'a number in [0, 1)');
const nonNegative = numberOption((n) => Number.isFinite(n) && n >= 0, 'a number >= 0');
const nonNegativeInt = numberOption((n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');
function budget(value: string): number {
  const s = parseDuration(value);
  if (s === undefined) throw new InvalidArgumentError("expected a duration such as '90s', '5m' or '1h'");
  return s;
}

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
}

const program = new Command();
program.name('lmrec').description('Language-model-powered recommendations for Node.js');
// Read on demand rather than with .version(): only `--version` needs the file.
program.option('-V, --version', 'print the version').on('option:version', () => {
  process.stdout.write(`${version()}\n`);
  process.exit(0);
});

program
  .command('demo')
  .description('index generated clustered vectors, query them, and report speed and recall')
  .option('--n <count>', 'vectors to index', positiveInt, 1_000_000)
  .option('--dim <dim>', 'vector dimension', positiveInt, 128)
  .option('--queries <count>', 'queries to run', positiveInt, 1000)
  .option('--k <k>', 'neighbours per query', positiveInt, 10)
  .option('--threads <count>', 'threads per search (default: all)', positiveInt)
  .action(async (opts: { n: number; dim: number; queries: number; k: number; threads?: number }) => {
    await runDemo(opts);
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
  .option('--lm <dir>', 'also rank with the item head of a model lmrec trained (pretrain, distill)')
  .action(async (opts: EvalCliOptions) => {
    // The first Ctrl-C stops training at its next step and the evaluation goes on with the best
    // weights; a second one exits at once.
    const interrupt = new AbortController();
    process.once('SIGINT', () => {
      process.stderr.write('lmrec: stopping training (Ctrl-C again to quit)\n');
      interrupt.abort();
      process.once('SIGINT', () => process.exit(130));
    });
    const srm: SrmFitOptions | false = opts.srm && {
      signal: interrupt.signal,
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
    .option('--freeze-layers <n>', 'train only the layers from this one up', nonNegativeInt),
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

program.parseAsync().catch((err: unknown) => {
  // Every failure lmrec expects is an LmrecError; anything else is a bug, still shown without a stack.
  const text = err instanceof LmrecError ? `[${err.code}] ${err.message}` : `[INTERNAL] ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`lmrec: ${text}\n`, () => process.exit(1));
});
