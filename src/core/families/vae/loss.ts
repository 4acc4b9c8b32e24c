// Losses and bounds of the AE and VAE, each next to its formula (Kingma & Welling 2014; Burda et al. 2016).
// Per-example quantities are [B] tensors in nats; training losses are batch means. c is the condition embedding
// [B, dim] (labels or text, see src/core/conditioning) or null for an unconditional model.
import * as tf from '@tensorflow/tfjs-core';
import {
  bernoulliLogLik,
  discretizedLogisticLogLik,
  gaussianKlStandard,
  gaussianLogLik,
  logMeanExp,
  standardNormalLogPdf,
} from '../../math/distributions.ts';
import type { VaeNetworks } from './model.ts';

/** log p(x|z) per example, from the decoder output for z. */
export function logPxGivenZ(nets: VaeNetworks, x: tf.Tensor4D, decoded: tf.Tensor4D): tf.Tensor1D {
  if (nets.cfg.likelihood === 'bernoulli') return bernoulliLogLik(x, decoded);
  if (nets.cfg.likelihood === 'logistic') {
    const { mu, logS } = nets.logistic(decoded);
    return discretizedLogisticLogLik(x, mu, logS);
  }
  // gaussian: mean = sigmoid(decoder output), variance sigma^2 fixed or exp(learned logVar)
  const logVar = nets.decoderLogVar ?? 2 * Math.log(nets.cfg.sigma);
  return gaussianLogLik(x, nets.mean(decoded), logVar);
}

/** z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logVar / 2)  (reparameterisation trick). */
export function reparameterise(mu: tf.Tensor2D, logVar: tf.Tensor2D, seed: number): tf.Tensor2D {
  const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', seed);
  return tf.add(mu, tf.mul(tf.exp(tf.mul(logVar, 0.5)), eps)) as tf.Tensor2D;
}

/**
 * VAE training loss (negative beta-ELBO), batch mean:
 *   L(x) = -E_{q(z|x)}[log p(x|z)] + beta * KL(q(z|x) || p(z)),   one reparameterised sample of z
 */
export function vaeLoss(nets: VaeNetworks, x: tf.Tensor4D, c: tf.Tensor2D | null, seed: number, beta: number) {
  const { mu, logVar } = nets.encode(x, c);
  const z = reparameterise(mu, logVar, seed);
  const recon = tf.neg(tf.mean(logPxGivenZ(nets, x, nets.decode(z, c)))) as tf.Scalar;
  const kl = tf.mean(gaussianKlStandard(mu, logVar)) as tf.Scalar;
  const loss = tf.add(recon, tf.mul(kl, beta)) as tf.Scalar;
  return { loss, terms: { recon, kl } };
}

/** AE training loss: -log p(x | z = enc(x)), batch mean (cross-entropy or MSE-type, by likelihood). */
export function aeLoss(nets: VaeNetworks, x: tf.Tensor4D, c: tf.Tensor2D | null) {
  const { mu } = nets.encode(x, c);
  const recon = tf.neg(tf.mean(logPxGivenZ(nets, x, nets.decode(mu, c)))) as tf.Scalar;
  return { loss: recon, terms: { recon } };
}

/**
 * ELBO terms per example (beta = 1), one sample z ~ q(z|x):
 *   ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x)
 * Returns recon = -log p(x|z) and kl, both [B]; -ELBO = recon + kl.
 */
export function elboTerms(nets: VaeNetworks, x: tf.Tensor4D, c: tf.Tensor2D | null, seed: number) {
  return tf.tidy(() => {
    const { mu, logVar } = nets.encode(x, c);
    const z = reparameterise(mu, logVar, seed);
    const recon = tf.neg(logPxGivenZ(nets, x, nets.decode(z, c))) as tf.Tensor1D;
    const kl = gaussianKlStandard(mu, logVar);
    return { recon, kl };
  });
}

/**
 * Importance-weighted bound per example (Burda et al. 2016), k samples z_i ~ q(z|x):
 *   L_k(x) = log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),   L_1 = ELBO estimate,  L_k <= L_{k+1} <= log p(x)
 * Computed in chunks of `chunk` samples so memory stays bounded; returns [B] nats.
 */
export function iwaeBound(
  nets: VaeNetworks,
  x: tf.Tensor4D,
  c: tf.Tensor2D | null,
  k: number,
  seed: number,
  chunk = 50,
): tf.Tensor1D {
  const B = x.shape[0];
  const L = nets.latent;
  const logW: tf.Tensor2D[] = []; // each [kc, B]
  const { mu, logVar } = tf.tidy(() => nets.encode(x, c));
  for (let start = 0, chunkIdx = 0; start < k; start += chunk, chunkIdx++) {
    const kc = Math.min(chunk, k - start);
    logW.push(
      tf.tidy(() => {
        // z: [kc, B, L] -> [kc*B, L]; the x batch is tiled kc times to match.
        const eps = tf.randomNormal([kc, B, L], 0, 1, 'float32', (seed + 7919 * chunkIdx) % 2147483647 || 1);
        const z = tf.reshape(tf.add(mu, tf.mul(tf.exp(tf.mul(logVar, 0.5)), eps)), [kc * B, L]) as tf.Tensor2D;
        const xt = tf.tile(x, [kc, 1, 1, 1]) as tf.Tensor4D;
        const ct = c ? (tf.tile(c, [kc, 1]) as tf.Tensor2D) : null;
        const logPx = logPxGivenZ(nets, xt, nets.decode(z, ct));
        const logPz = standardNormalLogPdf(z);
        const muT = tf.tile(mu, [kc, 1]);
        const lvT = tf.tile(logVar, [kc, 1]);
        const logQz = gaussianLogLik(z, muT, lvT);
        return tf.reshape(tf.sub(tf.add(logPx, logPz), logQz), [kc, B]) as tf.Tensor2D;
      }),
    );
  }
  mu.dispose();
  logVar.dispose();
  const out = tf.tidy(() => logMeanExp(tf.concat(logW, 0), 0) as tf.Tensor1D);
  tf.dispose(logW);
  return out;
}
