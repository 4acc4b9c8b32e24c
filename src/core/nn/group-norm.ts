// Group normalisation over NHWC images, optionally followed by SiLU: the backend's fused DeepgenGroupNorm kernel (the
// native backend's) through tf.customGrad when registered, else composed tfjs ops (same values and gradients).
import * as tf from '@tensorflow/tfjs-core';
import { traceAs } from '../export/trace.ts';

export const GROUP_NORM_EPSILON = 1e-5;

const silu = (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x));

/** GroupNorm(groups) from tfjs ops: (x - mean) / sqrt(var + 1e-5) * gamma + beta per (image, group), then SiLU when act.
 *  gamma and beta are [C], or [B, C] for a per-image affine (AdaGN: gamma (1 + s), beta (1 + s) + b). */
export function groupNormOps(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, act = false, groups = 8): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  if (C % groups !== 0) throw new Error(`groupNorm: ${C} channels do not split into ${groups} groups`);
  if (gamma.rank === 2)
    return tf.tidy(() => groupNormOps(x, tf.reshape(gamma, [B, 1, 1, C]), tf.reshape(beta, [B, 1, 1, C]), act, groups));
  return tf.tidy(() => {
    const xr = tf.reshape(x, [B, H * W, groups, C / groups]);
    const { mean, variance } = tf.moments(xr, [1, 3], true);
    const y = tf.reshape(tf.mul(tf.sub(xr, mean), tf.rsqrt(tf.add(variance, GROUP_NORM_EPSILON))), [B, H, W, C]);
    const z = tf.add(tf.mul(y, gamma), beta) as tf.Tensor4D;
    return act ? (silu(z) as tf.Tensor4D) : z;
  });
}

/** GroupNorm(groups) (+ SiLU when act) of x [B, H, W, C] with gamma, beta [C] or [B, C]: one fused kernel forward and one for the
 *  gradient (x, gamma, beta) when the current backend has DeepgenGroupNorm, else groupNormOps. */
export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, act = false, groups = 8): tf.Tensor4D {
  // one op in an export trace (PyTorch's group_norm), whichever way this backend computes it
  return traceAs('DeepgenGroupNorm', [x, gamma, beta], { groups, epsilon: GROUP_NORM_EPSILON, silu: act }, () =>
    groupNormKernel(x, gamma, beta, act, groups),
  );
}

function groupNormKernel(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, act: boolean, groups: number): tf.Tensor4D {
  if (!tf.getKernel('DeepgenGroupNorm', tf.getBackend())) return groupNormOps(x, gamma, beta, act, groups);
  const attrs = { groups, epsilon: GROUP_NORM_EPSILON, silu: act };
  const f = tf.customGrad(((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, rstd] = tf
      .engine()
      .runKernel('DeepgenGroupNorm', { x: xi, gamma: g, beta: b }, attrs) as unknown as tf.Tensor[];
    save([xi, g, b, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg, sb, sm, sr] = saved;
        return tf
          .engine()
          .runKernel(
            'DeepgenGroupNormGrad',
            { dy, x: sx, gamma: sg, beta: sb, mean: sm, rstd: sr },
            attrs,
          ) as unknown as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, gamma, beta) as tf.Tensor4D;
}
