// Seeded shuffling and mini-batching of an ImageDataset, plus subset helpers.
// An epoch's order is a pure function of (seed, epoch), so training can resume at an exact batch.

import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import { Rng } from '../tensor/rng.ts';
import type { ImageDataset } from './types.ts';

export interface Batch {
  /** size * H * W * C uint8 values, NHWC (a copy; safe to keep). */
  images: Uint8Array;
  labels?: Int32Array;
  captions?: string[];
  /** Dataset index of each image in the batch. */
  indices: Int32Array;
  size: number;
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffle with this generator (e.g. epochRng(seed, epoch)); ignored when `order` is given. */
  rng?: Rng;
  /** Explicit visiting order (e.g. epochOrder(n, seed, epoch)). */
  order?: Int32Array;
  /** Drop a final batch smaller than batchSize. Default false. */
  dropLast?: boolean;
  /** Skip the first k batches of this epoch, for exact resume. */
  start?: number;
}

function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** The shuffling generator for one epoch: depends only on (seed, epoch). */
export function epochRng(seed: number, epoch: number): Rng {
  if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`epoch must be a non-negative integer, got ${epoch}`);
  const k = new Rng(seed).nextUint32();
  return new Rng(mix32(k ^ mix32((epoch + 0x632be5ab) >>> 0)));
}

/** Permutation of 0..n-1 for an epoch; equals the order batches() uses with rng = epochRng(seed, epoch). */
export function epochOrder(n: number, seed: number, epoch = 0): Int32Array {
  return shuffledRange(n, epochRng(seed, epoch));
}

function shuffledRange(n: number, rng: Rng | undefined): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (rng) rng.shuffle(order);
  return order;
}

export function numBatches(n: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/** Yields mini-batches of ds in order (or shuffled), starting at batch `start`. */
export function* batches(ds: ImageDataset, opts: BatchOptions): Generator<Batch> {
  const { batchSize, dropLast = false, start = 0 } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new UserError(`Invalid batch size ${batchSize}: it must be a positive integer (e.g. 64).`);
  }
  if (!Number.isInteger(start) || start < 0)
    throw new Error(`batches start must be a non-negative integer, got ${start}`);
  const order = opts.order ?? shuffledRange(ds.n, opts.rng);
  if (order.length !== ds.n) throw new Error(`batches order has ${order.length} entries for a dataset of ${ds.n}`);
  const plane = ds.height * ds.width * ds.channels;
  const total = numBatches(ds.n, batchSize, dropLast);
  for (let b = start; b < total; b++) {
    const lo = b * batchSize;
    const size = Math.min(batchSize, ds.n - lo);
    const indices = order.slice(lo, lo + size);
    const images = new Uint8Array(size * plane);
    for (let i = 0; i < size; i++) {
      const j = indices[i];
      images.set(ds.images.subarray(j * plane, (j + 1) * plane), i * plane);
    }
    const batch: Batch = { images, indices, size };
    if (ds.labels) {
      const labels = new Int32Array(size);
      for (let i = 0; i < size; i++) labels[i] = ds.labels[indices[i]];
      batch.labels = labels;
    }
    if (ds.captions) {
      const captions = ds.captions;
      batch.captions = Array.from(indices, (j) => captions[j]);
    }
    yield batch;
  }
}

/** Batch pixels as a float32 tensor [B, H, W, C] with values 0..255 (feed to preprocessBatch). */
export function batchToTensor(batch: Batch, ds: Pick<ImageDataset, 'height' | 'width' | 'channels'>): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(batch.images), [batch.size, ds.height, ds.width, ds.channels], 'float32');
}

/** Images start..start+count-1 (views into ds, not copies). */
export function subset(ds: ImageDataset, start: number, count: number): ImageDataset {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > ds.n) {
    throw new UserError(
      `Cannot take images ${start}..${start + count - 1} of ${ds.name}: it has ${ds.n} images; use a range inside 0..${ds.n - 1}.`,
    );
  }
  const plane = ds.height * ds.width * ds.channels;
  const out: ImageDataset = {
    name: ds.name,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    n: count,
    images: ds.images.subarray(start * plane, (start + count) * plane),
  };
  if (ds.labels) out.labels = ds.labels.subarray(start, start + count);
  if (ds.classNames) out.classNames = ds.classNames;
  if (ds.captions) out.captions = ds.captions.slice(start, start + count);
  return out;
}

/** The first min(n, ds.n) images. */
export function take(ds: ImageDataset, n: number): ImageDataset {
  if (!Number.isInteger(n) || n < 0)
    throw new UserError(`Invalid image count ${n}: it must be a non-negative integer (e.g. 1000).`);
  return subset(ds, 0, Math.min(n, ds.n));
}

/** The images at the given indices, in that order (copies). */
export function select(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  const plane = ds.height * ds.width * ds.channels;
  const m = indices.length;
  const images = new Uint8Array(m * plane);
  for (let i = 0; i < m; i++) {
    const j = indices[i];
    if (!(j >= 0 && j < ds.n)) throw new Error(`select index ${j} out of range for ${ds.n} images`);
    images.set(ds.images.subarray(j * plane, (j + 1) * plane), i * plane);
  }
  const out: ImageDataset = { name: ds.name, height: ds.height, width: ds.width, channels: ds.channels, n: m, images };
  if (ds.labels) out.labels = Int32Array.from({ length: m }, (_, i) => ds.labels![indices[i]]);
  if (ds.classNames) out.classNames = ds.classNames;
  if (ds.captions) out.captions = Array.from({ length: m }, (_, i) => ds.captions![indices[i]]);
  return out;
}
