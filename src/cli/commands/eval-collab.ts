/**
 * `lmrec eval collab`, device–cloud collaboration (src/cli/collab.ts runs it), a subcommand of
 * `lmrec eval`.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_RATES } from '../../collab/evaluate.js';
import { runCollabEval, type CollabCommandOptions } from '../collab.js';
import type { CommandKit } from '../command-kit.js';
import { interruptOnCtrlC } from '../interrupt.js';
import { budget, coldShareChoice, layerChoice, positiveInt } from '../options.js';

/** A comma-separated list of request rates in [0, 1], e.g. '0.05,0.1,0.3'. */
function rateList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const rates = parts.map(Number);
  if (parts.some((s) => s === '') || rates.some((x) => !(x >= 0 && x <= 1))) {
    throw new InvalidArgumentError("expected rates in [0, 1] separated by commas, e.g. '0.05,0.1,0.3'");
  }
  return rates;
}

/**
 * `lmrec eval collab`, a subcommand of `eval`. It takes eval's own --items, --events, --out,
 * --json, --seed, --threads and --lm (commander gives the parent the options it declares,
 * wherever they stand), and adds its own under names eval does not use.
 */
export function collabCommand(kit: CommandKit): Command {
  return new Command('collab')
    .description("device–cloud collaboration (LSC4Rec): the cloud's stale candidate list re-ranked by a small device SRM, five fusions, and quality against the request rate")
    .addOption(new Option('--cloud <model>', 'the cloud model: the recommender (LM codes + SRM) or a plain wider SRM').choices(['recommender', 'srm']).default('recommender'))
    .option('--cloud-layer <auto|n>', "the cloud recommender's LM layer, or 'auto': a layer sweep (default)", layerChoice)
    .option('--cloud-dim <n>', "the cloud SRM's width (default 64, or 128 with --cloud srm)", positiveInt)
    .addOption(new Option('--cloud-budget <time>', 'training time of the cloud model').argParser(budget).default(60, '1m'))
    .option('--device-dim <n>', "the device SRM's width", positiveInt, 32)
    .addOption(new Option('--device-budget <time>', 'training time of the device SRM').argParser(budget).default(30, '30s'))
    .option('--candidates <n>', 'N, the candidates the cloud returns', positiveInt, 50)
    .option('--rates <list>', `request budgets of the curve (default ${DEFAULT_RATES.join(',')})`, rateList)
    .option('--random-draws <n>', 'random request draws averaged at each budget', positiveInt, 5)
    .option('--svg <file>', 'write the request curve as an SVG chart')
    .option(
      '--cold-share <x|auto>',
      "choose the fusion on validation weighted to this share of targets no training history holds (leave-one-out's validation under-states the traffic's); 'auto': read it from every other test user's last event, and measure the rest",
      coldShareChoice,
    )
    .addHelpText(
      'after',
      `\nAlso takes eval's --items and --events (required), --out (the JSON result), --json, --seed, --threads and\n--lm (the cloud recommender's language model; default the bundled one).\n` +
        kit.examples(
          'lmrec eval collab --items items.jsonl --events events.jsonl --svg collab.svg --out collab.json',
          'lmrec eval collab --items items.jsonl --events events.jsonl --cloud srm --cloud-budget 30s --json > collab.json',
          'lmrec eval collab --items items.jsonl --events events.jsonl --cloud-layer 0 --rates 0.1,0.2,0.3',
        ),
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<CollabCommandOptions & { json?: boolean }>();
      const result = await runCollabEval(
        {
          items: opts.items,
          events: opts.events,
          cloud: opts.cloud,
          lm: opts.lm,
          cloudLayer: opts.cloudLayer,
          cloudDim: opts.cloudDim,
          cloudBudget: opts.cloudBudget,
          deviceDim: opts.deviceDim,
          deviceBudget: opts.deviceBudget,
          candidates: opts.candidates,
          rates: opts.rates,
          randomDraws: opts.randomDraws,
          seed: opts.seed,
          threads: opts.threads,
          out: opts.out,
          svg: opts.svg,
          coldShare: opts.coldShare,
        },
        { log: kit.humanLog(opts.json), signal: interruptOnCtrlC('stopping training (the best weights so far are evaluated)') },
      );
      if (opts.json) kit.printJson(result);
    });
}
