/** `lmrec similar`: the items most like one item, from a saved recommender (src/cli/recommender.ts runs it). */
import { Command, Option } from 'commander';
import { filterOptions, type CommandKit } from '../command-kit.js';
import { runSimilar, type SimilarCommandOptions } from '../recommender.js';

export function similarCommand(kit: CommandKit): Command {
  return filterOptions(
    new Command('similar')
      .description('the items most like one item (cosine between item embeddings; cold items too, by their text)')
      .requiredOption('--model <dir>', 'a directory written by lmrec fit')
      .requiredOption('--item <id>', 'an item of the catalog')
      .addOption(new Option('--by <how>', "compare item embeddings ('behaviour'), codes ('content'), or 'auto': content for cold items").choices(['auto', 'behaviour', 'content'])),
  )
    .addHelpText(
      'after',
      kit.examples(
        'lmrec similar --model rec --item i7',
        'lmrec similar --model rec --item i7 --k 20 --category shoes',
        'lmrec similar --model rec --item i7 --json | jq ".items[].id"',
      ),
    )
    .action(async (opts: SimilarCommandOptions & { json?: boolean }) => {
      const result = await runSimilar(opts, { log: kit.humanLog(opts.json) });
      if (opts.json) kit.printJson(result);
    });
}
