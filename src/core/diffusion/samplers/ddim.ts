// DDIM (Song et al. 2021, eq. 12), one stateless step from t to an earlier tPrev (-1 = the end), any number of steps:
// x_{t'} = sqrt(alphaBar_{t'}) x0hat + sqrt(1 - alphaBar_{t'} - sigma^2) eps + sigma z,
// sigma = eta sqrt((1 - alphaBar_{t'}) / (1 - alphaBar_t)) sqrt(1 - alphaBar_t / alphaBar_{t'}); eta = 0 is deterministic.
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.ts';
import type { Schedule } from '../schedules.ts';
import { x0FromEps } from '../forward.ts';
import type { Sampler } from './sampler.ts';

/** `steps` timesteps spread evenly over 0..T-1, descending and ending at 0 (e.g. T = 1000, 50 steps: 980, 960, ..., 0). */
export function ddimTimesteps(s: Schedule, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > s.T)
    throw new UserError(`steps must be an integer from 1 to ${s.T} (the model's T), got ${steps}`);
  const out: number[] = [];
  for (let i = steps - 1; i >= 0; i--) out.push(Math.floor((i * s.T) / steps));
  return out;
}

/** One DDIM update; `noise` is used only when eta > 0. tPrev = -1 means alphaBar = 1 (the final x_0). */
export function ddimStep(
  s: Schedule,
  t: number,
  tPrev: number,
  xt: tf.Tensor4D,
  eps: tf.Tensor4D,
  eta: number,
  noise: tf.Tensor4D | null,
  clip = true,
): tf.Tensor4D {
  const ab = s.alphaBar[t],
    abPrev = tPrev >= 0 ? s.alphaBar[tPrev] : 1;
  const sigma = eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(Math.max(0, 1 - ab / abPrev));
  return tf.tidy(() => {
    let x0 = x0FromEps(s, xt, eps, t);
    let e = eps;
    if (clip) {
      x0 = tf.clipByValue(x0, -1, 1);
      // keep eps consistent with the clipped x0: eps = (x_t - sqrt(alphaBar_t) x0) / sqrt(1 - alphaBar_t)
      e = tf.div(tf.sub(xt, tf.mul(Math.sqrt(ab), x0)), Math.sqrt(1 - ab)) as tf.Tensor4D;
    }
    let out = tf.add(tf.mul(Math.sqrt(abPrev), x0), tf.mul(Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma)), e));
    if (sigma > 0 && noise) out = tf.add(out, tf.mul(sigma, noise));
    return out as tf.Tensor4D;
  });
}

/** DDIM as a registry entry: stateless; draws noise at every step when eta > 0. */
export const ddim: Sampler<null> = {
  label: 'DDIM',
  summary: 'DDIM (Song et al. 2021): any number of steps; eta 0 deterministic, 1 like DDPM',
  timesteps: ddimTimesteps,
  defaultSteps: 50,
  init: () => null,
  step: (state, { schedule, t, tPrev, xt, eps, eta, noise }) => ({
    xPrev: ddimStep(schedule, t, tPrev, xt, eps, eta, eta > 0 ? noise() : null),
    state,
  }),
};
