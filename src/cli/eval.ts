/**
 * `lmrec eval`: leave-one-out evaluation of a catalog and interaction log, printed as a table
 * and written as JSON. Models: the popularity baseline and the SRM (SASRec trained on the
 * training part, early-stopped on the validation part), and with `lm`, the item head of a
 * model lmrec trained. The quality table (popularity, content, SRM, lmrec on warm and cold
 * items) is `lmrec eval quality` (src/cli/eval-quality.ts).
 */
import { readCatalogIds, readInteractions } from '../data/interactions.js';
import { evaluate, leaveOneOut, popularityScorer, type EvaluateOptions, type Metrics } from '../eval/leave-one-out.js';
import { SequentialRecommender, type EpochReport, type SrmFitOptions, type StopReason } from '../srm/sequential-recommender.js';
import { openItemHeadScorer } from '../pretrain/item-head-scorer.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export interface EvalOptions {
  items: string;
  events: string;
  out?: string | undefined;
  ks?: number[];
  /** SRM options; false leaves the SRM out. */
  srm?: SrmFitOptions | false;
  /** Where to save the trained SRM. */
  srmOut?: string | undefined;
  /** Rank among this many sampled negatives instead of the full catalog. */
  sampledNegatives?: number | undefined;
  /** A model directory lmrec trained (pretrain, distill): its item head joins as model 'lm'. */
  lm?: string | undefined;
}

export interface EvalReport {
  items: number;
  users: number;
  events: number;
  unknownItems: number;
  evaluatedUsers: number;
  /** Present when ranking was among sampled negatives rather than the full catalog. */
  sampledNegatives?: number;
  models: Record<string, { valid: Metrics; test: Metrics }>;
  srm?: {
    epochs: number;
    /** 1-based, as in `history`; the model evaluated has this epoch's weights (null: no epoch was best). */
    bestEpoch: number | null;
    trainSeconds: number;
    parameters: number;
    /** Why training stopped: every epoch ran, early stopping, the time budget, or Ctrl-C. */
    stopReason: StopReason | undefined;
    history: EpochSummary[];
  };
}

/** One SRM training epoch as the report keeps it. */
export interface EpochSummary {
  /** 1-based. */
  epoch: number;
  loss: number;
  seconds: number;
  eventsPerSecond: number;
  /** Present for the epochs that were validated. */
  valid?: { 'NDCG@10': number; 'HR@10': number };
  best: boolean;
}

function summary(r: EpochReport): EpochSummary {
  const s: EpochSummary = { epoch: r.epoch + 1, loss: r.loss, seconds: r.seconds, eventsPerSecond: r.eventsPerSecond, best: r.best };
  if (r.valid) s.valid = { 'NDCG@10': r.valid['NDCG@10']!, 'HR@10': r.valid['HR@10']! };
  return s;
}

export async function runEval(o: EvalOptions, log: (line: string) => void = () => {}): Promise<EvalReport> {
  const catalog = await readCatalogIds(o.items);
  const data = await readInteractions(o.events, { items: catalog });
  const split = leaveOneOut(data.sequences);
  const ks = o.ks ?? [1, 5, 10, 20];
  const scorer = popularityScorer(split.train, catalog.size);
  const eo: EvaluateOptions = o.sampledNegatives ? { sampledNegatives: o.sampledNegatives } : {};
  const report: EvalReport = {
    items: catalog.size,
    users: data.users.size,
    events: data.events,
    unknownItems: data.unknownItems,
    evaluatedUsers: split.test.length,
    ...(o.sampledNegatives ? { sampledNegatives: o.sampledNegatives } : {}),
    models: {
      popularity: {
        valid: await evaluate(split.valid, catalog.size, scorer, ks, eo),
        test: await evaluate(split.test, catalog.size, scorer, ks, eo),
      },
    },
  };
  log(`${report.items} items, ${report.users} users, ${report.events} events (${report.unknownItems} with unknown items skipped); ${report.evaluatedUsers} users evaluated`);
  if (o.srm !== false) {
    const t0 = performance.now();
    const srm = await SequentialRecommender.fit(split.train, catalog.size, {
      ...o.srm,
      valid: split.valid,
      onEpoch: (r) => {
        const v = r.valid ? `, valid NDCG@10 ${r.valid['NDCG@10']!.toFixed(4)}${r.best ? ' (best)' : ''}` : '';
        log(`srm epoch ${r.epoch + 1}: loss ${r.loss.toFixed(4)}${v}, ${r.seconds.toFixed(1)} s (${Math.round(r.eventsPerSecond)} events/s)`);
      },
    });
    report.models.srm = {
      valid: await evaluate(split.valid, catalog.size, srm.scorer(), ks, eo),
      test: await evaluate(split.test, catalog.size, srm.scorer(), ks, eo),
    };
    const history = srm.history.map(summary);
    report.srm = {
      epochs: history.length,
      bestEpoch: history.filter((r) => r.best).at(-1)?.epoch ?? null,
      trainSeconds: (performance.now() - t0) / 1000,
      parameters: srm.info.parameters,
      stopReason: srm.stopReason,
      history,
    };
    log(`srm stopped (${srm.stopReason}) after ${history.length} epochs; best epoch ${report.srm.bestEpoch ?? 'none'}`);
    if (o.srmOut) {
      await srm.save(o.srmOut);
      log(`saved the SRM to ${o.srmOut}`);
    }
  }
  if (o.lm) {
    const lm = await openItemHeadScorer(o.lm, o.items, catalog, o.srm ? o.srm.threads : undefined);
    try {
      report.models.lm = {
        valid: await evaluate(split.valid, catalog.size, lm.scorer, ks, eo),
        test: await evaluate(split.test, catalog.size, lm.scorer, ks, eo),
      };
    } finally {
      lm.close();
    }
  }
  const columns = [...ks.flatMap((k) => [`HR@${k}`, `NDCG@${k}`]), 'MRR'];
  log(['model', 'split', ...columns].map((c, i) => (i < 2 ? c.padEnd(12) : c.padStart(9))).join(''));
  for (const [model, r] of Object.entries(report.models)) {
    for (const name of ['valid', 'test'] as const) {
      log([model.padEnd(12), name.padEnd(12), ...columns.map((c) => r[name][c]!.toFixed(4).padStart(9))].join(''));
    }
  }
  if (o.out) {
    writeFileAtomic(o.out, `${JSON.stringify(report, null, 1)}\n`);
    log(`wrote ${o.out}`);
  }
  return report;
}
