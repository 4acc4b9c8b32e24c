// Codes and pictures of an AE/VAE: prior draws, codes of images, reconstructions, interpolation, latent traversal and
// the 2-d manifold. Codes are [N, L]; images [N,H,W,C] in [0,1] (decoder means). A condition y is a class label (number)
// or a prompt (string); lists are cycled over the rows, and a conditional model given none uses its learned null embedding.
import * as tf from '@tensorflow/tfjs-core';
import { embedCycled, type CondValue } from '../../conditioning/conditioner.ts';
import { SampleStreams } from '../../tensor/sample-streams.ts';
import type { VaeNetworks } from './model.ts';

/** Probit (inverse standard-normal CDF), Acklam's rational approximation (rel. error < 1.2e-9). */
export function probit(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  if (p > 1 - pl) return -probit(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/** Decode latents to mean images. */
export function decodeMean(nets: VaeNetworks, z: tf.Tensor2D, ys?: readonly CondValue[]): tf.Tensor4D {
  return tf.tidy(() => nets.mean(nets.decode(z, embedCycled(nets.cond, ys, z.shape[0]))));
}

/**
 * z [n, L] from the prior: z ~ p(z) = N(0, I) for the VAE. The AE has no prior, so its z = mean + std eps,
 * eps ~ N(0, I), is drawn from a diagonal Gaussian fitted to training codes (buffers codeMean, codeStd), the usual stand-in.
 * Rows are samples first .. first + n - 1 of the seed.
 */
export function drawPrior(
  nets: VaeNetworks,
  n: number,
  seed: number,
  first: number,
  codeStats?: { mean: tf.Tensor; std: tf.Tensor },
): tf.Tensor2D {
  return tf.tidy(() => {
    const eps = new SampleStreams(seed, first, n).normal([nets.latent]) as tf.Tensor2D; // row i: sample first + i's own stream
    return (codeStats ? tf.add(tf.mul(eps, codeStats.std), codeStats.mean) : eps) as tf.Tensor2D;
  });
}

/** Codes [B, L] of images x: the posterior mean mu(x) (VAE) or the code enc(x) (AE), with conditions ys cycled. */
export function encodeMean(nets: VaeNetworks, x: tf.Tensor4D, ys?: readonly CondValue[]): tf.Tensor2D {
  return tf.tidy(() => nets.encode(x, embedCycled(nets.cond, ys, x.shape[0])).mu);
}

/** Reconstructions: decoder mean at z = mu(x). */
export function reconstruct(nets: VaeNetworks, x: tf.Tensor4D, ys?: readonly CondValue[]): tf.Tensor4D {
  return tf.tidy(() => {
    const c = embedCycled(nets.cond, ys, x.shape[0]);
    return nets.mean(nets.decode(nets.encode(x, c).mu, c));
  });
}

/** Linear interpolation between mu(xa) and mu(xb) in `steps` points (both endpoints included). */
export function interpolate(
  nets: VaeNetworks,
  xa: tf.Tensor4D,
  xb: tf.Tensor4D,
  steps: number,
  labels?: [CondValue, CondValue],
): tf.Tensor4D {
  return tf.tidy(() => {
    const za = nets.encode(xa, embedCycled(nets.cond, labels && [labels[0]], 1)).mu;
    const zb = nets.encode(xb, embedCycled(nets.cond, labels && [labels[1]], 1)).mu;
    const ts = tf.reshape(tf.linspace(0, 1, steps), [steps, 1]);
    const z = tf.add(tf.mul(za, tf.sub(1, ts)), tf.mul(zb, ts)) as tf.Tensor2D; // [steps, L]
    const lab = labels ? Array.from({ length: steps }, (_, i) => (i < steps / 2 ? labels[0] : labels[1])) : undefined;
    return decodeMean(nets, z, lab);
  });
}

/**
 * Latent traversal: row j moves latent dimension dims[j] by `values` (e.g. -3..3, times spread) from a base code
 * (zeros, or mu of an image); returns [dims.length * values.length, H, W, C], rows by dimension.
 */
export function traverse(
  nets: VaeNetworks,
  base: number[],
  dims: number[],
  values: number[],
  label?: CondValue,
  spread?: number[],
): tf.Tensor4D {
  const rows: number[][] = [];
  for (const d of dims)
    for (const v of values) rows.push(base.map((b, i) => (i === d ? b + v * (spread?.[i] ?? 1) : b)));
  return tf.tidy(() => decodeMean(nets, tf.tensor2d(rows), label === undefined ? undefined : [label]));
}

/** For a 2-d latent: decode a grid of z at normal quantiles in (0.05..0.95)^2, row-major from top-left. */
export function manifold2d(nets: VaeNetworks, side: number, label?: CondValue): tf.Tensor4D {
  if (nets.latent !== 2) throw new Error('manifold needs a 2-d latent');
  const qs = Array.from({ length: side }, (_, i) => probit(0.05 + (0.9 * i) / Math.max(1, side - 1)));
  const rows: number[][] = [];
  for (let r = side - 1; r >= 0; r--) for (let c = 0; c < side; c++) rows.push([qs[c], qs[r]]);
  return tf.tidy(() => decodeMean(nets, tf.tensor2d(rows), label === undefined ? undefined : [label]));
}
