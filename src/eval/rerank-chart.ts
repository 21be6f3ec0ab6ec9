/**
 * The LM stage's weight sweep as an SVG chart (`lmrec eval rerank --svg`, bench:lm-stage): at
 * the chosen history length, test NDCG@10 relative to recommend() alone (weight 0) for every
 * user, for those whose target is warm and for those whose target is cold, beside the
 * validation figure the choice maximised (relative to its own weight 0). It shows the trade
 * the weight makes: warm targets rise, cold ones fall.
 */
import { lineChart, type ChartSeries } from '../util/svg-chart.js';
import type { RerankChoice } from './rerank-choice.js';

/**
 * @param choice What chooseRerank returned (its grid must hold weight 0 for a series to show).
 * @param title The chart's title.
 */
export function rerankChart(choice: Pick<RerankChoice, 'grid' | 'events'>, title: string): string {
  const points = choice.grid.filter((g) => g.events === choice.events).sort((a, b) => a.weight - b.weight);
  const base = points.find((g) => g.weight === 0);
  const relative = (name: string, value: (g: RerankChoice['grid'][number]) => number): ChartSeries[] => {
    const at0 = base ? value(base) : NaN;
    if (!(at0 > 0) || points.some((g) => !Number.isFinite(value(g)))) return []; // no baseline, or nobody in the group
    return [{ name, points: points.map((g) => ({ x: g.weight, y: value(g) / at0 })) }];
  };
  return lineChart({
    title,
    xLabel: `weight w of the LM's score (the last ${choice.events} events read)`,
    yLabel: 'NDCG@10 relative to recommend() alone',
    series: [
      ...relative('test, every user', (g) => g.testNdcg10),
      ...relative('test, warm targets', (g) => g.warm.test),
      ...relative('test, cold targets', (g) => g.cold.test),
      ...relative('validation (what the choice maximised)', (g) => g.validNdcg10),
    ],
  });
}
