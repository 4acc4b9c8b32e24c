// The GAN objectives on D's outputs (logits for ns, scores for hinge, critic values for wgan-gp), each next to its
// formula, and WGAN-GP's gradient penalty on interpolates. Real images x, generated G(z); means over the batch.
import * as tf from '@tensorflow/tfjs-core';
import type { GanLoss } from './config.ts';

/**
 * The discriminator's loss from dReal = D(x) [B] and dFake = D(G(z)) [B]:
 *   ns:      L_D = -E[log sigmoid(D(x))] - E[log(1 - sigmoid(D(G(z))))] = E[softplus(-D(x))] + E[softplus(D(G(z)))]
 *   hinge:   L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]
 *   wgan-gp: L_D = E[D(G(z))] - E[D(x)]   (the critic's part; + lambda GP is added by the caller)
 */
export function discriminatorLoss(kind: GanLoss, dReal: tf.Tensor1D, dFake: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    if (kind === 'ns') return tf.add(tf.mean(tf.softplus(tf.neg(dReal))), tf.mean(tf.softplus(dFake)));
    if (kind === 'hinge') return tf.add(tf.mean(tf.relu(tf.sub(1, dReal))), tf.mean(tf.relu(tf.add(1, dFake))));
    return tf.sub(tf.mean(dFake), tf.mean(dReal));
  }) as tf.Scalar;
}

/**
 * The generator's loss from dFake = D(G(z)) [B]:
 *   ns (non-saturating): L_G = -E[log sigmoid(D(G(z)))] = E[softplus(-D(G(z)))]
 *     (not the minimax E[log(1 - sigmoid(D(G(z))))], whose gradient vanishes while D rejects G's samples)
 *   hinge, wgan-gp:      L_G = -E[D(G(z))]
 */
export function generatorLoss(kind: GanLoss, dFake: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => (kind === 'ns' ? tf.mean(tf.softplus(tf.neg(dFake))) : tf.neg(tf.mean(dFake)))) as tf.Scalar;
}

/**
 * The gradient penalty of WGAN-GP (Gulrajani et al. 2017), without its weight lambda:
 *   x^ = eps x + (1 - eps) G(z),  eps ~ U[0, 1] per image
 *   GP = E[(||grad_x^ D(x^)||_2 - 1)^2]
 * critic: x [B,H,W,C] -> D(x) [B], each D(x_i) a function of x_i alone (no batch norm), so the gradient of
 * sum_i D(x^_i) w.r.t. x^ holds every per-image gradient. eps [B] is given (seeded by the caller). Differentiable
 * w.r.t. the critic's weights (a gradient of a gradient). Returns GP and the mean gradient norm ||grad D(x^)||.
 */
export function gradientPenalty(
  critic: (x: tf.Tensor4D) => tf.Tensor1D,
  real: tf.Tensor4D,
  fake: tf.Tensor4D,
  eps: tf.Tensor1D,
): { gp: tf.Scalar; gradNorm: tf.Scalar } {
  return tf.tidy(() => {
    const B = real.shape[0];
    const e = tf.reshape(eps, [B, 1, 1, 1]);
    const xHat = tf.add(tf.mul(e, real), tf.mul(tf.sub(1, e), fake)) as tf.Tensor4D; // [B,H,W,C]
    const g = tf.grad((xh: tf.Tensor) => tf.sum(critic(xh as tf.Tensor4D)))(xHat); // [B,H,W,C]
    // ||g_i||_2 with a tiny floor inside the root: d sqrt(u)/du is infinite at u = 0
    const norm = tf.sqrt(tf.add(tf.sum(tf.square(tf.reshape(g, [B, -1])), 1), 1e-12)); // [B]
    return { gp: tf.mean(tf.square(tf.sub(norm, 1))) as tf.Scalar, gradNorm: tf.mean(norm) as tf.Scalar };
  }) as unknown as { gp: tf.Scalar; gradNorm: tf.Scalar };
}
