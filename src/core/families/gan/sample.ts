// Sampling a GAN: seeded noise z ~ N(0, I) (one stream per sample), x = G(z, c) with batch norm normalised by a fixed reference batch, images
// mapped from [-1, 1] to [0, 1], and spherical interpolation (slerp) between noise vectors.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../tensor/rng.ts';
import { SampleStreams } from '../../tensor/sample-streams.ts';
import type { Generator } from './networks.ts';

/** Seed of the reference noise batch whose statistics normalise G's batch norm when sampling. */
export const REFERENCE_SEED = 0x5eed;

/**
 * Training noise z ~ N(0, I), [n, latent], one draw for the batch. The seed goes through Rng first: tf.randomNormal
 * takes a raw 0 (the CLI's default seed) as "unseeded" and draws new noise each time.
 */
export function drawNoise(n: number, latent: number, seed: number): tf.Tensor2D {
  return tf.randomNormal([n, latent], 0, 1, 'float32', new Rng(seed).seed()) as tf.Tensor2D;
}

/** The noise of samples first .. first + n - 1 of a seed, [n, latent]: each row from its sample's own stream. */
export function sampleNoise(n: number, latent: number, seed: number, first = 0): tf.Tensor2D {
  return new SampleStreams(seed, first, n).normal([latent]) as tf.Tensor2D;
}

/**
 * Images [n,H,W,C] in [0,1] from noise z [n, latent] and conditions c [n, dim] (or null). With batch norm, R reference
 * rows (zRef, cRef) go through G in front of the samples and only their statistics normalise every row, so each
 * sample depends on its own z and c alone.
 */
export function generateImages(
  G: Generator,
  z: tf.Tensor2D,
  c: tf.Tensor2D | null,
  ref: { z: tf.Tensor2D; c: tf.Tensor2D | null } | null,
): tf.Tensor4D {
  return tf.tidy(() => {
    const n = z.shape[0];
    let x: tf.Tensor4D;
    if (ref) {
      const R = ref.z.shape[0];
      const cc = c && ref.c ? (tf.concat([ref.c, c], 0) as tf.Tensor2D) : null;
      x = tf.slice(G.forward(tf.concat([ref.z, z], 0) as tf.Tensor2D, cc, R), R, n);
    } else x = G.forward(z, c);
    return toUnit(x);
  });
}

/** [-1, 1] -> [0, 1]: (x + 1) / 2, clipped. */
export function toUnit(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.div(tf.add(x, 1), 2), 0, 1) as tf.Tensor4D);
}

/**
 * Spherical interpolation (Shoemake 1985; White 2016 for GAN latents) between a and b at t in [0, 1]:
 *   Omega = arccos(<a, b> / (|a| |b|)),  slerp(a, b; t) = sin((1 - t) Omega) / sin Omega a + sin(t Omega) / sin Omega b
 * It follows the great circle, so the norm stays near that of typical N(0, I) draws (sqrt(d)), where the straight
 * line dips through low-norm points G never saw. Falls back to the straight line when a and b are (anti)parallel.
 */
export function slerp(a: ArrayLike<number>, b: ArrayLike<number>, t: number): Float32Array {
  const d = a.length;
  if (b.length !== d) throw new Error(`slerp: vectors of length ${d} and ${b.length}`);
  let dot = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < d; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const cos = Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb || 1)));
  const omega = Math.acos(cos);
  const so = Math.sin(omega);
  const [ka, kb] = so < 1e-6 ? [1 - t, t] : [Math.sin((1 - t) * omega) / so, Math.sin(t * omega) / so];
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) out[i] = ka * a[i] + kb * b[i];
  return out;
}

/** For pairs (a_i, b_i) [m, d]: `steps` points of slerp each, ends included, pair by pair: [m steps, d]. */
export function slerpPath(a: tf.Tensor2D, b: tf.Tensor2D, steps: number): tf.Tensor2D {
  const [m, d] = a.shape;
  const A = a.dataSync(),
    Bv = b.dataSync();
  const out = new Float32Array(m * steps * d);
  for (let i = 0; i < m; i++) {
    for (let s = 0; s < steps; s++) {
      const t = steps === 1 ? 0 : s / (steps - 1);
      out.set(slerp(A.subarray(i * d, (i + 1) * d), Bv.subarray(i * d, (i + 1) * d), t), (i * steps + s) * d);
    }
  }
  return tf.tensor2d(out, [m * steps, d]);
}
