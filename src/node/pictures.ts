// Writing image tensors to disk: [N,H,W,C] in [0,1] -> a PNG grid.
import * as tf from '@tensorflow/tfjs-core';
import { toUint8ImagesAsync } from '../core/data/preprocess.ts';
import { makeGrid, upscale } from '../core/viz/grid.ts';
import { writePng } from './png.ts';
import fs from 'node:fs';
import path from 'node:path';

export async function writeImageGrid(
  file: string,
  x: tf.Tensor4D,
  opts: { cols?: number; scale?: number } = {},
): Promise<string> {
  const [n, h, w, c] = x.shape;
  const data = await toUint8ImagesAsync(x);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writePng(file, upscale(makeGrid(data, n, h, w, c, { cols: opts.cols ?? Math.ceil(Math.sqrt(n)) }), opts.scale ?? 1));
  return file;
}
