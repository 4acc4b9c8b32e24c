// The PixelCNN's exact negative log-likelihood, -log p(x) = -sum_i log p(x_i | x_<i), in nats per image, for the
// 256-way categorical (8-bit data) and the Bernoulli (binarized data) outputs, and its bits/dim.
import * as tf from '@tensorflow/tfjs-core';
import { bernoulliLogLik } from '../../math/distributions.ts';
import { natsToBitsPerDim } from '../../math/units.ts';
import type { LossOutput } from '../../train/trainer.ts';

/** 8-bit targets k = round(255 x) in 0..255 of x [B,H,W,C] in [0,1] (int32). */
export const targets8bit = (x01: tf.Tensor4D): tf.Tensor4D =>
  tf.tidy(() => tf.cast(tf.clipByValue(tf.round(tf.mul(x01, 255)), 0, 255), 'int32') as tf.Tensor4D);

/** Binary targets b = [x > 0.5] of x in [0,1] (float32 0/1). */
export const targetsBinary = (x01: tf.Tensor4D): tf.Tensor4D =>
  tf.tidy(() => tf.cast(tf.greater(x01, 0.5), 'float32') as tf.Tensor4D);

/**
 * Categorical NLL per image: -log p(x) = sum_{i, colour} [ logsumexp_k l_{i,k} - l_{i,x_i} ]
 * logits [B,H,W,C,K], k [B,H,W,C] int32 -> [B] nats. The gradient is written out, d/dl = softmax(l) - onehot(x):
 * fewer broadcasts along K than the autodiff of logsumexp (each one a slow per-element loop on the cpu backend).
 */
export function categoricalNll(logits: tf.Tensor5D, k: tf.Tensor4D): tf.Tensor1D {
  const [B, H, W, C, K] = logits.shape;
  const oneHot = tf.tidy(() => tf.cast(tf.oneHot(k, K), 'float32')); // [B,H,W,C,K]
  const nll = tf.customGrad(((l: tf.Tensor, save: tf.GradSaveFunc) => {
    const m = tf.max(l, 4, true); // [B,H,W,C,1]
    const s = tf.sub(l, m);
    const logp = tf.sub(s, tf.log(tf.sum(tf.exp(s), 4, true))); // log softmax [B,H,W,C,K]
    save([logp, oneHot]); // kept copies: the backward pass runs after this function's tensors are gone
    return {
      value: tf.neg(tf.sum(tf.reshape(tf.mul(logp, oneHot), [B, H * W * C * K]), 1)), // [B]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.mul(tf.reshape(dy, [B, 1, 1, 1, 1]), tf.sub(tf.exp(saved[0]), saved[1])),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  try {
    return nll(logits) as tf.Tensor1D;
  } finally {
    oneHot.dispose();
  }
}

/** Bernoulli NLL per image: -sum_i [ b_i log sigmoid(l_i) + (1 - b_i) log(1 - sigmoid(l_i)) ]; logits [B,H,W,C,1]. */
export function bernoulliNll(logits: tf.Tensor5D, b: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => tf.neg(bernoulliLogLik(b, tf.squeeze(logits, [4]))) as tf.Tensor1D);
}

/** NLL per image [B] for either output. */
export function nllPerImage(output: 'categorical' | 'bernoulli', logits: tf.Tensor5D, x01: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() =>
    output === 'categorical' ? categoricalNll(logits, targets8bit(x01)) : bernoulliNll(logits, targetsBinary(x01)),
  );
}

/**
 * Training loss: L = mean_b -log p(x_b | y_b) (nats per image), reported with bitsPerDim = L / (H W C ln 2).
 * nll [B] from nllPerImage.
 */
export function pixelcnnLoss(nll: tf.Tensor1D, dims: number): LossOutput {
  return tf.tidy((): tf.TensorContainer => {
    const loss = tf.mean(nll) as tf.Scalar;
    return { loss, terms: { nll: tf.clone(loss), bitsPerDim: tf.mul(loss, natsToBitsPerDim(1, dims)) as tf.Scalar } };
  }) as unknown as LossOutput;
}
