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
  return tf.tidy(() => tf.mul(0.5, tf.sum(tf.sub(tf.sub(tf.add(tf.square(mu), tf.exp(logVar)), 1), logVar), 1)) as tf.Tensor1D);
}

/**
 * Bernoulli log-likelihood with logits l, per example:
 *   log p(x|l) = sum_i x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i))
 *              = -sum_i [ max(l_i, 0) - l_i x_i + log(1 + exp(-|l_i|)) ]       (stable form)
 * x may be continuous in [0,1] (then it is the cross-entropy, not a normalised likelihood).
 */
export function bernoulliLogLik(x: tf.Tensor, logits: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const l = logits;
    const perPixel = tf.add(tf.sub(tf.relu(l), tf.mul(l, x)), tf.log1p(tf.exp(tf.neg(tf.abs(l)))));
    return tf.neg(sumPerExample(perPixel));
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
