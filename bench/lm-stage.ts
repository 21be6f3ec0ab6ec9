/**
 * npm run bench:lm-stage -- --data DIR [--layers 12] [--split 4] [--epochs 4] [--budget 60] [--users N] [--tag T] [--models M]
 *
 * The LM stage and early exit on a real catalog (DIR holds items.jsonl and events.jsonl in
 * lmrec's formats, e.g. a set `../shared/data/dev-datasets.sh` builds), leave-one-out as
 * everywhere (validation target: each user's second-to-last event; test: the last):
 *  - recommend() alone: the Recommender (the bundled LM, its content part) fit on the catalog
 *    within `--budget` seconds; each validation and test user asks with the history before the
 *    target (an anonymous request), k 10. Seen items are left out, as recommend() answers: a
 *    target that repeats a history item is a miss for every row (evaluate() keeps such targets
 *    eligible, so the Recommender's own report reads higher where repeats are common);
 *  - a model that learned the catalog: a decoder of `--layers` layers (128 wide) pretrained on
 *    the training histories (`--epochs` epochs, next token + item head), then tuned 2 epochs for
 *    late interaction at `--split` (its bottom layers segment-local and frozen);
 *  - the LM stage (Recommender.rerank with that model as an LmRanker): the SRM's best 50
 *    re-ranked by u·e_i + w·lm_i after the last m history events, w and m chosen on validation
 *    users from a grid, test NDCG@10 against recommend() alone, and the stage's latency per
 *    request (p50/p99, warm segment cache);
 *  - early exit on the tuned model: heads after every layer above the split, fitted on half the
 *    validation users, thresholds (at most 1% loss of NDCG@10 against the true next items) on
 *    the other half; test users' mean speed-up and test NDCG@10 with and without exit.
 * `--users N` measures on the first N validation and N test users only (large sets; training
 * still reads everyone); the choice of w and m then weights validation to the share of cold
 * targets (items without training events) among the other users' last events, the traffic's
 * share that leave-one-out's validation under-states (see chooseRerank's coldShare).
 * `--models M` keeps the three trained models (rec, full, tuned) and their training figures in
 * M, and a later run with the same M and settings measures them again without training.
 * Writes bench/results/lm-stage-<DIR's name>.json (-<T> appended with --tag) and prints a
 * table; the fp32 weight sweep (every user, warm and cold targets) as an SVG beside it.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readItems } from '../src/data/records.js';
import type { ItemRecord } from '../src/data/records.js';
import type { Split } from '../src/eval/leave-one-out.js';
import { readBehaviour } from '../src/pretrain/behaviour-data.js';
import { pretrain } from '../src/pretrain/pretrain.js';
import { coldShareOf } from '../src/eval/cold-share.js';
import { rerankChart } from '../src/eval/rerank-chart.js';
import { chooseRerank } from '../src/eval/rerank-choice.js';
import { writeFileAtomic } from '../src/util/atomic-file.js';
import { LmRanker } from '../src/recommender/lm-ranker.js';
import { Recommender } from '../src/recommender/recommender.js';
import { earlyExitOnTrained } from './late-quality.js';
import { latencyStats, printTable, writeJson } from './measure.js';
import { arg, argOr } from './args.js';

const DATA = arg('data');
if (!DATA) throw new Error('--data DIR is required (a folder with items.jsonl and events.jsonl)');
const LAYERS = Number(argOr('layers', '12'));
const SPLIT = Number(argOr('split', '4'));
const EPOCHS = Number(argOr('epochs', '4'));
const BUDGET = Number(argOr('budget', '60'));
const USERS = Number(argOr('users', 'Infinity'));
const TAG = arg('tag');
const MODELS = arg('models');
const CANDIDATES = 50;
const threads = os.availableParallelism();
const name = path.basename(path.resolve(DATA));
const log = (s: string) => console.error(`[bench:lm-stage ${name}] ${s}`);
const RESULTS = path.join('bench', 'results', `lm-stage-${name}${TAG ? `-${TAG}` : ''}`); // .json and .svg

const items = path.join(DATA, 'items.jsonl');
const events = path.join(DATA, 'events.jsonl');
const dir = MODELS ?? mkdtempSync(path.join(os.tmpdir(), 'lmrec-lm-stage-'));
mkdirSync(dir, { recursive: true });
const TRAINED = path.join(dir, 'trained.json'); // the training figures of the models dir holds
const shape = { dim: 128, layers: LAYERS, heads: 4, kvHeads: 2, ffn: 352, context: 192 };
try {
  const data = await readBehaviour(items, events);
  const ids = data.catalog;
  const records: ItemRecord[] = [];
  for await (const r of readItems(items)) records.push(r);
  const idsOf = (s: Split) => Array.from(s.history, (i) => ids.name(i));

  const tuned = path.join(dir, 'tuned');
  const trained = existsSync(TRAINED) ? (JSON.parse(readFileSync(TRAINED, 'utf8')) as Trained) : await train();
  if (JSON.stringify(trained.settings) !== JSON.stringify(settings())) throw new Error(`${dir} holds models trained with other settings: ${JSON.stringify(trained.settings)}`);
  const rec = await Recommender.load(path.join(dir, 'rec'));
  log(`item head alone: test NDCG@10 ${trained.pretrainHeadTestNdcg10.toFixed(4)} (pretrained), ${trained.itemHeadTestNdcg10.toFixed(4)} (tuned for late interaction)`);

  const valid = data.split.valid.slice(0, USERS);
  const test = data.split.test.slice(0, USERS);
  // the traffic's share of cold targets, from users measured nowhere here
  const others = data.split.test.slice(USERS);
  const warm = rec.srm.idMask();
  const coldShare = others.length > 0 ? coldShareOf(others, (i) => warm[i] === 1) : undefined;
  if (coldShare !== undefined) log(`cold targets among the other ${others.length} users' last events: ${(100 * coldShare).toFixed(1)}%`);
  let alone = NaN; // recommend() alone on the test users (the same for both precisions)

  /** The stage with the model's matrix products in `precision`: w and m chosen on validation, test NDCG@10, latency. */
  const measureStage = async (precision: 'fp32' | 'int8') => {
    const ranker = await LmRanker.load(tuned, records, { threads, precision });
    try {
      log(`${precision}: scoring ${valid.length} validation and ${test.length} test users with the LM`);
      const chosen = await chooseRerank(rec, ranker, { valid, test }, (i) => ids.name(i), {
        candidates: CANDIDATES,
        ...(coldShare !== undefined ? { coldShare } : {}),
        onProgress: (done, total) => done % 500 === 0 && log(`${precision}: ${done}/${total} users`),
      });
      alone = chosen.aloneTestNdcg10;

      log(`${precision}: latency of the stage (Recommender.rerank, warm segment cache)`);
      const stage = { model: ranker, weight: chosen.weight, candidates: CANDIDATES, events: chosen.events };
      const sample = test.slice(0, 300);
      for (const s of sample) await rec.rerank({ history: idsOf(s), k: 10 }, stage); // fills the cache
      const ms: number[] = [];
      const baseMs: number[] = [];
      for (const s of sample) {
        let t = performance.now();
        await rec.rerank({ history: idsOf(s), k: 10 }, stage);
        ms.push(performance.now() - t);
        t = performance.now();
        rec.recommend({ history: idsOf(s), k: 10 });
        baseMs.push(performance.now() - t);
      }
      const latency = latencyStats(ms);
      if (precision === 'fp32') writeFileAtomic(`${RESULTS}.svg`, rerankChart(chosen, `The LM stage on ${name}: NDCG@10 against its weight (fp32)`));
      const { events: m, weight, testNdcg10, gain, grid, validColdShare, testColdShare } = chosen;
      const point = grid.find((g) => g.weight === weight && g.events === m)!;
      const byTarget = { cold: { alone: chosen.aloneGroups.cold, reranked: point.cold.test }, warm: { alone: chosen.aloneGroups.warm, reranked: point.warm.test } };
      return { precision, candidates: CANDIDATES, events: m, weight, testNdcg10, gain, coldShare: { weightedTo: chosen.weighted ? chosen.coldShare : null, valid: validColdShare, test: testColdShare }, byTarget, p50Ms: latency.p50, p99Ms: latency.p99, recommendP50Ms: latencyStats(baseMs).p50, recommendP99Ms: latencyStats(baseMs).p99, met: gain >= 0.03 && latency.p50 <= 5, grid };
    } finally {
      await ranker.close();
    }
  };
  const stages = [await measureStage('fp32'), await measureStage('int8')];
  await rec.close();

  log(`early exit: ${LAYERS - SPLIT - 1} heads above the split ${SPLIT}`);
  const earlyExit = await earlyExitOnTrained(tuned, SPLIT, LAYERS, { ...data, split: { ...data.split, valid, test } }, threads, Math.min(1000, valid.length >> 1));

  const result = {
    date: new Date().toISOString(),
    data: { name, items: ids.size, validUsers: valid.length, testUsers: test.length },
    recommender: { ...trained.recommender, testNdcg10: alone },
    lm: { ...shape, epochs: EPOCHS, tuneEpochs: 2, split: SPLIT, pretrainSeconds: trained.pretrainSeconds, tuneSeconds: trained.tuneSeconds, itemHeadTestNdcg10: trained.itemHeadTestNdcg10 },
    stages,
    earlyExit,
  };
  writeJson(`${RESULTS}.json`, result);
  console.log(`\nthe LM stage on ${name} (test NDCG@10; weight and events chosen on validation):`);
  printTable(
    [
      { model: 'recommend() alone', ndcg10: alone.toFixed(4), gain: '', p50Ms: stages[0]!.recommendP50Ms.toFixed(2), p99Ms: stages[0]!.recommendP99Ms.toFixed(2) },
      ...stages.map((st) => ({
        model: `rerank top ${CANDIDATES} by the LM, ${st.precision} (w ${st.weight}, ${st.events} events)`,
        ndcg10: st.testNdcg10.toFixed(4),
        gain: `${(100 * st.gain).toFixed(1)}%`,
        p50Ms: st.p50Ms.toFixed(2),
        p99Ms: st.p99Ms.toFixed(2),
      })),
      { model: `the LM's item head alone (${LAYERS} layers)`, ndcg10: trained.itemHeadTestNdcg10.toFixed(4), gain: '', p50Ms: '', p99Ms: '' },
    ],
    ['model', 'ndcg10', 'gain', 'p50Ms', 'p99Ms'],
  );
  for (const st of stages) {
    const { cold, warm } = st.byTarget;
    console.log(`${st.precision}: target >= 3% at p50 <= 5 ms: ${st.met ? 'met' : 'NOT met'}`);
    console.log(`  test users with a cold target (${(100 * st.coldShare.test).toFixed(1)}%): ${cold.alone.toFixed(4)} -> ${cold.reranked.toFixed(4)}; warm: ${warm.alone.toFixed(4)} -> ${warm.reranked.toFixed(4)} (validation ${(100 * st.coldShare.valid).toFixed(1)}% cold${st.coldShare.weightedTo === null ? ', not weighted' : `, weighted to ${(100 * st.coldShare.weightedTo).toFixed(1)}%`})`);
  }
  console.log(
    `early exit (split ${SPLIT} of ${LAYERS}): speed-up ${earlyExit.speedup.toFixed(2)}x, test NDCG@10 ${earlyExit.testNdcg10.toFixed(4)} vs ${earlyExit.testNdcg10WithoutExit.toFixed(4)} without (loss ${(100 * earlyExit.testNdcgLoss).toFixed(1)}%; target >= 2x at <= 1%: ${earlyExit.speedup >= 2 && earlyExit.testNdcgLoss <= 0.01 ? 'met' : 'NOT met'})`,
  );
} finally {
  if (!MODELS) rmSync(dir, { recursive: true, force: true });
}

/** What trained.json records: the settings the models were trained with, and their training figures. */
interface Trained {
  settings: ReturnType<typeof settings>;
  recommender: { layer: number; budgetSeconds: number; reportTestNdcg10: number | undefined };
  pretrainSeconds: number | null;
  tuneSeconds: number | null;
  pretrainHeadTestNdcg10: number;
  itemHeadTestNdcg10: number;
}

function settings() {
  return { data: path.resolve(DATA!), budget: BUDGET, ...shape, epochs: EPOCHS, split: SPLIT };
}

/** Fits the Recommender, pretrains and tunes the LM into dir; records their figures in trained.json. */
async function train(): Promise<Trained> {
  log(`fitting the Recommender (budget ${BUDGET} s)`);
  const rec = await Recommender.fit({ items, events, budget: BUDGET, seed: 1 });
  log(`layer ${rec.layer}, valid NDCG@10 ${rec.report.valid['NDCG@10']?.toFixed(4)}, test ${rec.report.test['NDCG@10']?.toFixed(4)}`);
  const recommender = { layer: rec.layer, budgetSeconds: BUDGET, reportTestNdcg10: rec.report.test['NDCG@10'] };
  await rec.save(path.join(dir, 'rec'));
  await rec.close();

  log(`pretraining a ${LAYERS}-layer model (${EPOCHS} epochs, full attention)`);
  const progress = (what: string) => (p: { step: number; totalSteps: number; lmLoss: number; itemLoss: number }) => {
    if (p.step % 200 === 0 || p.step === p.totalSteps) log(`${what}: step ${p.step}/${p.totalSteps} loss ${p.lmLoss.toFixed(3)} item ${p.itemLoss.toFixed(3)}`);
  };
  const full = path.join(dir, 'full');
  const pre = await pretrain({ items, events, out: full, ...shape, epochs: EPOCHS, threads, seed: 1, onProgress: progress('pretrain') });
  const tune = await pretrain({ items, events, out: path.join(dir, 'tuned'), model: full, localLayers: SPLIT, freezeLayers: SPLIT, epochs: 2, threads, onProgress: progress('tune') });
  const result: Trained = {
    settings: settings(),
    recommender,
    pretrainSeconds: pre.seconds,
    tuneSeconds: tune.seconds,
    pretrainHeadTestNdcg10: pre.itemHead.test['NDCG@10']!,
    itemHeadTestNdcg10: tune.itemHead.test['NDCG@10']!,
  };
  writeJson(TRAINED, result);
  return result;
}
