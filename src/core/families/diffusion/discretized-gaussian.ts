// The discretized Gaussian decoder of DDPM (Ho et al. 2020, eq. 13) for 8-bit data scaled to [-1, 1], in float64:
//   p(x0 | x1) = prod_i int_{delta-(x0_i)}^{delta+(x0_i)} N(x; mu_i, sigma^2) dx,  delta+- = x0 +- 1/255, edge bins open to +-inf,
// each bin's mass a difference of standard normal CDFs Phi, taken in log space in the tails so no bin is ever log 0.

const LN2 = Math.LN2;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
/** Below this erfc argument the Taylor series of erf is used, above it the continued fraction of erfcx. */
const SERIES_MAX = 2.5;

/** erf(x) = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1)), for |x| <= SERIES_MAX (absolute error ~1e-15). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let power = x,
    sum = x;
  for (let n = 1; n < 200; n++) {
    power *= -x2 / n; // (-1)^n x^(2n+1) / n!
    const term = power / (2 * n + 1);
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** erfcx(x) = exp(x^2) erfc(x) for x >= SERIES_MAX, by the continued fraction
 *  erfc(x) = exp(-x^2) / sqrt(pi) * 1 / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))), evaluated with Lentz's method. */
function erfcxContinuedFraction(x: number): number {
  let f = x,
    C = x,
    D = 0;
  for (let j = 1; j < 500; j++) {
    const a = j / 2;
    D = 1 / (x + a * D);
    C = x + a / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 / (f * Math.sqrt(Math.PI));
}

/** log erfc(x) for any real x, with relative accuracy ~1e-12 or better (x = 30 gives -904.3..., not log 0). */
export function logErfc(x: number): number {
  if (x >= SERIES_MAX) return Math.log(erfcxContinuedFraction(x)) - x * x;
  if (x > -SERIES_MAX) return Math.log(1 - erfSeries(x));
  return Math.log(2 - Math.exp(-x * x) * erfcxContinuedFraction(-x)); // erfc(x) = 2 - erfc(-x)
}

/** Phi(z), the standard normal CDF, with absolute error ~1e-15: Phi(z) = erfc(-z / sqrt 2) / 2. */
export function normalCdf(z: number): number {
  const x = -z * Math.SQRT1_2;
  if (x >= SERIES_MAX) return 0.5 * Math.exp(-x * x) * erfcxContinuedFraction(x);
  if (x > -SERIES_MAX) return 0.5 * (1 - erfSeries(x));
  return 1 - 0.5 * Math.exp(-x * x) * erfcxContinuedFraction(-x);
}

/** log Phi(z), stable for all z: log Phi(-40) = -804.6..., log Phi(10) = -7.6e-24. */
export function logNormalCdf(z: number): number {
  if (z === Infinity) return 0;
  if (z === -Infinity) return -Infinity;
  const x = -z * Math.SQRT1_2;
  if (x <= -SERIES_MAX) return Math.log1p(-0.5 * Math.exp(-x * x) * erfcxContinuedFraction(-x)); // upper tail: log(1 - Phi(-z))
  return logErfc(x) - LN2;
}

/** log(1 - exp(d)) for d <= 0 (Maechler 2012: expm1 near 0, log1p far from it). */
function log1mExp(d: number): number {
  return d > -LN2 ? Math.log(-Math.expm1(d)) : Math.log1p(-Math.exp(d));
}

/** Below this z, Phi(z) < 2e-4 and a bin's mass is taken as a ratio of log CDFs rather than a difference of CDFs. */
const LOWER_TAIL = -SERIES_MAX * Math.SQRT2;

/**
 * log(Phi(hi) - Phi(lo)) for standardized bin edges lo < hi (lo may be -inf, hi +inf). A bin above the mean is
 * mirrored below it (Phi(hi) - Phi(lo) = Phi(-lo) - Phi(-hi)), so only the lower tail can be small; there
 *   log(Phi(hi) - Phi(lo)) = log Phi(hi) + log(1 - exp(log Phi(lo) - log Phi(hi))).
 */
export function logBinMass(lo: number, hi: number): number {
  if (!(lo < hi)) throw new Error(`logBinMass needs lo < hi, got [${lo}, ${hi}]`);
  if (lo === -Infinity) return logNormalCdf(hi);
  if (hi === Infinity) return logNormalCdf(-lo);
  if (lo > 0) [lo, hi] = [-hi, -lo];
  if (hi > LOWER_TAIL) return Math.log(normalCdf(hi) - normalCdf(lo));
  const a = logNormalCdf(hi);
  return a + log1mExp(logNormalCdf(lo) - a);
}

/** The 8-bit bin k in 0..255 of a value in [-1, 1] (x0 = 2k/255 - 1; values off the grid go to the bin containing them). */
export function binOf(x0: number): number {
  return Math.min(255, Math.max(0, Math.round(((x0 + 1) * 255) / 2)));
}

/** log P(bin k) under N(mu, sigma^2): the bin [(2k - 1)/255 - 1, (2k + 1)/255 - 1], with bin 0 from -inf and bin 255 to +inf. */
export function logBinProbability(k: number, mu: number, sigma: number): number {
  const lo = k === 0 ? -Infinity : ((2 * k - 1) / 255 - 1 - mu) / sigma;
  const hi = k === 255 ? Infinity : ((2 * k + 1) / 255 - 1 - mu) / sigma;
  return logBinMass(lo, hi);
}

/** -log p(x0 | x1) per image, nats: x0 and mu hold B images of D values each (row-major), sigma the decoder's std. */
export function discretizedGaussianNll(
  x0: ArrayLike<number>,
  mu: ArrayLike<number>,
  sigma: number,
  B: number,
): Float64Array {
  if (x0.length !== mu.length || x0.length % B !== 0)
    throw new Error(`discretizedGaussianNll: ${x0.length} values of x0, ${mu.length} means, ${B} images`);
  if (!(sigma > 0)) throw new Error(`discretizedGaussianNll needs sigma > 0, got ${sigma}`);
  const D = x0.length / B;
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = b * D; i < (b + 1) * D; i++) s -= logBinProbability(binOf(x0[i]), mu[i], sigma);
    out[b] = s;
  }
  return out;
}
