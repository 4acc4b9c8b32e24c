// Pixel preprocessing on tensors: scaling, binarization and dequantization of uint8-valued images.
// Every random op is seeded, so the same (batch, seed) always gives the same model input.

import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import { Rng } from '../tensor/rng.ts';

export type Preprocess = 'scale01' | 'symmetric' | 'binarize-dynamic' | 'binarize-fixed' | 'dequantize';

export const PREPROCESS_MODES: readonly Preprocess[] = [
  'scale01',
  'symmetric',
  'binarize-dynamic',
  'binarize-fixed',
  'dequantize',
];

export function parsePreprocess(name: string): Preprocess {
  if ((PREPROCESS_MODES as readonly string[]).includes(name)) return name as Preprocess;
  throw new UserError(`Unknown preprocessing "${name}"; use one of: ${PREPROCESS_MODES.join(', ')}.`);
}

// tf.randomUniform treats seed 0 as "unseeded", and nearby integers should still give unrelated streams.
function tfSeed(seed: number): number {
  if (!Number.isFinite(seed)) throw new Error(`preprocess seed must be a finite number, got ${seed}`);
  return new Rng(seed).seed();
}

// Largest dequantization noise: float32 rounding of (255 + u) / 256 must stay below 1 for u close to 1.
const DEQUANT_U_MAX = 1 - 2 ** -9;

/** 0..255 values (any dtype) -> float32 in [0, 1]. */
export function toFloat01<T extends tf.Tensor>(xU8: T): T {
  return tf.tidy(() => tf.div(tf.cast(xU8, 'float32'), 255)) as T;
}

/** [0, 1] -> [-1, 1]. */
export function toSymmetric<T extends tf.Tensor>(x01: T): T {
  return tf.tidy(() => tf.sub(tf.mul(x01, 2), 1)) as T;
}

/** [-1, 1] -> [0, 1]. */
export function fromSymmetric<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.div(tf.add(x, 1), 2)) as T;
}

/** Bernoulli(x01) sample per pixel, as 0/1 float32: a fresh binarization each call (seed) for binary likelihoods. */
export function binarizeDynamic<T extends tf.Tensor>(x01: T, seed: number): T {
  return tf.tidy(() =>
    tf.cast(tf.less(tf.randomUniform(x01.shape, 0, 1, 'float32', tfSeed(seed)), x01), 'float32'),
  ) as T;
}

/** 1 where x01 > threshold, else 0 (float32). */
export function binarizeFixed<T extends tf.Tensor>(x01: T, threshold = 0.5): T {
  return tf.tidy(() => tf.cast(tf.greater(x01, threshold), 'float32')) as T;
}

/** (x + u) / 256 with u ~ U[0, 1): continuous data in [x/256, (x+1)/256) for density models. */
export function dequantizeUniform<T extends tf.Tensor>(xU8: T, seed: number): T {
  return tf.tidy(() => {
    const u = tf.randomUniform(xU8.shape, 0, DEQUANT_U_MAX, 'float32', tfSeed(seed));
    return tf.div(tf.add(tf.cast(xU8, 'float32'), u), 256);
  }) as T;
}

function quantize(x01: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.round(tf.mul(tf.clipByValue(x01, 0, 1), 255)));
}

/** [0, 1] floats (any shape) -> uint8 bytes in the same (e.g. NHWC) order; values outside [0, 1] are clipped. */
export function toUint8Images(x01: tf.Tensor): Uint8Array {
  const q = quantize(x01);
  try {
    return new Uint8Array(q.dataSync());
  } finally {
    q.dispose();
  }
}

/** Same as toUint8Images without blocking on GPU backends. */
export async function toUint8ImagesAsync(x01: tf.Tensor): Promise<Uint8Array> {
  const q = quantize(x01);
  try {
    return new Uint8Array(await q.data());
  } finally {
    q.dispose();
  }
}

/** Model-space values for a uint8-valued NHWC batch; `seed` only matters for the random modes. */
export function preprocessBatch(xU8: tf.Tensor4D, mode: Preprocess, seed: number): tf.Tensor4D {
  switch (mode) {
    case 'scale01':
      return toFloat01(xU8);
    case 'symmetric':
      return tf.tidy(() => toSymmetric(toFloat01(xU8)));
    case 'binarize-dynamic':
      return tf.tidy(() => binarizeDynamic(toFloat01(xU8), seed));
    case 'binarize-fixed':
      return tf.tidy(() => binarizeFixed(toFloat01(xU8)));
    case 'dequantize':
      return dequantizeUniform(xU8, seed);
    default:
      return parsePreprocess(mode as string) as never;
  }
}

/** Model-space values back to [0, 1] for viewing (inverse of the deterministic part of preprocessBatch). */
export function postprocessTo01<T extends tf.Tensor>(x: T, mode: Preprocess): T {
  if (mode === 'symmetric') return fromSymmetric(x);
  return tf.tidy(() => tf.clipByValue(x, 0, 1)) as T;
}
