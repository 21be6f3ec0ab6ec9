/**
 * `lmrec eval quality`: the quality table (src/eval/quality.ts compareModels) on a catalog and
 * an event log: popularity, content TF-IDF, the ID-only SRM, SRM + content and lmrec (the
 * Recommender: LM codes + SRM), on one leave-one-out split with a share of cold items, warm
 * and cold test targets apart, over one or more model seeds. `lmrec eval --cold-items F` is a
 * deprecated alias of it. The command itself is declared in src/cli/commands/eval-quality.ts.
 */
import type { Command } from 'commander';
import { compareModels, type QualityOptions, type QualityResult, type QualityVariant } from '../eval/quality.js';
import { qualityMarkdown, sweepTable } from './reports.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { qualityStep, stepBar } from './fit-progress.js';
import type { CommandIo } from './recommender.js';

export interface QualityCommandOptions {
  items: string;
  events: string;
  /** Share of items made cold (every event of theirs removed from training), in [0, 1). Default 0.1. */
  coldItems?: number | undefined;
  /** Seed of the cold-item draw. Default 7. */
  coldSeed?: number | undefined;
  /** Model seeds. Default [1]. */
  seeds?: number[] | undefined;
  /** Most epochs of each training (early stopping decides). Default 200. */
  epochs?: number | undefined;
  patience?: number | undefined;
  /** Optional time bound of each fit, in seconds. */
  budget?: number | undefined;
  /** The language model directory of the lmrec rows; default the bundled one. */
  lm?: string | undefined;
  template?: string | undefined;
  variants?: QualityVariant[] | undefined;
  /** Layers the lmrec fit's sweep tries (one layer: no sweep). */
  layers?: number[] | undefined;
  srm?: QualityOptions['srm'];
  threads?: number | undefined;
  /** Write the result as JSON here. */
  out?: string | undefined;
}

/** Runs compareModels with a step bar on io.progress (stderr) and prints the table. */
export async function runQualityEval(o: QualityCommandOptions, io: CommandIo): Promise<QualityResult> {
  const bar = stepBar(io.progress ?? process.stderr, 'quality');
  let result: QualityResult;
  try {
    result = await compareModels({
      items: o.items,
      events: o.events,
      model: o.lm ?? 'default',
      ...(o.coldItems !== undefined ? { coldFraction: o.coldItems } : {}),
      ...(o.coldSeed !== undefined ? { coldSeed: o.coldSeed } : {}),
      ...(o.seeds ? { seeds: o.seeds } : {}),
      ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
      ...(o.patience !== undefined ? { patience: o.patience } : {}),
      ...(o.budget !== undefined ? { budget: o.budget } : {}),
      ...(o.template !== undefined ? { template: o.template } : {}),
      ...(o.variants ? { variants: o.variants } : {}),
      ...(o.layers ? { sweepLayers: o.layers } : {}),
      ...(o.srm && Object.keys(o.srm).length > 0 ? { srm: o.srm } : {}),
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onProgress: (what, p, at) => bar.step(qualityStep(what, p), at),
    });
  } finally {
    bar.stop();
  }
  for (const line of qualityText(result)) io.log(line);
  if (o.out) {
    writeFileAtomic(o.out, `${JSON.stringify(result, null, 1)}\n`);
    io.log(`wrote ${o.out}`);
  }
  return result;
}

/** The result as printed: the data, the split, the layer sweep, the table. */
export function qualityText(r: QualityResult): string[] {
  const { data } = r;
  const lines = [
    `${data.items} items, ${data.users} users, ${data.events} events${data.unknownEvents ? ` (${data.unknownEvents} with unknown items skipped)` : ''}`,
    `${r.coldItems} items made cold (every event of theirs removed from training; seed ${r.coldSeed}); test targets: ${r.warmTargets} warm, ${r.coldTargets} cold; validation on ${r.validUsers} users`,
    `item text: '${r.template}'; training: at most ${r.epochs} epochs, early stopping after ${r.patience} validations without improvement${r.budget !== undefined ? `, at most ${r.budget} s a fit` : ''}`,
  ];
  if (r.sweep.length > 0) {
    lines.push('', `lmrec's layer sweep (validation, seed ${r.seeds[0]}; * = chosen; the model has ${r.lastLayer} layers, 0 = the embeddings):`, sweepTable(r.sweep, r.layer));
  } else if (r.layer !== undefined) {
    lines.push('', `lmrec: LM layer ${r.layer} (no sweep)`);
  }
  const seeds = r.seeds.length > 1 ? `mean ± standard deviation over seeds ${r.seeds.join(', ')}` : `seed ${r.seeds[0]}`;
  lines.push('', `test quality (leave-one-out, full ranking; warm and cold targets apart; ${seeds}):`, qualityMarkdown(r));
  if (r.aborted) lines.push('', 'stopped early: the fit under way was scored with its best weights so far, later fits were skipped');
  return lines;
}

/** The SRM settings given on eval's command line (--srm-dim ...), for the SRM and lmrec rows; the defaults stay the Recommender's. */
export function srmFromEval(evalCmd: Command): NonNullable<QualityOptions['srm']> {
  const opts = evalCmd.opts<Record<string, number | undefined>>();
  const names = [
    ['dim', 'srmDim'],
    ['blocks', 'srmBlocks'],
    ['heads', 'srmHeads'],
    ['maxLen', 'srmMaxLen'],
    ['lr', 'srmLr'],
    ['dropout', 'srmDropout'],
    ['batchSize', 'srmBatchSize'],
  ] as const;
  return Object.fromEntries(names.flatMap(([key, name]) => (evalCmd.getOptionValueSource(name) === 'cli' && opts[name] !== undefined ? [[key, opts[name]]] : [])));
}
