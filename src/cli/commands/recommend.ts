/** `lmrec recommend`: the best next items from a saved recommender (src/cli/recommender.ts runs it). */
import { Command } from 'commander';
import { filterOptions, type CommandKit } from '../command-kit.js';
import { idList } from '../options.js';
import { runRecommend, type RecommendCommandOptions } from '../recommender.js';

export function recommendCommand(kit: CommandKit): Command {
  return filterOptions(
    new Command('recommend')
      .description('the best next items for a known user or an anonymous history, from a saved recommender')
      .requiredOption('--model <dir>', 'a directory written by lmrec fit')
      .option('--user <id>', "a user of the event log: their stored history (unknown users get popular items)")
      .option('--history <ids>', 'items of a session, oldest first, comma-separated (with --user: after theirs)', idList)
      .option('--include-seen', 'may return items of the history'),
  )
    .addHelpText(
      'after',
      kit.examples(
        'lmrec recommend --model rec --user u42',
        'lmrec recommend --model rec --history i7,i19,i3 --k 5 --category shoes',
        'lmrec recommend --model rec --user u42 --exclude i1,i2 --filter brand=acme --json',
      ),
    )
    .action(async (opts: RecommendCommandOptions & { json?: boolean }) => {
      const result = await runRecommend(opts, { log: kit.humanLog(opts.json) });
      if (opts.json) kit.printJson(result);
    });
}
