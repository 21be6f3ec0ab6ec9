/** `lmrec fit`: fit a recommender and save it (src/cli/recommender.ts runs it). */
import { Command } from 'commander';
import { dataOptions, modelOptions, type CommandKit } from '../command-kit.js';
import { interruptOnCtrlC } from '../interrupt.js';
import { budget, layerChoice, positiveInt } from '../options.js';
import { runFit, type FitCommandOptions } from '../recommender.js';

export function fitCommand(kit: CommandKit): Command {
  return modelOptions(
    dataOptions(new Command('fit').description('fit a recommender on a catalog and an event log (LM item codes + a sequential model) and save it'))
      .requiredOption('--out <dir>', 'directory to save the recommender to (replaced whole, atomically)')
      .option('--layer <auto|n>', "LM layer whose states represent items, or 'auto': the best of a layer sweep", layerChoice, 'auto')
      .option('--budget <time>', "time budget of the whole fit ('90s', '10m', '1h'); the best model so far is kept", budget)
      .option('--epochs <n>', 'most epochs of the final training (default 200; early-stopped on validation)', positiveInt),
  )
    .option('--json', 'print the report as JSON on stdout (the summary and progress go to stderr)')
    .addHelpText(
      'after',
      kit.examples(
        'lmrec fit --items items.jsonl --events events.jsonl --out rec --budget 10m',
        'lmrec fit --items items.csv --events events.csv --out rec --layer 2 --template "{title} ({category})"',
        'lmrec fit --items items.jsonl --events events.jsonl --out rec --layers 0,2,4 --svg sweep.svg --json > fit.json',
        '',
        'Ctrl-C stops the fit at its next step and saves the best model so far; a second Ctrl-C quits.',
        'Then: lmrec recommend --model rec --user u42',
      ),
    )
    .action(async (opts: FitCommandOptions & { json?: boolean }) => {
      const result = await runFit(opts, { log: kit.humanLog(opts.json), signal: interruptOnCtrlC('stopping the fit at its next step; the best model so far will be saved') });
      if (opts.json) kit.printJson(result);
    });
}
