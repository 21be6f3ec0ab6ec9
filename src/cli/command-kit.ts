/**
 * What the commands of `lmrec` (src/cli/commands/) share: the output helpers main.ts lends
 * each command (CommandKit), the option groups several commands declare alike, and the
 * package's version.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { LmrecError } from '../errors.js';
import { budget, fieldValue, idList, layerList, nonNegative, nonNegativeInt, positive, positiveInt } from './options.js';

/** The output helpers a command's action writes with; main.ts passes commandKit to every command builder. */
export interface CommandKit {
  /** Where human-readable lines go (stderr when --json keeps stdout for the JSON). */
  humanLog: (json: boolean | undefined) => (line: string) => void;
  printJson: (value: unknown) => void;
  /** An "Examples:" block for addHelpText('after', ...). */
  examples: (...lines: string[]) => string;
}

/** Where a command's human-readable lines go: stdout, or stderr when --json keeps stdout for the JSON. */
function humanLog(json: boolean | undefined): (line: string) => void {
  const stream = json ? process.stderr : process.stdout;
  return (line) => stream.write(`${line}\n`);
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 1)}\n`);
}

const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;

export const commandKit: CommandKit = { humanLog, printJson, examples };

/** The package's version, from the package.json two levels above src/cli or dist/cli. */
export function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch (e) {
    throw new LmrecError(`cannot read lmrec's package.json: ${(e as Error).message}`, 'IO_ERROR');
  }
}

/** The data options fit and sweep share. */
export function dataOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--items <file>', 'catalog (.jsonl or .csv: an id column and text fields such as title, text, category)')
    .requiredOption('--events <file>', 'interactions (.jsonl or .csv: user, item and optionally ts)');
}

/** The model options fit and sweep share. */
export function modelOptions(cmd: Command): Command {
  return cmd
    .option('--model <default|dir>', "language model: 'default' (bundled) or a Hugging Face model directory", 'default')
    .option('--layers <list>', 'layers the sweep tries, e.g. 0,2,4 (default: every layer of a model up to 12 deep, else 8 spread)', layerList)
    .option('--dim <n>', 'bytes of an item code, 8..512 (default 64)', positiveInt)
    .option('--template <text>', "how an item reads, e.g. '{title} ({category})' (default: its title, else every field)")
    .addOption(new Option('--compression <kind>', 'LM state -> item code: linear (default) or one hidden layer').choices(['linear', 'mlp']))
    .option('--seed <seed>', 'random seed', nonNegativeInt)
    .option('--threads <count>', 'training threads (default: all)', positiveInt)
    .option('--svg <file>', 'write the layer sweep as an SVG chart (validation NDCG@10 and HR@10 by layer)');
}

/** Filters recommend and similar share. */
export function filterOptions(cmd: Command): Command {
  return cmd
    .option('--k <k>', 'how many items', positiveInt, 10)
    .option('--exclude <ids>', 'items never to return, comma-separated', idList)
    .option('--category <c>', "only items whose 'category' field is one of these (comma-separated or repeated)", idList)
    .option('--filter <field=value>', 'only items with this field value (repeatable; values of one field are alternatives)', fieldValue)
    .option('--json', 'print the result as JSON on stdout (notes go to stderr)');
}

export type TrainingCliOptions = { budget?: number; json?: boolean } & Record<string, unknown>;

/**
 * Commander's options as the API's: the same camelCase names but --budget, which is
 * budgetSeconds there. The API checks them (zod), so a mismatch is an INVALID_ARGUMENT, not a crash.
 */
export function apiOptions<T>(opts: TrainingCliOptions): T {
  const { budget, json: _json, ...rest } = opts;
  return { ...rest, ...(budget !== undefined ? { budgetSeconds: budget } : {}) } as T;
}

/** Options both training commands take. */
export function trainingOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--items <file>', 'catalog (.jsonl or .csv with an id column and text fields)')
    .requiredOption('--events <file>', 'interactions (.jsonl or .csv with user, item and optionally ts)')
    .requiredOption('--out <dir>', 'model directory to write (Hugging Face layout)')
    .option('--template <text>', "how an item reads, e.g. '{title} ({category})' (default: its title, else every field)")
    .option('--separator <text>', 'written between events (default a newline)')
    .option('--context <tokens>', 'most tokens of a history; older events are left out', positiveInt)
    .option('--epochs <n>', 'passes over the training text (default 1)', positive)
    .option('--steps <n>', 'train exactly this many steps', positiveInt)
    .option('--budget <time>', "time budget ('90s', '5m', '1h'); the schedule is fitted to it", budget)
    .option('--lr <lr>', 'peak learning rate', positive)
    .option('--batch-tokens <n>', 'tokens per step', positiveInt)
    .option('--item-weight <w>', 'weight of the next-item loss (default 4)', nonNegative)
    .option('--threads <count>', 'training threads (default: all)', positiveInt)
    .option('--seed <seed>', 'random seed', nonNegativeInt)
    .option('--checkpoint <file>', 'checkpoint file (default <out>.checkpoint)')
    .option('--resume', 'continue from the checkpoint (same data and options)')
    .option('--json', 'print the report as JSON on stdout');
}
