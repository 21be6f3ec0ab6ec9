#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { writeSynthetic } from '../data/synthetic.js';
import { runDemo } from './demo.js';
import { runEval } from './eval.js';

function positiveInt(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

interface EvalCliOptions {
  items: string;
  events: string;
  out?: string;
  srm: boolean;
  srmEpochs: number;
  srmPatience: number;
  srmDim: number;
  srmBlocks: number;
  srmMaxLen: number;
  srmLoss: string;
  srmOut?: string;
  threads?: number;
  seed: number;
  sampledNegatives?: number;
}

const program = new Command();
program.name('lmrec').description('Language-model-powered recommendations for Node.js');

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
  .description('leave-one-out evaluation (full ranking, history masked): HR@K, NDCG@K, MRR')
  .requiredOption('--items <file>', 'catalog (.jsonl or .csv with an id column)')
  .requiredOption('--events <file>', 'interactions (.jsonl or .csv with user, item, ts)')
  .option('--out <file>', 'write the report as JSON')
  .option('--no-srm', 'leave the SRM out (popularity only)')
  .option('--srm-epochs <count>', 'most SRM epochs (early stopping on validation NDCG@10)', positiveInt, 200)
  .option('--srm-patience <count>', 'epochs without improvement before stopping', positiveInt, 5)
  .option('--srm-dim <dim>', 'SRM embedding width', positiveInt, 64)
  .option('--srm-blocks <count>', 'SRM self-attention blocks', positiveInt, 2)
  .option('--srm-max-len <count>', 'most recent events the SRM reads', positiveInt, 200)
  .option('--srm-loss <loss>', "'full', 'sampled' or 'auto' (full up to 20,000 items)", 'auto')
  .option('--srm-out <file>', 'save the trained SRM')
  .option('--threads <count>', 'training threads (default: all)', positiveInt)
  .option('--seed <seed>', 'random seed', positiveInt, 1)
  .option('--sampled-negatives <count>', 'rank among this many sampled negatives instead of the full catalog', positiveInt)
  .action(async (opts: EvalCliOptions) => {
    const loss = opts.srmLoss;
    if (loss !== 'full' && loss !== 'sampled' && loss !== 'auto') throw new InvalidArgumentError("--srm-loss must be 'full', 'sampled' or 'auto'");
    const srmLoss: 'full' | 'sampled' | 'auto' = loss;
    const srm = opts.srm && {
      epochs: opts.srmEpochs,
      patience: opts.srmPatience,
      dim: opts.srmDim,
      blocks: opts.srmBlocks,
      maxLen: opts.srmMaxLen,
      loss: srmLoss,
      seed: opts.seed,
      ...(opts.threads ? { threads: opts.threads } : {}),
    };
    const run = { items: opts.items, events: opts.events, out: opts.out, srm, srmOut: opts.srmOut, sampledNegatives: opts.sampledNegatives };
    await runEval(run, (line) =>
      process.stdout.write(`${line}\n`),
    );
  });

program.parseAsync().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(`lmrec: ${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}\n`);
  process.exit(1);
});
