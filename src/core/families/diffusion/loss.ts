// The simplified DDPM training objective (Ho et al. 2020, eq. 14), or its v-prediction form (Salimans & Ho 2022):
//   L = E_{x0, t ~ U{0..T-1}, eps ~ N(0,I)} || target - f_theta(sqrt(alphaBar_t) x0 + sqrt(1 - alphaBar_t) eps, t, y) ||^2
// with target = eps (prediction 'eps') or v = sqrt(alphaBar_t) eps - sqrt(1 - alphaBar_t) x0 (prediction 'v'),
// averaged over pixels. With classifier-free guidance training, y is replaced by the null condition with prob p.
import * as tf from '@tensorflow/tfjs-core';
import type { LossOutput } from '../../train/trainer.ts';
import { Rng } from '../../tensor/rng.ts';
import { qSample, vTarget } from '../../diffusion/forward.ts';
import type { Schedule } from '../../diffusion/schedules.ts';

export interface Denoiser {
  (xt: tf.Tensor4D, t: ArrayLike<number>): tf.Tensor4D;
}

/** Loss on x0 [B,H,W,C] in [-1,1]; the seed draws t and eps. */
export function diffusionLoss(s: Schedule, prediction: 'eps' | 'v', net: Denoiser, x0: tf.Tensor4D, seed: number): LossOutput {
  const rng = new Rng(seed);
  const B = x0.shape[0];
  const t = Int32Array.from({ length: B }, () => rng.int(s.T));
  return tf.tidy((): tf.TensorContainer => {
    const eps = tf.randomNormal(x0.shape, 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
    const xt = qSample(s, x0, t, eps);
    const target = prediction === 'eps' ? eps : vTarget(s, x0, t, eps);
    const loss = tf.mean(tf.squaredDifference(net(xt, t), target)) as tf.Scalar;
    return { loss, terms: { mse: tf.clone(loss) } };
  }) as unknown as LossOutput;
}
