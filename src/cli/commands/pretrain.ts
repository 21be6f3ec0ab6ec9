/** `lmrec pretrain`: train lmrec's small LM (src/cli/pretrain.ts runs it). */
import { Command } from 'commander';
import type { PretrainOptions } from '../../pretrain/pretrain.js';
import { apiOptions, trainingOptions, type TrainingCliOptions } from '../command-kit.js';
import { nonNegativeInt, positiveInt } from '../options.js';
import { runPretrain } from '../pretrain.js';

export function pretrainCommand(): Command {
  return trainingOptions(
    new Command('pretrain')
      .description("train lmrec's small LM on the catalog's behaviour written as text (next token + next item)")
      .option('--model <dir>', "start from 'default' (the bundled model) or a Llama-style model directory (default: a new model)")
      .option('--vocab-size <n>', 'a new model: BPE vocabulary learned from the item texts', positiveInt)
      .option('--dim <n>', 'a new model: width', positiveInt)
      .option('--layers <n>', 'a new model: layers', positiveInt)
      .option('--heads <n>', 'a new model: attention heads', positiveInt)
      .option('--kv-heads <n>', 'a new model: key/value heads', positiveInt)
      .option('--ffn <n>', 'a new model: SwiGLU width', positiveInt)
      .option('--freeze-layers <n>', 'train only the layers from this one up', nonNegativeInt)
      .option('--local-layers <n>', 'the bottom n layers read each event alone, as late interaction serves the model split at n (with --model DIR --freeze-layers n: tune a model for it)', nonNegativeInt),
  ).action(async (opts: TrainingCliOptions) => {
    await runPretrain(apiOptions<PretrainOptions>(opts), opts.json === true);
  });
}
