/**
 * Progress bars on stderr for the recommender's commands: one bar per fit stage (encoding the
 * item texts, the layer sweep, training), a time-based bar for runs made of many fits of known
 * budgets (`lmrec demo`), and a step bar for runs made of many fits of unknown length (the
 * quality table of `lmrec eval quality`).
 *
 * On a terminal the bars redraw in place; into a pipe or a file they print a line every few
 * seconds instead.
 */
import { Presets, SingleBar } from 'cli-progress';
import type { FitProgress } from '../recommender/recommender.js';

export type FitStage = 'encoding' | 'sweep' | 'training';

export interface FitBars {
  update: (p: FitProgress) => void;
  stop: () => void;
}

const NOT_TTY_EVERY_MS = 5_000;

function newBar(stream: NodeJS.WritableStream, format: string): SingleBar {
  const tty = (stream as NodeJS.WriteStream).isTTY === true;
  return new SingleBar(
    {
      format,
      stream,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: NOT_TTY_EVERY_MS,
      // a finished bar stays on a terminal; in a log its last line is already there
      clearOnComplete: !tty,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
}

function ndcg(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(4);
}

/**
 * Bars for Recommender.fit's onProgress. `stages` are the stages this fit will run, in order:
 * when one ends the next one's bar opens at once, so a bar is on screen while the first epoch
 * or layer trains. With `budgetSeconds` the training bar measures time against the budget
 * (training ends at the budget, or earlier by early stopping); without, epochs.
 */
export function fitBars(stream: NodeJS.WritableStream, o: { stages: FitStage[]; budgetSeconds?: number | undefined; epochs?: number | undefined }): FitBars {
  const deadline = o.budgetSeconds === undefined ? undefined : Date.now() + o.budgetSeconds * 1000;
  let current: { stage: FitStage; bar: SingleBar; timer?: NodeJS.Timeout | undefined } | undefined;
  let epoch = 0;
  let best = -Infinity;
  let bestLayer: number | undefined;
  const finished = new Set<FitStage>();

  const trainingDetail = () => `epoch ${epoch || '-'}, best valid NDCG@10 ${ndcg(Number.isFinite(best) ? best : undefined)}`;

  function open(stage: FitStage): void {
    if (current) close();
    if (stage === 'encoding') {
      const bar = newBar(stream, 'encoding  [{bar}] {percentage}% | {value}/{total} items | {duration_formatted}');
      bar.start(1, 0);
      current = { stage, bar };
    } else if (stage === 'sweep') {
      const bar = newBar(stream, 'sweep     [{bar}] {value}/{total} layers | {detail} | {duration_formatted}');
      bar.start(1, 0, { detail: 'training the first layer' });
      current = { stage, bar };
    } else {
      best = -Infinity;
      if (deadline !== undefined) {
        const total = Math.max(1, Math.round((deadline - Date.now()) / 1000));
        const bar = newBar(stream, 'training  [{bar}] {percentage}% | {detail} | {value}/{total} s of the budget');
        const t0 = Date.now();
        bar.start(total, 0, { detail: trainingDetail() });
        const timer = setInterval(() => bar.update(Math.min(total, Math.round((Date.now() - t0) / 1000)), { detail: trainingDetail() }), 500);
        timer.unref();
        current = { stage, bar, timer };
      } else {
        const bar = newBar(stream, 'training  [{bar}] {value}/{total} epochs (at most) | {detail} | {duration_formatted}');
        bar.start(o.epochs ?? 200, 0, { detail: trainingDetail() });
        current = { stage, bar };
      }
    }
  }

  function close(): void {
    if (!current) return;
    if (current.timer) clearInterval(current.timer);
    current.bar.stop();
    finished.add(current.stage);
    current = undefined;
  }

  function openNext(after: FitStage): void {
    const next = o.stages[o.stages.indexOf(after) + 1];
    if (next && !finished.has(next)) open(next);
  }

  return {
    update(p) {
      if (p.stage === 'reading') return;
      if (p.stage === 'indexing') {
        close();
        return;
      }
      const stage = p.stage;
      if (current?.stage !== stage) {
        if (finished.has(stage)) return;
        open(stage);
      }
      const bar = current!.bar;
      if (stage === 'encoding') {
        bar.setTotal(Math.max(1, p.total));
        bar.update(p.done);
        if (p.done >= p.total) {
          close();
          openNext(stage);
        }
      } else if (stage === 'sweep') {
        if (p.validNdcg !== undefined && p.validNdcg > best) {
          best = p.validNdcg;
          bestLayer = p.layer;
        }
        const last = p.layer === undefined ? '' : `layer ${p.layer}: valid NDCG@10 ${ndcg(p.validNdcg)}`;
        bar.setTotal(Math.max(1, p.total));
        bar.update(p.done, { detail: `${last}${bestLayer !== undefined ? ` (best: layer ${bestLayer})` : ''}` });
        if (p.done >= p.total) {
          close();
          openNext(stage);
        }
      } else {
        epoch = p.done;
        if (p.validNdcg !== undefined && p.validNdcg > best) best = p.validNdcg;
        if (deadline === undefined) {
          bar.setTotal(Math.max(1, p.total));
          bar.update(p.done, { detail: trainingDetail() });
        } else {
          bar.update({ detail: trainingDetail() });
        }
      }
    },
    stop: close,
  };
}

export interface TimeBar {
  /** What is running now (shown after the bar). */
  step: (text: string) => void;
  stop: () => void;
}

/**
 * A bar that measures time against an estimate, for work made of many steps of known budgets
 * (and one that reports nothing while it runs). It never shows 100% before stop().
 */
export function timeBar(stream: NodeJS.WritableStream, label: string, estimateSeconds: number): TimeBar {
  const bar = newBar(stream, `${label} [{bar}] {percentage}% | {elapsed}s of ~{estimate}s | {step}`);
  const t0 = Date.now();
  let total = Math.max(1, Math.round(estimateSeconds));
  let step = 'starting';
  const tick = () => {
    const elapsed = Math.round((Date.now() - t0) / 1000);
    if (elapsed >= total * 0.97) total = Math.ceil(elapsed / 0.97) + 1;
    bar.setTotal(total);
    bar.update(elapsed, { elapsed, estimate: total, step });
  };
  bar.start(total, 0, { elapsed: 0, estimate: total, step });
  const timer = setInterval(tick, 500);
  timer.unref();
  let stopped = false;
  return {
    step(text) {
      step = text;
      tick();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      const elapsed = Math.round((Date.now() - t0) / 1000);
      bar.setTotal(Math.max(1, elapsed));
      bar.update(Math.max(1, elapsed), { elapsed, estimate: Math.max(1, elapsed), step: 'done' });
      bar.stop();
    },
  };
}

export interface StepBar {
  /** What is running now, and which step of how many it is. */
  step: (text: string, at?: { index: number; total: number }) => void;
  stop: () => void;
}

/**
 * A bar of steps (fits) done out of all of them, for work whose steps have no known length
 * (epoch caps with early stopping): the current step's text after it, updated as it goes.
 */
export function stepBar(stream: NodeJS.WritableStream, label: string): StepBar {
  const bar = newBar(stream, `${label} [{bar}] step {index}/{total} | {duration_formatted} | {step}`);
  let index = 0;
  let total = 1;
  let started = false;
  return {
    step(text, at) {
      if (at) {
        index = at.index;
        total = Math.max(1, at.total);
      }
      if (!started) {
        bar.start(total, 0, { index, total, step: text });
        started = true;
      }
      bar.setTotal(total);
      bar.update(Math.max(0, index - 1), { index, total, step: text });
    },
    stop() {
      if (!started) return;
      started = false;
      bar.update(total, { index: total, total, step: 'done' });
      bar.stop();
    },
  };
}

/** compareModels' onProgress as one line: the model being fit and its stage. */
export function qualityStep(what: string, p?: FitProgress): string {
  if (!p) return what;
  if (p.stage === 'training') return `${what}: training, epoch ${p.done}${p.validNdcg !== undefined ? `, valid NDCG@10 ${ndcg(p.validNdcg)}` : ''}`;
  if (p.stage === 'sweep') return `${what}: ${p.done}/${p.total} layers swept`;
  if (p.stage === 'encoding') return `${what}: encoding items ${p.done}/${p.total}`;
  return `${what}: ${p.stage}`;
}
