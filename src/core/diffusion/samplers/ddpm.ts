// DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), one stateless step: x_{t-1} ~ p(x_{t-1} | x_t) with the
// posterior mean from the predicted x_0 (clipped to [-1, 1]) and variance posteriorVariance_t (no noise at t = 0).
import * as tf from '@tensorflow/tfjs-core';
import type { Schedule } from '../schedules.ts';
import { x0FromEps } from '../forward.ts';
import type { Sampler } from './sampler.ts';

/** Timesteps visited: T-1, T-2, ..., 0 (DDPM uses every step). */
export function ddpmTimesteps(s: Schedule): number[] {
  return Array.from({ length: s.T }, (_, i) => s.T - 1 - i);
}

/** x_{t-1} = coef1_t x0hat + coef2_t x_t + sqrt(posteriorVariance_t) z, z ~ N(0, I) given as `noise` (ignored at t = 0). */
export function ddpmStep(
  s: Schedule,
  t: number,
  xt: tf.Tensor4D,
  eps: tf.Tensor4D,
  noise: tf.Tensor4D,
  clip = true,
): tf.Tensor4D {
  return tf.tidy(() => {
    let x0 = x0FromEps(s, xt, eps, t);
    if (clip) x0 = tf.clipByValue(x0, -1, 1);
    const mean = tf.add(tf.mul(s.posteriorMeanCoef1[t], x0), tf.mul(s.posteriorMeanCoef2[t], xt));
    return (t > 0 ? tf.add(mean, tf.mul(Math.sqrt(s.posteriorVariance[t]), noise)) : mean) as tf.Tensor4D;
  });
}

/** DDPM as a registry entry: stateless; every step draws noise (the last one ignores it); `steps` does not apply. */
export const ddpm: Sampler<null> = {
  label: 'DDPM',
  summary: 'DDPM ancestral sampling (Ho et al. 2020): all T steps, stochastic',
  timesteps: (schedule) => ddpmTimesteps(schedule),
  defaultSteps: 1000, // not used: DDPM visits every t
  init: () => null,
  step: (state, { schedule, t, xt, eps, noise }) => ({ xPrev: ddpmStep(schedule, t, xt, eps, noise()), state }),
};
