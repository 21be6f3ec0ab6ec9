/** `lmrec sweep`: the layer sweep alone (src/cli/recommender.ts runs it). */
import { Command } from 'commander';
import { dataOptions, modelOptions, type CommandKit } from '../command-kit.js';
import { interruptOnCtrlC } from '../interrupt.js';
import { budget } from '../options.js';
import { runSweep, type ModelCommandOptions } from '../recommender.js';

export function sweepCommand(kit: CommandKit): Command {
  return modelOptions(
    dataOptions(new Command('sweep').description("the layer sweep alone: how well each LM layer's states serve as item codes, on validation (saves no model)"))
      .option('--budget <time>', "time budget of the whole sweep ('2m'), shared by the layers", budget),
  )
    .option('--json', 'print the sweep as JSON on stdout (the table and progress go to stderr)')
    .addHelpText(
      'after',
      kit.examples(
        'lmrec sweep --items items.jsonl --events events.jsonl --budget 2m',
        'lmrec sweep --items items.jsonl --events events.jsonl --layers 0,1,2 --svg sweep.svg',
        'lmrec sweep --items items.jsonl --events events.jsonl --model ./my-llama --json > sweep.json',
      ),
    )
    .action(async (opts: ModelCommandOptions & { json?: boolean }) => {
      const result = await runSweep(opts, { log: kit.humanLog(opts.json), signal: interruptOnCtrlC('stopping the sweep at its next step') });
      if (opts.json) kit.printJson(result);
    });
}
