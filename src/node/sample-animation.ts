// The sample grids a run writes every --sample-every steps (RUN/samples/step-NNNNNNN.png, the same fixed noise each
// time), turned into one GIF so the progress of training can be watched (`deepgen train --animate progress.gif`).
import fs from 'node:fs';
import path from 'node:path';
import type { ImageU8 } from '../core/viz/grid.ts';
import { decodePng } from './png.ts';
import { writeGif } from './gif.ts';

/** The step grids in a run folder, in step order. */
export function sampleGridFiles(runDir: string): string[] {
  const dir = path.join(runDir, 'samples');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /^step-\d+\.png$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/**
 * Writes the run's step grids as a GIF (delayMs per frame, the last one held for a second); returns the number of
 * frames, 0 (and no file) when the run has no grids. Frames of another size than the first (a grid from an earlier run
 * with another config) are left out.
 */
export function writeSampleAnimation(runDir: string, gifFile: string, delayMs = 200): number {
  const frames: ImageU8[] = [];
  for (const f of sampleGridFiles(runDir)) {
    const im = decodePng(fs.readFileSync(f), f);
    const first = frames[0];
    if (first && (im.width !== first.width || im.height !== first.height || im.channels !== first.channels)) continue;
    frames.push(im);
  }
  if (frames.length === 0) return 0;
  const n = frames.length;
  for (let i = 0; i < Math.ceil(1000 / delayMs); i++) frames.push(frames[n - 1]);
  writeGif(gifFile, frames, { delayMs });
  return n;
}
