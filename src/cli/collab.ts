/**
 * `lmrec eval collab`: device–cloud collaboration (LSC4Rec) measured on a catalog and an event
 * log. Trains the two sides on leave-one-out's training part — the cloud: the Recommender (LM
 * codes + SRM, the whole catalog) or a wider plain SRM; the device: a small SRM; plain SRMs
 * early-stop on every other validation user — then runs evaluateCollab on the other half and
 * the test users (src/collab/evaluate.ts, where exactly which events each side sees is set
 * out) and reports the table, the request curve as JSON and an SVG chart. The command itself
 * is declared in src/cli/commands/eval-collab.ts.
 */
import { evaluateCollab, type CloudModel, type CollabReport } from '../collab/evaluate.js';
import { FUSION_RULES } from '../collab/fusion.js';
import { readCatalogIds, readInteractions } from '../data/interactions.js';
import { LmrecError } from '../errors.js';
import { coldShareOf, describeColdShare, setAsideForColdShare } from '../eval/cold-share.js';
import { leaveOneOut, type Split } from '../eval/leave-one-out.js';
import { Recommender } from '../recommender/recommender.js';
import { SequentialRecommender, SRM_DEFAULTS, type StopReason } from '../srm/sequential-recommender.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { lineChart } from '../util/svg-chart.js';
import { fitBars } from './fit-progress.js';
import type { CommandIo } from './recommender.js';

export interface CollabCommandOptions {
  items: string;
  events: string;
  /** The cloud's model: the Recommender (LM codes + SRM; default) or a plain SRM. */
  cloud?: 'recommender' | 'srm' | undefined;
  /** The cloud Recommender's language model: 'default' (bundled) or a model directory. */
  lm?: string | undefined;
  /** The cloud Recommender's LM layer, or 'auto' (a layer sweep within the budget; default). */
  cloudLayer?: 'auto' | number | undefined;
  /** The cloud SRM's width. Default 64 (Recommender) or 128 (plain SRM). */
  cloudDim?: number | undefined;
  /** Seconds the cloud model trains. Default 60. */
  cloudBudget?: number | undefined;
  /** The device SRM's width. Default 32. */
  deviceDim?: number | undefined;
  /** Seconds the device model trains. Default 30. */
  deviceBudget?: number | undefined;
  candidates?: number | undefined;
  rates?: number[] | undefined;
  randomDraws?: number | undefined;
  seed?: number | undefined;
  threads?: number | undefined;
  /** Write the result as JSON here. */
  out?: string | undefined;
  /** Write the request curve as an SVG chart here. */
  svg?: string | undefined;
  /** The fusion chosen on validation weighted to this share of cold targets; 'auto': read from test users set aside. */
  coldShare?: number | 'auto' | undefined;
}

/** A side's model as the result describes it. */
export interface CollabModelInfo {
  kind: 'recommender' | 'srm';
  dim: number;
  parameters: number;
  /** The Recommender's LM layer. */
  layer?: number;
  trainSeconds: number;
  stopReason: StopReason | undefined;
}

export interface CollabEvalResult extends CollabReport {
  data: { items: number; users: number; events: number };
  cloudModel: CollabModelInfo;
  deviceModel: CollabModelInfo;
}

export async function runCollabEval(o: CollabCommandOptions, io: CommandIo): Promise<CollabEvalResult> {
  const catalog = await readCatalogIds(o.items);
  const data = await readInteractions(o.events, { items: catalog });
  const split = leaveOneOut(data.sequences);
  if (split.test.length === 0) throw new LmrecError('nothing to evaluate: no user has 3 or more events', 'INVALID_DATA');
  const items = catalog.size;
  // --cold-share auto: every other test user's last event says how many targets are cold, and
  // that user is measured nowhere
  let test = split.test;
  let coldShare = o.coldShare === 'auto' ? undefined : o.coldShare;
  if (o.coldShare === 'auto') {
    const aside = setAsideForColdShare(split.test);
    const trained = new Uint8Array(catalog.size);
    for (const h of split.train) for (const i of h) trained[i] = 1;
    test = aside.measured;
    coldShare = coldShareOf(aside.estimate, (i) => trained[i] === 1);
    io.log(`cold targets among the last events of ${aside.estimate.length} test users set aside: ${describeColdShare(aside.estimate.length, coldShare)}`);
  }
  io.log(`${items} items, ${data.users.size} users, ${data.events} events; ${test.length} users evaluated`);

  // The SRMs early-stop on every other validation user; the fusion and the policy's thresholds
  // are chosen on the rest. A model early-stopped on the users that choose reads stronger there
  // than on test (Sports, all users for both: the device 0.0151 on validation, 0.0092 on test),
  // and the choice leaned to it.
  const halves = split.valid.length >= 2;
  const stopOn = halves ? split.valid.filter((_, j) => j % 2 === 0) : split.valid;
  const chooseOn = halves ? split.valid.filter((_, j) => j % 2 === 1) : split.valid;
  io.log(`validation users: ${stopOn.length} early-stop the SRMs, ${chooseOn.length} others choose the fusion and the policy's thresholds`);
  const device = await trainSrm('device', split.train, stopOn, items, o.deviceDim ?? 32, o.deviceBudget ?? 30, o, io);
  let cloud: { model: CloudModel; info: CollabModelInfo; close: () => Promise<void> };
  try {
    cloud = o.cloud === 'srm' ? await trainSrm('cloud', split.train, stopOn, items, o.cloudDim ?? 128, o.cloudBudget ?? 60, o, io) : await fitRecommender(o, items, io);
  } catch (e) {
    await device.close();
    throw e;
  }
  let report: CollabReport;
  try {
    report = await evaluateCollab({ valid: chooseOn, test, train: split.train }, items, { cloud: cloud.model, device: device.model }, {
      ...(o.candidates !== undefined ? { candidates: o.candidates } : {}),
      ...(o.rates !== undefined ? { rates: o.rates } : {}),
      ...(o.randomDraws !== undefined ? { randomDraws: o.randomDraws } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(coldShare !== undefined ? { coldShare } : {}),
    });
  } finally {
    await cloud.close();
    await device.close();
  }
  const result: CollabEvalResult = {
    data: { items, users: data.users.size, events: data.events },
    cloudModel: cloud.info,
    deviceModel: device.info,
    ...report,
  };
  for (const line of summary(result, coldShare)) io.log(line);
  if (o.out) {
    writeFileAtomic(o.out, `${JSON.stringify(result, null, 1)}\n`);
    io.log(`wrote ${o.out}`);
  }
  if (o.svg) {
    writeFileAtomic(o.svg, collabChart(result));
    io.log(`wrote the request curve to ${o.svg}`);
  }
  return result;
}

/** A plain SRM on the training part, early-stopped on `valid` within the budget. */
async function trainSrm(side: 'cloud' | 'device', train: Int32Array[], valid: Split[], items: number, dim: number, seconds: number, o: CollabCommandOptions, io: CommandIo) {
  const t0 = performance.now();
  const srm = await SequentialRecommender.fit(train, items, {
    ...SRM_DEFAULTS,
    dim,
    valid,
    maxSeconds: seconds,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
    onEpoch: (r) => r.valid && io.log(`${side} srm epoch ${r.epoch + 1}: valid NDCG@10 ${r.valid['NDCG@10']!.toFixed(4)}${r.best ? ' (best)' : ''}`),
  });
  const info: CollabModelInfo = { kind: 'srm', dim, parameters: srm.info.parameters, trainSeconds: (performance.now() - t0) / 1000, stopReason: srm.stopReason };
  return { model: srm, info, close: async () => srm.close() };
}

/**
 * The Recommender on the same files: it splits them as leaveOneOut does, so it trains on the
 * same training part, and numbers items in catalog-file order as readCatalogIds does (its
 * catalog refuses repeated ids, so the two numberings are the same list).
 */
async function fitRecommender(o: CollabCommandOptions, items: number, io: CommandIo) {
  const layer = o.cloudLayer ?? 'auto';
  const seconds = o.cloudBudget ?? 60;
  const bars = fitBars(io.progress ?? process.stderr, { stages: layer === 'auto' ? ['encoding', 'sweep', 'training'] : ['encoding', 'training'], budgetSeconds: seconds });
  let rec: Recommender;
  try {
    rec = await Recommender.fit({
      items: o.items,
      events: o.events,
      model: o.lm ?? 'default',
      layer,
      budget: seconds,
      srm: { dim: o.cloudDim ?? SRM_DEFAULTS.dim },
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onProgress: bars.update,
    });
  } finally {
    bars.stop();
  }
  if (rec.items !== items) {
    await rec.close();
    throw new LmrecError(`the cloud recommender read ${rec.items} items, the catalog has ${items}`, 'INTERNAL');
  }
  const srm = rec.srm;
  const info: CollabModelInfo = { kind: 'recommender', dim: srm.info.dim, parameters: srm.info.parameters, layer: rec.layer, trainSeconds: rec.report.seconds, stopReason: rec.report.stopReason };
  io.log(`cloud recommender: layer ${rec.layer}, valid NDCG@10 ${rec.report.valid['NDCG@10']?.toFixed(4)}, ${rec.report.seconds.toFixed(0)} s`);
  // the whole Recommender as recommend() ranks (SRM and content part), not its SRM alone
  const scorer = rec.scorer();
  const model: CloudModel = {
    items: rec.items,
    scoreBatch: async (histories) => scorer(histories.map((h, user) => ({ history: Int32Array.from(h), target: -1, user }))),
  };
  return { model, info, close: () => rec.close() };
}

const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** How the fusion was chosen: validation as it is, weighted to the share asked for, or the share ignored. */
function choiceNote(r: CollabEvalResult, asked: number | undefined): string {
  if (r.choice.weighted) return `weighted to ${pct(r.choice.coldShare)}: ${FUSION_RULES.map((rule) => `${rule} ${r.choice.validNdcg10[rule].toFixed(4)}`).join(', ')}`;
  return asked === undefined ? 'as it is' : 'as it is (--cold-share ignored: validation has no users with a cold target, or only those)';
}

function summary(r: CollabEvalResult, coldShare: number | undefined): string[] {
  const f = (x: number) => x.toFixed(4).padStart(9);
  const row = (name: string, q: { valid: { 'NDCG@10': number }; test: { 'HR@10': number; 'NDCG@10': number } }) =>
    `${name.padEnd(30)}${f(q.valid['NDCG@10'])}${f(q.test['HR@10'])}${f(q.test['NDCG@10'])}`;
  return [
    '',
    `cloud: ${r.cloudModel.kind}, dim ${r.cloudModel.dim}, ${r.cloudModel.parameters} parameters; device: SRM dim ${r.deviceModel.dim}, ${r.deviceModel.parameters} parameters`,
    `the cloud lists ${r.candidates} candidates and has not seen the last ${r.staleEvents} events; test targets in its stale list ${(100 * r.recall.stale).toFixed(1)}%, in a fresh one ${(100 * r.recall.fresh).toFixed(1)}%`,
    '',
    `${'model'.padEnd(30)}${'valid NDCG'.padStart(9)}${'HR@10'.padStart(9)}${'NDCG@10'.padStart(9)}   (test but the first column)`,
    row('cloud only (stale history)', r.models['cloud-only']),
    row('cloud on the fresh history', r.models['cloud-fresh']),
    row('device only', r.models['device-only']),
    `cold targets: ${pct(r.choice.validColdShare)} of validation, ${pct(r.choice.testColdShare)} of test users; the fusion chosen on validation NDCG@10 ${choiceNote(r, coldShare)}`,
    ...FUSION_RULES.map((rule) => row(`fusion ${rule}${rule === r.bestFusion ? ' (best)' : ''}`, r.fusions[rule])),
    '',
    `request curve (fusion ${r.bestFusion}; thresholds from validation; test NDCG@10):`,
    `${'budget'.padStart(8)}${'asked'.padStart(9)}${'policy'.padStart(9)}${'random'.padStart(9)}`,
    ...r.curve.map((p) => `${p.rate.toFixed(2).padStart(8)}${p.policy.requestRate.toFixed(3).padStart(9)}${f(p.policy['NDCG@10'])}${f(p.random['NDCG@10'])}`),
    `${'1.00'.padStart(8)}${'1.000'.padStart(9)}${f(r.allRequests['NDCG@10'])}${f(r.allRequests['NDCG@10'])}`,
    '',
    `where the gain comes from (test NDCG@10; histories of at most ${r.medianHistory} events are short):`,
    `${'users'.padEnd(22)}${'n'.padStart(7)}${'cloud'.padStart(9)}${'device'.padStart(9)}${'fusion'.padStart(9)}`,
    ...(
      [
        ['short histories', r.groups.shortHistory],
        ['long histories', r.groups.longHistory],
        ['warm targets', r.groups.warmTarget],
        ['cold targets', r.groups.coldTarget],
      ] as const
    ).map(([name, g]) => `${name.padEnd(22)}${String(g.users).padStart(7)}${f(g['cloud-only'])}${f(g['device-only'])}${f(g.fusion)}`),
    '',
    `target: the best fusion beats the cloud alone and the device SRM over the whole catalog: ${met(r.targets.bestFusionBeatsBoth)}`,
    `target: the best mixing fusion beats llm-only and srm-only on the same list (the paper's comparison): ${met(r.targets.mixBeatsSingleRules)}`,
    `target: the policy beats random requests at every budget <= 30%: ${met(r.targets.policyBeatsRandom)}`,
  ];
}

/** Test NDCG@10 against the request rate, for the policy and random requests, with the single models for scale. */
export function collabChart(r: CollabReport): string {
  const stale = r.fusions[r.bestFusion].test['NDCG@10'];
  const all = r.allRequests['NDCG@10'];
  const flat = (y: number) => [
    { x: 0, y },
    { x: 1, y },
  ];
  return lineChart({
    title: `Device–cloud collaboration: test NDCG@10 against requests (fusion ${r.bestFusion})`,
    xLabel: 'request budget (share of answers that ask the cloud)',
    yLabel: 'test NDCG@10',
    series: [
      { name: 'inconsistency policy', points: [{ x: 0, y: stale }, ...r.curve.map((p) => ({ x: p.rate, y: p.policy['NDCG@10'] })), { x: 1, y: all }] },
      { name: 'random requests', points: [{ x: 0, y: stale }, ...r.curve.map((p) => ({ x: p.rate, y: p.random['NDCG@10'] })), { x: 1, y: all }] },
      { name: 'device only', points: flat(r.models['device-only'].test['NDCG@10']) },
      { name: 'cloud only (stale)', points: flat(r.models['cloud-only'].test['NDCG@10']) },
    ],
  });
}
