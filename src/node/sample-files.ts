// Samples to disk as they are made: n samples drawn in chunks (core/sample-chunks.ts), each chunk written when it is
// done - into one grid PNG (rewritten as it fills in) up to MAX_GRID_SAMPLES samples, or as numbered PNG files.
import fs from 'node:fs';
import path from 'node:path';
import { toUint8ImagesAsync } from '../core/data/preprocess.ts';
import { UserError } from '../core/errors.ts';
import type { GenerativeModel, SampleOptions } from '../core/family.ts';
import { sampleChunks } from '../core/sample-chunks.ts';
import { Grid, upscale, type ImageU8 } from '../core/viz/grid.ts';
import { removeStaleTemps } from './fs-atomic.ts';
import { encodePng, writePng } from './png.ts';

/** The most samples one grid holds; above it, samples go to numbered files (a grid of 100,000 was a 262 MB PNG). */
export const MAX_GRID_SAMPLES = 2048;

/** The largest grid picture, in bytes after --scale (a 16x enlargement of a full grid of 64x64 RGB images is 3 GB). */
const MAX_GRID_BYTES = 1 << 28;

/** How often a filling grid is rewritten on disk, so a long run shows its progress without re-encoding per chunk. */
const GRID_REWRITE_MS = 2000;

export interface SampleFilesOptions {
  n: number;
  /** The model's image size. */
  image: { height: number; width: number; channels: number };
  seed: number;
  /** Sampling options, or a function of the chunk (first sample's index, size), e.g. callbacks for the first only. */
  opts?: SampleOptions | ((first: number, k: number) => SampleOptions);
  /** Samples per forward pass (sampleChunks' default when absent). */
  chunk?: number;
  /** Write one grid PNG with `cols` columns. */
  grid?: { file: string; cols: number };
  /** Write sample i as DIR/<i, zero-padded>.png. */
  dir?: string;
  /** Enlarge every picture k times (nearest neighbour). */
  scale?: number;
  /** Called after each chunk with the number of samples done. */
  onChunk?: (done: number) => void;
}

/** The file name of sample i of n in a numbered folder: at least four digits, as many as n - 1 needs. */
export function sampleFileName(i: number, n: number): string {
  return `${String(i).padStart(Math.max(4, String(n - 1).length), '0')}.png`;
}

/** Draws o.n samples chunk by chunk and writes each chunk as it finishes; memory does not grow with n past the grid. */
export async function writeSampleFiles(model: GenerativeModel, o: SampleFilesOptions): Promise<void> {
  if (o.grid && o.n > MAX_GRID_SAMPLES)
    throw new UserError(
      `a grid holds at most ${MAX_GRID_SAMPLES} samples, not ${o.n}; write them as numbered files with --files DIR (the default above ${MAX_GRID_SAMPLES}), or lower --n`,
    );
  if (!o.grid && !o.dir) throw new Error('writeSampleFiles: give a grid file, a folder, or both');
  const scale = o.scale ?? 1;
  const { height: h, width: w, channels: c } = o.image;
  if (o.grid) {
    const { height, width } = Grid.layout(o.n, h, w, { cols: o.grid.cols });
    const bytes = height * width * c * scale * scale;
    if (bytes > MAX_GRID_BYTES)
      throw new UserError(
        `a grid of ${o.n} samples at --scale ${scale} would be a ${(bytes / 2 ** 20).toFixed(0)} MB picture (at most ${MAX_GRID_BYTES / 2 ** 20} MB); lower --scale or --n, or write numbered files with --files DIR`,
      );
  }
  if (o.grid) fs.mkdirSync(path.dirname(o.grid.file), { recursive: true });
  if (o.dir) {
    fs.mkdirSync(o.dir, { recursive: true });
    removeStaleTemps(o.dir); // a killed earlier run's half-written files
  }
  let grid: Grid | null = null;
  let written = performance.now();
  const writeGrid = () => writePng(o.grid!.file, upscale(grid!.image, scale));
  for (const { first, images } of sampleChunks(model, o.n, o.seed, o.opts, o.chunk)) {
    const k = images.shape[0];
    const data = await toUint8ImagesAsync(images);
    if (o.grid) {
      grid ??= new Grid(o.n, h, w, c, { cols: o.grid.cols });
      grid.place(data, first, k);
      if (first + k < o.n && performance.now() - written > GRID_REWRITE_MS) {
        writeGrid();
        written = performance.now();
      }
    }
    if (o.dir) {
      const per = h * w * c;
      for (let j = 0; j < k; j++)
        writeSampleFile(
          path.join(o.dir, sampleFileName(first + j, o.n)),
          upscale({ data: data.subarray(j * per, (j + 1) * per), height: h, width: w, channels: c }, scale),
        );
    }
    o.onChunk?.(first + k);
  }
  if (grid) writeGrid();
}

/** One numbered sample: complete or absent after a crash (temp file + rename), without writePng's fsyncs, which cost
 *  more than the sampling itself at thousands of files. */
function writeSampleFile(file: string, img: ImageU8): void {
  const tmp = `${file}.tmp-${process.pid}-0`; // the pattern removeStaleTemps knows
  fs.writeFileSync(tmp, encodePng(img));
  fs.renameSync(tmp, file);
}
