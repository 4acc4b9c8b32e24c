// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): a second-order multistep solver of the diffusion ODE
// in the data prediction x0hat, with lambda_t = log(alpha_t / sigma_t), alpha_t = sqrt(alphaBar_t), sigma_t = sqrt(1 - alphaBar_t):
//   x_{t_i} = (sigma_{t_i} / sigma_{t_{i-1}}) x_{t_{i-1}} - alpha_{t_i} (e^{-h_i} - 1) D_i,  h_i = lambda_{t_i} - lambda_{t_{i-1}}
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.ts';
import type { Schedule } from '../schedules.ts';
import { x0FromEps } from '../forward.ts';
import type { Sampler } from './sampler.ts';

/**
 * `steps` timesteps evenly spaced in t from T-1 down to 0, both ends included: round(k (T-1) / (steps-1)) for
 * k = steps-1..0, e.g. T = 1000, 20 steps: 999, 946, ..., 53, 0 (diffusers' 'linspace' spacing).
 */
export function timeUniformTimesteps(s: Schedule, steps: number): number[] {
  checkSteps(s, steps);
  if (steps === 1) return [s.T - 1];
  return Array.from({ length: steps }, (_, i) => Math.round(((steps - 1 - i) * (s.T - 1)) / (steps - 1)));
}

/** alphaBar below this is pure noise for sampling: the signal sqrt(alphaBar) < 0.3% (a cosine schedule's last steps). */
const MIN_ALPHA_BAR = 1e-5;

/**
 * `steps` timesteps evenly spaced in lambda_t (half the log-SNR) from the noisiest t (T-1, or the last t with
 * alphaBar >= 1e-5) down to 0: the DPM-Solver papers' spacing for low-resolution images. Each is the integer t with
 * the nearest lambda, then pushed up where two would coincide (near t = 0 the grid of integers is coarse in lambda),
 * so they strictly decrease and end at 0.
 */
export function dpmTimesteps(s: Schedule, steps: number): number[] {
  checkSteps(s, steps);
  let start = s.T - 1;
  while (start > 0 && s.alphaBar[start] < MIN_ALPHA_BAR) start--;
  start = Math.max(start, steps - 1); // room for `steps` distinct integers
  if (steps === 1) return [start];
  const lam = Array.from({ length: start + 1 }, (_, t) => lambdaOf(s, t)); // increasing as t decreases
  const lo = lam[start],
    hi = lam[0];
  const out: number[] = [];
  let t = start;
  for (let i = 0; i < steps; i++) {
    const target = lo + ((hi - lo) * i) / (steps - 1);
    while (t > 0 && Math.abs(lam[t - 1] - target) <= Math.abs(lam[t] - target)) t--;
    out.push(Math.min(t, start - i));
  }
  // strictly decreasing, ending at 0: from the end, each at least one above the next
  out[steps - 1] = 0;
  for (let i = steps - 2; i >= 0; i--) out[i] = Math.max(out[i], out[i + 1] + 1);
  return out;
}

function checkSteps(s: Schedule, steps: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > s.T)
    throw new UserError(`steps must be an integer from 1 to ${s.T} (the model's T), got ${steps}`);
}

/** lambda_t = log(alpha_t / sigma_t) = (log alphaBar_t - log(1 - alphaBar_t)) / 2, half the log signal-to-noise ratio. */
export function lambdaOf(s: Schedule, t: number): number {
  const ab = s.alphaBar[t];
  return 0.5 * (Math.log(ab) - Math.log1p(-ab));
}

/** What DPM-Solver++(2M) keeps between steps: the previous data prediction and the step size h that led to it. */
export type DpmState = { x0: tf.Tensor4D; h: number };

/**
 * One DPM-Solver++(2M) update from t to tPrev (-1 = the end, where sigma = 0 and the update returns D itself), with
 * x0hat = clip((x_t - sigma_t eps) / alpha_t, -1, 1) and, given the previous step's prediction x0hat' and size h':
 *   r = h' / h,  D = (1 + 1/(2r)) x0hat - 1/(2r) x0hat'     (the first step, and the last onto x_0, use D = x0hat)
 * The last step is first order (diffusers' lower_order_final): its h is infinite, so r = 0.
 */
export function dpmSolver2mStep(
  s: Schedule,
  t: number,
  tPrev: number,
  xt: tf.Tensor4D,
  eps: tf.Tensor4D,
  prev: DpmState | null,
  clip = true,
): { xPrev: tf.Tensor4D; state: DpmState } {
  const last = tPrev < 0;
  const lambda = lambdaOf(s, t);
  const h = last ? Infinity : lambdaOf(s, tPrev) - lambda;
  return tf.tidy(() => {
    let x0 = x0FromEps(s, xt, eps, t);
    if (clip) x0 = tf.clipByValue(x0, -1, 1);
    let D: tf.Tensor4D = x0;
    if (prev && !last) {
      const r = prev.h / h;
      D = tf.sub(tf.mul(1 + 1 / (2 * r), x0), tf.mul(1 / (2 * r), prev.x0)) as tf.Tensor4D;
    }
    let xPrev: tf.Tensor4D;
    if (last) xPrev = tf.clone(D);
    else {
      const abPrev = s.alphaBar[tPrev],
        ab = s.alphaBar[t];
      // sigma_{t'} / sigma_t and -alpha_{t'} (e^{-h} - 1) = alpha_{t'} (1 - e^{-h}), written with expm1 for small h
      const ratio = Math.sqrt((1 - abPrev) / (1 - ab));
      const k = -Math.sqrt(abPrev) * Math.expm1(-h);
      xPrev = tf.add(tf.mul(ratio, xt), tf.mul(k, D)) as tf.Tensor4D;
    }
    return { xPrev, state: { x0, h } };
  }) as unknown as { xPrev: tf.Tensor4D; state: DpmState };
}

/** DPM-Solver++(2M) as a registry entry: deterministic (eta does not apply), one model call per step. */
export const dpmSolver2m: Sampler<DpmState | null> = {
  label: 'DPM-Solver++(2M)',
  summary: 'DPM-Solver++(2M) (Lu et al. 2022): second-order multistep ODE solver, deterministic, for few steps (15-25)',
  timesteps: dpmTimesteps,
  defaultSteps: 20,
  init: () => null,
  step: (state, { schedule, t, tPrev, xt, eps }) => dpmSolver2mStep(schedule, t, tPrev, xt, eps, state),
};
