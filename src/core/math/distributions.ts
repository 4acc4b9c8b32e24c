// Log-likelihoods and KL divergences of the distributions the families use, summed per example.
// Every function takes tensors with a leading batch axis and returns shape [B] (nats).
import * as tf from '@tensorflow/tfjs-core';

const LOG_2PI = Math.log(2 * Math.PI);

/** Sum over every axis but the first: [B, ...] -> [B]. */
export function sumPerExample(t: tf.Tensor): tf.Tensor1D {
  const axes = Array.from({ length: t.rank - 1 }, (_, i) => i + 1);
  return (axes.length ? tf.sum(t, axes) : t) as tf.Tensor1D;
}

/**
 * KL(q || p) for q = N(mu, exp(logVar)), p = N(0, I), per example:
 *   KL = 1/2 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)        (Kingma & Welling 2014, appendix B)
 */
export function gaussianKlStandard(mu: tf.Tensor2D, logVar: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(
    () => tf.mul(0.5, tf.sum(tf.sub(tf.sub(tf.add(tf.square(mu), tf.exp(logVar)), 1), logVar), 1)) as tf.Tensor1D,
  );
}

/** softplus(a) = log(1 + exp(a)) = max(a, 0) + log(1 + exp(-|a|))  (stable; elementwise). */
export function softplus(a: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(tf.relu(a), tf.log1p(tf.exp(tf.neg(tf.abs(a))))));
}

/**
 * Bernoulli log-likelihood with logits l, per example:
 *   log p(x|l) = sum_i x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i))
 *              = -sum_i [ max(l_i, 0) - l_i x_i + log(1 + exp(-|l_i|)) ]       (stable form)
 * x may be continuous in [0,1] (then it is the cross-entropy, not a normalised likelihood).
 */
export function bernoulliLogLik(x: tf.Tensor, logits: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const perPixel = tf.sub(softplus(logits), tf.mul(logits, x)); // softplus(l) = max(l, 0) + log(1 + exp(-|l|))
    return tf.neg(sumPerExample(perPixel));
  });
}

/**
 * Discretized logistic log-likelihood of 8-bit data x = k/255 in [0, 1] (Salimans et al. 2017, PixelCNN++, one
 * logistic per pixel), per example. With sigma the logistic CDF, s = exp(logS) and bin half-width h = 1/510:
 *   P(x | mu, s) = sigma((x + h - mu)/s) - sigma((x - h - mu)/s)        for 0 < k < 255
 *   P(0 | mu, s) = sigma((h - mu)/s),   P(1 | mu, s) = 1 - sigma((1 - h - mu)/s)   (edge bins take the tails)
 * so the 256 bin probabilities sum to 1 and -log P is a code length in nats. Stable forms, with a = (x + h - mu)/s,
 * b = (x - h - mu)/s (a - b = 2h/s > 0): log sigma(a) = a - softplus(a), log(1 - sigma(b)) = -softplus(b), and
 *   log(sigma(a) - sigma(b)) = log(expm1(a - b)) + b - softplus(a) - softplus(b)
 * (from sigma(a) - sigma(b) = (e^a - e^b) / ((1 + e^a)(1 + e^b))), exact in the far tails where the CDF difference
 * would cancel in float32; no data-dependent branch, so every pixel gets exact gradients.
 * logS is clamped below at -7 (s >= 9e-4, a quarter of a bin).
 */
export function discretizedLogisticLogLik(x: tf.Tensor, mu: tf.Tensor, logS: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const h = 1 / 510;
    const ls = tf.maximum(logS, -7);
    const invS = tf.exp(tf.neg(ls));
    const centered = tf.sub(x, mu);
    const plusIn = tf.mul(invS, tf.add(centered, h));
    const minIn = tf.mul(invS, tf.sub(centered, h));
    const logCdfPlus = tf.sub(plusIn, softplus(plusIn)); // log sigma(plusIn): the bin at 0
    const logOneMinusCdfMin = tf.neg(softplus(minIn)); // log(1 - sigma(minIn)): the bin at 1
    const logCdfDelta = tf.sub(
      tf.sub(tf.add(tf.log(tf.expm1(tf.sub(plusIn, minIn))), minIn), softplus(plusIn)),
      softplus(minIn),
    );
    const logP = tf.where(
      tf.less(x, 0.001),
      logCdfPlus,
      tf.where(tf.greater(x, 0.999), logOneMinusCdfMin, logCdfDelta),
    );
    return sumPerExample(logP);
  });
}

/**
 * Diagonal Gaussian log-density, per example:
 *   log N(x; mean, exp(logVar)) = -1/2 * sum_i [ log 2pi + logVar_i + (x_i - mean_i)^2 / exp(logVar_i) ]
 * logVar may be a scalar or broadcastable tensor.
 */
export function gaussianLogLik(x: tf.Tensor, mean: tf.Tensor, logVar: tf.Tensor | number): tf.Tensor1D {
  return tf.tidy(() => {
    const lv = typeof logVar === 'number' ? tf.scalar(logVar) : logVar;
    const sq = tf.div(tf.square(tf.sub(x, mean)), tf.exp(lv));
    const perPixel = tf.mul(-0.5, tf.add(tf.add(sq, lv), LOG_2PI));
    return sumPerExample(tf.add(perPixel, tf.zerosLike(x)));
  });
}

/** log N(z; 0, I) per example: -1/2 * sum_j (z_j^2 + log 2pi). */
export function standardNormalLogPdf(z: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.mul(-0.5, sumPerExample(tf.add(tf.square(z), LOG_2PI))) as tf.Tensor1D);
}

/** log-sum-exp along `axis` (stable: max + log sum exp(x - max)). */
export function logSumExp(x: tf.Tensor, axis: number): tf.Tensor {
  return tf.tidy(() => {
    const m = tf.max(x, axis, true);
    const safeM = tf.where(tf.isFinite(m), m, tf.zerosLike(m));
    return tf.squeeze(tf.add(tf.log(tf.sum(tf.exp(tf.sub(x, safeM)), axis, true)), safeM), [axis]);
  });
}

/** log-mean-exp along `axis`: logSumExp - log k. */
export function logMeanExp(x: tf.Tensor, axis: number): tf.Tensor {
  return tf.tidy(() => tf.sub(logSumExp(x, axis), Math.log(x.shape[axis])));
}
