/** The progress bar of `lmrec pretrain` and `lmrec distill`: steps, loss, tokens/s and ETA. */
import { Presets, SingleBar } from 'cli-progress';
import type { TrainingProgress } from '../pretrain/training-run.js';

export function trainingBar(stream: NodeJS.WriteStream): { update: (p: TrainingProgress) => void; stop: () => void } {
  const bar = new SingleBar(
    {
      format: 'training [{bar}] {value}/{total} steps | loss {loss} | item loss {itemLoss} | {tps} tokens/s | ETA {etaText}',
      hideCursor: true,
      stream,
      // Logs (no terminal) get a line every 10 seconds instead of a redrawn bar.
      noTTYOutput: true,
      notTTYSchedule: 10_000,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const values = { loss: p.lmLoss.toFixed(3), itemLoss: p.itemLoss.toFixed(3), tps: Math.round(p.tokensPerSecond), etaText: duration(p.etaSeconds) };
      if (!started) {
        bar.start(p.totalSteps, p.step, values);
        started = true;
      } else {
        bar.setTotal(p.totalSteps);
        bar.update(p.step, values);
      }
    },
    stop: () => started && bar.stop(),
  };
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

