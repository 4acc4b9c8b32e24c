// The oneshot baseline's pixel losses, each beside its formula. Per-image quantities are [B] tensors; training losses
// are batch means. x [B,H,W,C] in [0,1]; logits l [B,H,W,C] with f(y) = sigmoid(l).
import * as tf from '@tensorflow/tfjs-core';
import { bernoulliLogLik, sumPerExample } from '../../math/distributions.ts';
import type { LossOutput } from '../../train/trainer.ts';

/**
 * Squared error per image:
 *   L_mse(x, y) = sum_i (x_i - f(y)_i)^2,   f(y) = sigmoid(l)
 * Its expectation over p(x|y) is minimised by f(y) = E[x|y]: E||x - f||^2 = E||x - E[x|y]||^2 + ||E[x|y] - f||^2.
 */
export function squaredError(x: tf.Tensor4D, logits: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => sumPerExample(tf.square(tf.sub(x, tf.sigmoid(logits)))));
}

/**
 * Per-pixel Bernoulli cross-entropy per image (nats), x in [0,1] as soft targets:
 *   L_bce(x, y) = -sum_i [ x_i log f(y)_i + (1 - x_i) log(1 - f(y)_i) ]
 *              = sum_i [ softplus(l_i) - l_i x_i ]                    (stable form, from the logits)
 * Also minimised by f(y)_i = E[x_i|y]: d/df E[-x log f - (1-x) log(1-f)] = (f - E[x]) / (f (1 - f)) = 0.
 */
export function crossEntropy(x: tf.Tensor4D, logits: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => tf.neg(bernoulliLogLik(x, logits)) as tf.Tensor1D);
}

/** Training loss, batch mean of the chosen per-image loss; terms: mse (always, for comparing the two) and bce. */
export function oneshotLoss(kind: 'mse' | 'bce', x: tf.Tensor4D, logits: tf.Tensor4D): LossOutput {
  return tf.tidy(() => {
    const mse = tf.mean(squaredError(x, logits)) as tf.Scalar;
    if (kind === 'mse') return { loss: mse, terms: { mse } } as unknown as tf.TensorContainer;
    const bce = tf.mean(crossEntropy(x, logits)) as tf.Scalar;
    return { loss: bce, terms: { bce, mse } } as unknown as tf.TensorContainer;
  }) as unknown as LossOutput;
}
