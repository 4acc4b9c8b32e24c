// The loss-curve SVG of a run, drawn from its metrics.jsonl.
import { lossCurveSvg } from '../core/viz/loss-curve.ts';
import { writeFileAtomic } from './fs-atomic.ts';
import { readMetricsLog } from './metrics-file.ts';

/** Returns the written file, or null when there are no metrics yet. */
export function writeLossCurve(
  metricsFile: string,
  out: string,
  title: string,
  unit = 'nats per image',
): string | null {
  const rows = readMetricsLog(metricsFile); // a torn last line (cut-off append) is left out
  if (!rows.length) return null;
  const skip = new Set(['step', 'epoch', 'lr', 'gradNorm', 'imagesPerSec', 'time']);
  const keys = Object.keys(rows[0]).filter((k) => !skip.has(k));
  const series = keys.map((k) => ({ name: k, points: rows.map((r) => [r.step, r[k]] as [number, number]) }));
  writeFileAtomic(
    out,
    lossCurveSvg(series, { title: `${title}: training loss (${unit})`, xLabel: 'step', yLabel: unit.split(' ')[0] }),
  );
  return out;
}
