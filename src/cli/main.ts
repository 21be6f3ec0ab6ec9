#!/usr/bin/env node
import { Command } from 'commander';
import { LmrecError } from '../errors.js';
import { commandKit as kit, version } from './command-kit.js';
import { demoCommand } from './commands/demo.js';
import { distillCommand } from './commands/distill.js';
import { evalCommand } from './commands/eval.js';
import { fitCommand } from './commands/fit.js';
import { pretrainCommand } from './commands/pretrain.js';
import { recommendCommand } from './commands/recommend.js';
import { serveCommand } from './commands/serve.js';
import { similarCommand } from './commands/similar.js';
import { sweepCommand } from './commands/sweep.js';
import { synthCommand } from './commands/synth.js';

const program = new Command();
program.name('lmrec').description('Language-model-powered recommendations for Node.js');
// Read on demand rather than with .version(): only `--version` needs the file.
program.option('-V, --version', 'print the version').on('option:version', () => {
  process.stdout.write(`${version()}\n`);
  process.exit(0);
});

// In this order in `lmrec --help`.
program
  .addCommand(demoCommand(kit))
  .addCommand(fitCommand(kit))
  .addCommand(sweepCommand(kit))
  .addCommand(recommendCommand(kit))
  .addCommand(similarCommand(kit))
  .addCommand(synthCommand())
  .addCommand(evalCommand(kit))
  .addCommand(pretrainCommand())
  .addCommand(distillCommand())
  .addCommand(serveCommand(kit));

program.parseAsync().catch((err: unknown) => {
  // Every failure lmrec expects is an LmrecError; anything else is a bug, still shown without a stack.
  const text = err instanceof LmrecError ? `[${err.code}] ${err.message}` : `[INTERNAL] ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`lmrec: ${text}\n`, () => process.exit(1));
});
