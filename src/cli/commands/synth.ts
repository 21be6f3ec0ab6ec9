/** `lmrec synth`: write a seeded synthetic data set. */
import { Command } from 'commander';
import { writeSynthetic } from '../../data/synthetic.js';
import { positiveInt } from '../options.js';

export function synthCommand(): Command {
  return new Command('synth')
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
}
