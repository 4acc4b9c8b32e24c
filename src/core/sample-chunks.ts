// Sampling in chunks: n samples of a model drawn at most `chunk` at a time, each chunk handed to the caller and freed
// before the next is drawn, so memory is one chunk's whatever n. Families draw each sample's randomness from its own
// stream (tensor/sample-streams.ts), so the images of a seed are the same whatever the chunk size.
import type * as tf from '@tensorflow/tfjs-core';
import { UserError } from './errors.ts';
import type { GenerativeModel, SampleOptions } from './family.ts';

/** Samples per forward pass unless the caller says otherwise: a guided diffusion UNet runs 2 x 64 images at once. */
export const DEFAULT_SAMPLE_CHUNK = 64;

export interface SampleChunk {
  /** Index of the chunk's first sample in the request. */
  first: number;
  /** Samples first .. first + k - 1, [k,H,W,C] in [0,1]; disposed when the loop moves on (clone what you keep). */
  images: tf.Tensor4D;
}

function checkChunking(n: number, chunk: number): void {
  if (!(Number.isSafeInteger(n) && n > 0))
    throw new UserError(`the number of samples must be a positive integer, got ${n}`);
  if (!(Number.isSafeInteger(chunk) && chunk > 0))
    throw new UserError(`the sampling batch size must be a positive integer, got ${chunk}`);
}

/**
 * Samples 0..n-1 of (seed, opts) in chunks: chunk j is model.sample(k, seed, { ...opts, first }) with first = j chunk.
 * `opts` may be a function of the chunk (e.g. callbacks for the first chunk only). Labels and prompts in opts are
 * cycled over the whole request, as one sample(n) call cycles them.
 */
export function* sampleChunks(
  model: GenerativeModel,
  n: number,
  seed: number,
  opts: SampleOptions | ((first: number, k: number) => SampleOptions) = {},
  chunk = DEFAULT_SAMPLE_CHUNK,
): Generator<SampleChunk, void, undefined> {
  checkChunking(n, chunk);
  for (let first = 0; first < n; first += chunk) {
    const k = Math.min(chunk, n - first);
    const images = model.sample(k, seed, { ...(typeof opts === 'function' ? opts(first, k) : opts), first });
    try {
      yield { first, images };
    } finally {
      images.dispose();
    }
  }
}

/**
 * sampleChunks for backends that read values back asynchronously (WebGPU): each chunk from model.sampleAsync where the
 * family has it (step-wise samplers), else from sample(); the same images.
 */
export async function* sampleChunksAsync(
  model: GenerativeModel,
  n: number,
  seed: number,
  opts: SampleOptions | ((first: number, k: number) => SampleOptions) = {},
  chunk = DEFAULT_SAMPLE_CHUNK,
): AsyncGenerator<SampleChunk, void, undefined> {
  checkChunking(n, chunk);
  for (let first = 0; first < n; first += chunk) {
    const k = Math.min(chunk, n - first);
    const o = { ...(typeof opts === 'function' ? opts(first, k) : opts), first };
    const images = model.sampleAsync ? await model.sampleAsync(k, seed, o) : model.sample(k, seed, o);
    try {
      yield { first, images };
    } finally {
      images.dispose();
    }
  }
}
