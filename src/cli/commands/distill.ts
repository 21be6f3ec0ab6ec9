/** `lmrec distill`: distil a smaller student from a teacher (src/cli/pretrain.ts runs it). */
import { Command } from 'commander';
import type { DistillOptions } from '../../pretrain/distill.js';
import { apiOptions, trainingOptions, type TrainingCliOptions } from '../command-kit.js';
import { nonNegative, positiveInt } from '../options.js';
import { runDistill } from '../pretrain.js';

export function distillCommand(): Command {
  return trainingOptions(
    new Command('distill')
      .description('distil a smaller student from a deeper teacher, block by block (SLMRec)')
      .requiredOption('--teacher <dir>', 'teacher model directory (Llama-style, with its tokenizer)')
      .option('--layers <n>', "student layers (default a quarter of the teacher's)", positiveInt)
      .option('--blocks <n>', 'blocks the layers are aligned in (default 4)', positiveInt)
      .option('--lambda <x>', "weight of the alignment's cosine term (default 1)", nonNegative)
      .option('--aux-weight <w>', "weight of each intermediate block's item loss (default 1)", nonNegative),
  ).action(async (opts: TrainingCliOptions) => {
    await runDistill(apiOptions<DistillOptions>(opts), opts.json === true);
  });
}
