// The DDPM variational bound on -log p(x0) of 8-bit images (Ho et al. 2020, eq. 5; terms as in Nichol & Dhariwal 2021),
// nats per image: L = L_T + sum_{t=2..T} L_{t-1} + L_0, the sum over t estimated from a few stratified draws of t.
// Paper timestep t = 1..T is schedule index t - 1 = 0..T-1 here (as in schedules.ts and the samplers).
import * as tf from '@tensorflow/tfjs-core';
import { coef, qSample, x0FromEps } from '../../diffusion/forward.ts';
import type { Schedule } from '../../diffusion/schedules.ts';
import { sumPerExample } from '../../math/distributions.ts';
import { Rng } from '../../tensor/rng.ts';
import { discretizedGaussianNll } from './discretized-gaussian.ts';
import type { Denoiser } from './loss.ts';

/** eps_hat(x_t, t) for schedule indices t (one per image): x_t [B,H,W,C] -> [B,H,W,C]. */
export type EpsPredictor = Denoiser;

/** Default draws of t per image: 8 UNet passes for the sum over t, one more for L_0 (see README.md for the cost). */
export const VLB_TIMESTEPS = 8;

/** The network's output as eps_hat: itself ('eps'), or eps = sqrt(alphaBar_t) v + sqrt(1 - alphaBar_t) x_t ('v';
 *  forward.ts epsFromV, with one t per image). */
export function epsPredictor(s: Schedule, prediction: 'eps' | 'v', net: Denoiser): EpsPredictor {
  if (prediction === 'eps') return net;
  const sqrtAlphaBar = s.alphaBar.map(Math.sqrt),
    sqrtOneMinusAlphaBar = s.alphaBar.map((ab) => Math.sqrt(1 - ab));
  return (xt, t) =>
    tf.tidy(
      () => tf.add(tf.mul(coef(sqrtAlphaBar, t), net(xt, t)), tf.mul(coef(sqrtOneMinusAlphaBar, t), xt)) as tf.Tensor4D,
    );
}

/**
 * L_T = KL(q(x_T | x0) || N(0, I)) per image [B], with q(x_T | x0) = N(sqrt(alphaBar_T) x0, (1 - alphaBar_T) I):
 *   L_T = 1/2 sum_i (alphaBar_T x0_i^2 + (1 - alphaBar_T) - 1 - log(1 - alphaBar_T))
 *       = 1/2 alphaBar_T ||x0||^2 - D/2 (alphaBar_T + log(1 - alphaBar_T))     (the constant in float64: it cancels to ~alphaBar_T^2)
 */
export function priorKl(s: Schedule, x0: tf.Tensor4D): tf.Tensor1D {
  const abT = s.alphaBar[s.T - 1],
    D = x0.size / x0.shape[0];
  const constant = -0.5 * D * (abT + Math.log1p(-abT));
  return tf.tidy(() => tf.add(tf.mul(0.5 * abT, sumPerExample(tf.square(x0))), constant) as tf.Tensor1D);
}

/**
 * L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t)) per image [B], for schedule indices t >= 1 (paper t >= 2),
 * x_t = sqrt(alphaBar_t) x0 + sqrt(1 - alphaBar_t) eps. Posterior q = N(mu~, beta~_t I), mu~ = coef1_t x0 + coef2_t x_t;
 * model p_theta = N(mu_theta, sigma_t^2 I) with mu_theta = coef1_t x0_hat + coef2_t x_t, x0_hat from eps_hat, and the
 * reverse variance sigma_t^2 = beta~_t (DDPM's 'fixed small' choice, the variance of our DDPM sampler). Equal variances:
 *   L_{t-1} = ||mu~ - mu_theta||^2 / (2 beta~_t),  mu~ - mu_theta = coef1_t (x0 - x0_hat) = coef1_t sqrt(1 - alphaBar_t) / sqrt(alphaBar_t) (eps_hat - eps)
 *           = lambda_t ||eps - eps_hat||^2,  lambda_t = coef1_t^2 (1 - alphaBar_t) / (2 beta~_t alphaBar_t) = beta_t / (2 alpha_t (1 - alphaBar_{t-1}))
 * (Ho et al. eq. 12's weight), computed from the eps error so no two nearly equal means are subtracted in float32.
 */
export function diffusionKl(
  s: Schedule,
  predictEps: EpsPredictor,
  x0: tf.Tensor4D,
  t: ArrayLike<number>,
  eps: tf.Tensor4D,
): tf.Tensor1D {
  for (let i = 0; i < t.length; i++)
    if (!(t[i] >= 1 && t[i] < s.T))
      throw new Error(`diffusionKl: schedule index ${t[i]} is not in 1..${s.T - 1} (paper t = 2..T)`);
  const lambda = s.alphaBar.map((ab, i) =>
    i === 0 ? 0 : (s.posteriorMeanCoef1[i] ** 2 * (1 - ab)) / (2 * s.posteriorVariance[i] * ab),
  );
  return tf.tidy(() => {
    const xt = qSample(s, x0, t, eps);
    return sumPerExample(tf.mul(coef(lambda, t), tf.squaredDifference(eps, predictEps(xt, t))));
  });
}

/** The decoder's variance sigma_1^2: beta~_1 = 0, so beta~_2 as in improved-diffusion's posterior_log_variance_clipped. */
export function decoderVariance(s: Schedule): number {
  if (s.T < 2) throw new Error('the diffusion likelihood needs T >= 2 (the decoder variance is beta~_2)');
  return s.posteriorVariance[1];
}

/**
 * L_0 = -log p_theta(x0 | x1) per image, x1 = sqrt(alphaBar_1) x0 + sqrt(1 - alphaBar_1) eps (schedule index 0): the
 * discretized Gaussian decoder with mean mu_theta(x1, 1) = coef1_1 x0_hat + coef2_1 x1 = x0_hat and variance
 * decoderVariance, over the 256 bins of width 2/255 (discretized-gaussian.ts). Unbiased for E_q(x1|x0)[...] with one x1.
 */
export function decoderNll(s: Schedule, predictEps: EpsPredictor, x0: tf.Tensor4D, eps: tf.Tensor4D): Float64Array {
  const B = x0.shape[0];
  const mu = tf.tidy(() => {
    const t = new Array(B).fill(0);
    const x1 = qSample(s, x0, t, eps);
    const x0Hat = x0FromEps(s, x1, predictEps(x1, t), 0);
    return tf.add(tf.mul(s.posteriorMeanCoef1[0], x0Hat), tf.mul(s.posteriorMeanCoef2[0], x1));
  });
  try {
    return discretizedGaussianNll(x0.dataSync(), mu.dataSync(), Math.sqrt(decoderVariance(s)), B);
  } finally {
    mu.dispose();
  }
}

/**
 * K strata [start, end) of the schedule indices 1..T-1 (paper t = 2..T), K clamped to T-1. 'log': edges at
 * (T^(j/K) - 1), so a stratum's width grows with t, like the terms' scale falls (L_{t-1} ~ 1/t at small t for a
 * trained model); 'even': equal widths (K = 1 is plain uniform sampling, (T-1) L_{t-1} with t ~ U{2..T}).
 */
export function timestepStrata(T: number, K: number, spacing: 'log' | 'even' = 'log'): [number, number][] {
  const M = T - 1;
  if (!(M >= 1)) throw new Error(`the diffusion likelihood needs T >= 2, got T = ${T}`);
  if (!Number.isInteger(K) || K < 1)
    throw new Error(`the number of t draws per image must be a positive integer, got ${K}`);
  const k = Math.min(K, M);
  const edges = [0];
  for (let j = 1; j <= k; j++) {
    const e = j === k ? M : spacing === 'log' ? Math.round(T ** (j / k)) - 1 : Math.round((j * M) / k);
    edges.push(Math.min(M - (k - j), Math.max(edges[j - 1] + 1, e))); // strictly increasing, room left for the rest
  }
  return edges.slice(1).map((e, j) => [1 + edges[j], 1 + e]);
}

export interface VlbOptions {
  /** Draws of t per image for sum_t L_{t-1}, one per stratum; 'all' (or >= T-1) sums every t exactly. */
  timesteps: number | 'all';
  seed: number;
  spacing?: 'log' | 'even';
}

/** Per-image terms of the bound, nats; timesteps is the number of t draws per image actually used. */
export interface VlbTerms {
  prior: Float64Array;
  diffusion: Float64Array;
  decoder: Float64Array;
  timesteps: number;
}

/**
 * The bound's terms for each image of x0 [B,H,W,C] in [-1, 1] (8-bit values 2k/255 - 1). The sum over t is stratified
 * Monte Carlo: one t_j uniform in each stratum S_j (per image, with its own x_t), weighted by |S_j|,
 *   sum_{t=2..T} L_{t-1} ~= sum_j |S_j| L_{t_j - 1},   E[.] = sum_j |S_j| (1/|S_j|) sum_{t in S_j} L_{t-1} = the exact sum,
 * exact in t when every stratum has one step (timesteps 'all'); x_t and x_1 are one draw each. Seeded: same seed, same terms.
 */
export function variationalBound(s: Schedule, predictEps: EpsPredictor, x0: tf.Tensor4D, opts: VlbOptions): VlbTerms {
  const rng = new Rng(opts.seed);
  const B = x0.shape[0];
  const strata = timestepStrata(
    s.T,
    opts.timesteps === 'all' ? s.T - 1 : opts.timesteps,
    opts.timesteps === 'all' ? 'even' : opts.spacing,
  );
  const normal = (seed: number) => tf.randomNormal(x0.shape, 0, 1, 'float32', seed) as tf.Tensor4D;
  const prior = tf.tidy(() => priorKl(s, x0));
  const out: VlbTerms = {
    prior: Float64Array.from(prior.dataSync()),
    diffusion: new Float64Array(B),
    decoder: new Float64Array(B),
    timesteps: strata.length,
  };
  prior.dispose();
  // alpha_t = 0 (linear betas with T <= 20 reach beta_T = 1): x_t keeps nothing of x_{t-1}, the eps-parameterized mean
  // mu_theta = (x_t - beta_t / sqrt(1 - alphaBar_t) eps_hat) / sqrt(alpha_t) does not exist, and the bound is infinite
  const degenerate = s.alpha.some((a, i) => i >= 1 && !(a > 0));
  if (degenerate) out.diffusion.fill(Infinity);
  const eps1 = normal(rng.seed());
  try {
    out.decoder = decoderNll(s, predictEps, x0, eps1);
  } finally {
    eps1.dispose();
  }
  for (const [a, b] of degenerate ? [] : strata) {
    const t = Int32Array.from({ length: B }, () => a + rng.int(b - a)),
      seed = rng.seed();
    const kl = tf.tidy(() => diffusionKl(s, predictEps, x0, t, normal(seed)));
    const v = kl.dataSync();
    for (let i = 0; i < B; i++) out.diffusion[i] += (b - a) * v[i];
    kl.dispose();
  }
  return out;
}
