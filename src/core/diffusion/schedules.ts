// Noise schedules of DDPM (Ho et al. 2020) as pure functions: beta_t, alpha_t = 1 - beta_t, alphaBar_t = prod alpha_s,
// and the named quantities the forward process q(x_t|x_0) and the posterior q(x_{t-1}|x_t, x_0) need. Index t = 0..T-1.
import { UserError } from '../errors.ts';

export type ScheduleName = 'linear' | 'cosine';

export interface Schedule {
  T: number;
  beta: Float64Array;
  alpha: Float64Array;
  alphaBar: Float64Array;
  /** alphaBar_{t-1}, with alphaBar_{-1} = 1. */
  alphaBarPrev: Float64Array;
  /** Posterior q(x_{t-1} | x_t, x_0) = N(coef1_t x_0 + coef2_t x_t, posteriorVariance_t I). */
  posteriorVariance: Float64Array;
  posteriorMeanCoef1: Float64Array;
  posteriorMeanCoef2: Float64Array;
}

/** Linear betas from 1e-4 to 0.02 over T = 1000 (Ho et al.), scaled by 1000 / T for other T. */
export function linearBetas(T: number, start = 1e-4, end = 0.02): Float64Array {
  const scale = 1000 / T;
  const b = new Float64Array(T);
  for (let t = 0; t < T; t++) b[t] = T === 1 ? start * scale : scale * (start + ((end - start) * t) / (T - 1));
  return b;
}

/** Cosine schedule (Nichol & Dhariwal 2021): alphaBar(t) = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) pi/2), betas clipped at 0.999. */
export function cosineBetas(T: number, s = 0.008): Float64Array {
  const f = (t: number) => Math.cos(((t / T + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const b = new Float64Array(T);
  for (let t = 0; t < T; t++) b[t] = Math.min(1 - f(t + 1) / f(t), 0.999);
  return b;
}

export function makeSchedule(name: ScheduleName, T: number): Schedule {
  if (!Number.isInteger(T) || T < 1)
    throw new UserError(`The number of diffusion steps T must be a positive integer, got ${T}`, {
      kind: 'setting',
      key: 'model.T',
      value: 1000,
    });
  const beta = name === 'linear' ? linearBetas(T) : cosineBetas(T);
  const alpha = beta.map((b) => 1 - b);
  const alphaBar = new Float64Array(T);
  let prod = 1;
  for (let t = 0; t < T; t++) alphaBar[t] = prod *= alpha[t];
  const alphaBarPrev = new Float64Array(T);
  for (let t = 0; t < T; t++) alphaBarPrev[t] = t === 0 ? 1 : alphaBar[t - 1];
  // posterior: variance beta_t (1 - alphaBar_{t-1}) / (1 - alphaBar_t);
  // mean coefficients beta_t sqrt(alphaBar_{t-1}) / (1 - alphaBar_t) and (1 - alphaBar_{t-1}) sqrt(alpha_t) / (1 - alphaBar_t)
  const posteriorVariance = new Float64Array(T),
    posteriorMeanCoef1 = new Float64Array(T),
    posteriorMeanCoef2 = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    posteriorVariance[t] = (beta[t] * (1 - alphaBarPrev[t])) / (1 - alphaBar[t]);
    posteriorMeanCoef1[t] = (beta[t] * Math.sqrt(alphaBarPrev[t])) / (1 - alphaBar[t]);
    posteriorMeanCoef2[t] = ((1 - alphaBarPrev[t]) * Math.sqrt(alpha[t])) / (1 - alphaBar[t]);
  }
  return { T, beta, alpha, alphaBar, alphaBarPrev, posteriorVariance, posteriorMeanCoef1, posteriorMeanCoef2 };
}
