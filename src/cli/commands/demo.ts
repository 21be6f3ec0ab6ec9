/** `lmrec demo`: the recommender end to end on a generated shop (src/cli/demo.ts runs it). */
import { Command, Option } from 'commander';
import type { CommandKit } from '../command-kit.js';
import { runDemo } from '../demo.js';
import { budget, fraction, nonNegativeInt, positiveInt } from '../options.js';

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

export function demoCommand(kit: CommandKit): Command {
  return new Command('demo')
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
      kit.examples(
        'lmrec demo                                  # under a minute on 2 cores',
        'lmrec demo --budget 10s --sweep-budget 20s --no-index   # a quicker look',
        'lmrec demo --out report --json > demo.json  # keep quality.json and sweep.svg, and the whole result',
      ),
    )
    .action(async (opts: DemoCliOptions) => {
      const { json, ...rest } = opts;
      const result = await runDemo({ ...rest, log: kit.humanLog(json) });
      if (json) kit.printJson(result);
    });
}
