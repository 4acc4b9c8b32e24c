// The flow's exact log-likelihood by the change of variables, the 8-bit NLL bound (dequantization) in nats per image,
// bits/dim and the training loss. Per-image quantities are [B] tensors in nats.
import * as tf from '@tensorflow/tfjs-core';
import { standardNormalLogPdf } from '../../math/distributions.ts';
import { natsToBitsPerDim } from '../../math/units.ts';
import type { LossOutput } from '../../train/trainer.ts';

export const LOG_256 = Math.log(256);

/**
 * -log p(y) per image for y in [0,1)^D, v = T(y) (logit or centring) and z = f(v):
 *   log p(y) = sum_s log N(z_s; 0, I) + log|det df/dv| + log|det dT/dy|
 * zs: the latents of every scale; logdet: the sum of both log-dets, [B].
 */
export function negLogDensity(zs: tf.Tensor4D[], logdet: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.neg(tf.add(tf.addN(zs.map((z) => standardNormalLogPdf(z))), logdet)) as tf.Tensor1D);
}

/**
 * The 8-bit NLL bound in nats per image. P(x) = int_[0,1)^D p((x + u)/256) 256^-D du, so for u ~ q(u|x) (Jensen):
 *   -log P(x) <= E_q[ -log p(y) + D log 256 + log q(u|x) ],   y = (x + u)/256
 * Uniform dequantization has q = 1 (log q = 0): logq = null.
 */
export function nll8bit(negLogPy: tf.Tensor1D, D: number, logq: tf.Tensor1D | null): tf.Tensor1D {
  return tf.tidy(() => {
    const n = tf.add(negLogPy, D * LOG_256);
    return (logq ? tf.add(n, logq) : n) as tf.Tensor1D;
  });
}

/** bits/dim = (-log p(y) + D log 256 [+ log q]) / (D ln 2), for a number of nats per image. */
export const bitsPerDim = (nllNats: number, D: number): number => natsToBitsPerDim(nllNats, D);

/** Training loss: L = mean_b nll_b (nats per image, 8-bit scale), reported with bitsPerDim = L / (D ln 2). */
export function flowLoss(nll: tf.Tensor1D, D: number, extra: Record<string, tf.Tensor1D> = {}): LossOutput {
  return tf.tidy((): tf.TensorContainer => {
    const loss = tf.mean(nll) as tf.Scalar;
    const terms: Record<string, tf.Scalar> = {
      nll: tf.clone(loss),
      bitsPerDim: tf.mul(loss, natsToBitsPerDim(1, D)) as tf.Scalar,
    };
    for (const [k, v] of Object.entries(extra)) terms[k] = tf.mean(v) as tf.Scalar;
    return { loss, terms };
  }) as unknown as LossOutput;
}
