/** `lmrec pretrain` and `lmrec distill`: run the API with a progress bar, Ctrl-C and a printed report. */
import { distill, type DistillOptions, type DistillReport } from '../pretrain/distill.js';
import { pretrain, type PretrainOptions, type PretrainReport } from '../pretrain/pretrain.js';
import { interruptOnCtrlC } from './interrupt.js';
import { trainingBar } from './train-progress.js';

const STOP = 'stopping at the next step, writing a checkpoint';

function metricsLine(name: string, m: Record<string, number> | undefined): string {
  if (!m || m['NDCG@10'] === undefined) return `  ${name}: (no user with 3+ events to evaluate)`;
  return `  ${name}: HR@10 ${m['HR@10']!.toFixed(4)}  NDCG@10 ${m['NDCG@10']!.toFixed(4)}  MRR ${m.MRR!.toFixed(4)}`;
}

export async function runPretrain(options: Omit<PretrainOptions, 'signal' | 'onProgress'>, json: boolean): Promise<PretrainReport> {
  const out = json ? process.stderr : process.stdout;
  const bar = trainingBar(process.stderr);
  let report: PretrainReport;
  try {
    report = await pretrain({ ...options, signal: interruptOnCtrlC(STOP), onProgress: bar.update });
  } finally {
    bar.stop();
  }
  const r = report;
  out.write(
    [
      `${r.stopReason === 'aborted' ? 'stopped' : 'trained'} ${r.steps}/${r.totalSteps} steps in ${r.seconds.toFixed(1)} s (${Math.round(r.tokensPerSecond)} tokens/s), ${r.parameters} parameters`,
      `corpus: ${r.corpus.sequences} histories, ${r.corpus.tokens} tokens (vocabulary ${r.corpus.vocab}); ${r.corpus.droppedEvents} old events beyond the context left out`,
      `held-out perplexity ${r.validation.perplexity.toFixed(2)} (unigram ${r.validation.unigramPerplexity.toFixed(2)}) over ${r.validation.tokens} tokens`,
      'item head (leave-one-out, full ranking):',
      metricsLine('valid', r.itemHead.valid),
      metricsLine('test', r.itemHead.test),
      `model written to ${r.out}${r.stopReason === 'aborted' ? ' (continue with --resume)' : ''}`,
      '',
    ].join('\n'),
  );
  if (json) process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
  return report;
}

export async function runDistill(options: Omit<DistillOptions, 'signal' | 'onProgress'>, json: boolean): Promise<DistillReport> {
  const out = json ? process.stderr : process.stdout;
  const bar = trainingBar(process.stderr);
  let report: DistillReport;
  try {
    report = await distill({ ...options, signal: interruptOnCtrlC(STOP), onProgress: bar.update });
  } finally {
    bar.stop();
  }
  const r = report;
  out.write(
    [
      `student: ${r.student.layers} layers, ${r.student.parameters} parameters; teacher: ${r.teacher.layers} layers, ${r.teacher.parameters} parameters`,
      `aligned (student layer -> teacher layer): ${r.alignment.map((a) => `${a.student}->${a.teacher}`).join(', ')}`,
      `${r.steps} steps in ${r.seconds.toFixed(1)} s`,
      'item head (leave-one-out test):',
      metricsLine('teacher', r.teacher.itemHead?.test),
      metricsLine('student', r.student.itemHead.test),
      `encode: teacher ${r.encode.teacherSeconds.toFixed(2)} s, student ${r.encode.studentSeconds.toFixed(2)} s (${r.encode.speedup.toFixed(2)}x faster)`,
      `model written to ${r.out}`,
      '',
    ].join('\n'),
  );
  if (json) process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
  return report;
}
