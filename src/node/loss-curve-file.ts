// The loss-curve SVG of a run, drawn from its metrics.jsonl.
import fs from 'node:fs';
import { lossCurveSvg } from '../core/viz/loss-curve.ts';
import { writeFileAtomic } from './fs-atomic.ts';

/** Returns the written file, or null when there are no metrics yet. */
export function writeLossCurve(metricsFile: string, out: string, title: string, unit = 'nats per image'): string | null {
  if (!fs.existsSync(metricsFile)) return null;
  const rows = fs
    .readFileSync(metricsFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, number>);
  if (!rows.length) return null;
  const skip = new Set(['step', 'epoch', 'lr', 'gradNorm', 'imagesPerSec', 'time']);
  const keys = Object.keys(rows[0]).filter((k) => !skip.has(k));
  const series = keys.map((k) => ({ name: k, points: rows.map((r) => [r.step, r[k]] as [number, number]) }));
  writeFileAtomic(out, lossCurveSvg(series, { title: `${title}: training loss (${unit})`, xLabel: 'step', yLabel: unit.split(' ')[0] }));
  return out;
}
