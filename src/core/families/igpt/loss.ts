// Next-token cross-entropy of image GPT, and its conversion to a likelihood of 8-bit images (the model read as
// uniform within each token's bin of 8-bit values), so its nats and bits/dim compare with the other families'.
import * as tf from '@tensorflow/tfjs-core';
import type { LossOutput } from '../../train/trainer.ts';
import type { Palette } from './palette.ts';

// -log p(t) = -sum_{i=1..N} log softmax(logits_i)[t_i]                          (nats per image, in tokens)
/** -log p(t_i | t_<i) summed over positions: logits [B, N, V], targets [B, N] int32 -> [B] nats. */
export function tokenNll(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const [B, N, V] = logits.shape;
    const logp = tf.logSoftmax(tf.reshape(logits, [B * N, V])); // [B*N, V]
    const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(targets, [B * N]) as tf.Tensor1D, V)), 1); // [B*N]
    return tf.neg(tf.sum(tf.reshape(picked, [B, N]), 1)) as tf.Tensor1D;
  });
}

// -log p(x) = -log p(t) + sum_i log |bin(t_i)|,  bits/dim = -log p(x) / (H W C ln 2)   (8-bit units), where
// |bin(t)| = the number of 8-bit values (grey) or 8-bit colours (RGB) quantised to token t
/** sum_i log |bin(t_i)| per image: targets [B, N] -> [B] nats (a constant of the data, no gradient). */
export function logBinSum(palette: Palette, targets: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.gather(tf.tensor1d(palette.logBin), targets), 1) as tf.Tensor1D);
}

/** The training loss: mean over the batch of -log p(t) (nats per image); terms.bitsPerDim in 8-bit units. */
export function igptLoss(logits: tf.Tensor3D, targets: tf.Tensor2D, palette: Palette, dims: number): LossOutput {
  return tf.tidy((): tf.TensorContainer => {
    const nll = tokenNll(logits, targets); // [B]
    const loss = tf.mean(nll) as tf.Scalar;
    const bitsPerDim = tf.div(tf.mean(tf.add(nll, logBinSum(palette, targets))), dims * Math.LN2) as tf.Scalar;
    return { loss, terms: { bitsPerDim } };
  }) as unknown as LossOutput;
}
