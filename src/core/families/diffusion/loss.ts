// The simplified DDPM training objective (Ho et al. 2020, eq. 14), or its v-prediction form (Salimans & Ho 2022):
//   L = E_{x0, t ~ U{0..T-1}, eps ~ N(0,I)} || target - f_theta(sqrt(alphaBar_t) x0 + sqrt(1 - alphaBar_t) eps, t, y) ||^2
// with target = eps (prediction 'eps') or v = sqrt(alphaBar_t) eps - sqrt(1 - alphaBar_t) x0 (prediction 'v'),
// averaged over pixels, each example weighted by w_t: 1 ('uniform'), or Min-SNR-gamma (Hang et al. 2023)
//   w_t = min(SNR_t, gamma) / SNR_t (eps) or min(SNR_t, gamma) / (SNR_t + 1) (v),  SNR_t = alphaBar_t / (1 - alphaBar_t).
// With classifier-free guidance training, y is replaced by the null condition with probability p.
import * as tf from '@tensorflow/tfjs-core';
import type { LossOutput } from '../../train/trainer.ts';
import { Rng } from '../../tensor/rng.ts';
import { qSample, vTarget } from '../../diffusion/forward.ts';
import type { Schedule } from '../../diffusion/schedules.ts';

export interface Denoiser {
  (xt: tf.Tensor4D, t: ArrayLike<number>): tf.Tensor4D;
}

export interface LossWeighting {
  kind: 'uniform' | 'min-snr';
  gamma: number;
}

/** w_t for each timestep (see the header): all 1 for 'uniform'. */
export function lossWeights(
  s: Schedule,
  prediction: 'eps' | 'v',
  w: LossWeighting,
  t: ArrayLike<number>,
): Float32Array {
  return Float32Array.from(t, (ti) => {
    if (w.kind === 'uniform') return 1;
    const snr = s.alphaBar[ti] / (1 - s.alphaBar[ti]);
    if (prediction === 'v') return Math.min(snr, w.gamma) / (snr + 1);
    return snr <= w.gamma ? 1 : w.gamma / snr; // min(SNR, gamma) / SNR, written so SNR = 0 (alphaBar_t = 0) gives 1, not 0/0
  });
}

/** Loss on x0 [B,H,W,C] in [-1,1]; the seed draws t and eps. terms.mse is the unweighted mean squared error. */
export function diffusionLoss(
  s: Schedule,
  prediction: 'eps' | 'v',
  net: Denoiser,
  x0: tf.Tensor4D,
  seed: number,
  weighting: LossWeighting = { kind: 'uniform', gamma: 5 },
): LossOutput {
  const rng = new Rng(seed);
  const B = x0.shape[0];
  const t = Int32Array.from({ length: B }, () => rng.int(s.T));
  return tf.tidy((): tf.TensorContainer => {
    const eps = tf.randomNormal(x0.shape, 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
    const xt = qSample(s, x0, t, eps);
    const target = prediction === 'eps' ? eps : vTarget(s, x0, t, eps);
    const perExample = tf.mean(tf.squaredDifference(net(xt, t), target), [1, 2, 3]); // [B]
    const mse = tf.mean(perExample) as tf.Scalar;
    if (weighting.kind === 'uniform') return { loss: mse, terms: { mse: tf.clone(mse) } };
    const loss = tf.mean(tf.mul(perExample, tf.tensor1d(lossWeights(s, prediction, weighting, t)))) as tf.Scalar;
    return { loss, terms: { mse } };
  }) as unknown as LossOutput;
}
