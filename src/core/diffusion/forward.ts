// The forward (noising) process and the conversions between what a denoiser predicts (eps, v) and x_0.
// q(x_t | x_0) = N(sqrt(alphaBar_t) x_0, (1 - alphaBar_t) I);  v = sqrt(alphaBar_t) eps - sqrt(1 - alphaBar_t) x_0.
import * as tf from '@tensorflow/tfjs-core';
import type { Schedule } from './schedules.ts';

/** Per-sample coefficient c[t_i] as a [B, 1, 1, 1] tensor. */
export function coef(values: Float64Array, t: ArrayLike<number>): tf.Tensor4D {
  return tf.tensor4d(
    Float32Array.from(t, (ti) => values[ti]),
    [t.length, 1, 1, 1],
  );
}

/** x_t = sqrt(alphaBar_t) x_0 + sqrt(1 - alphaBar_t) eps, for one t per sample. */
export function qSample(s: Schedule, x0: tf.Tensor4D, t: ArrayLike<number>, eps: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const a = coef(s.alphaBar.map(Math.sqrt), t),
      b = coef(
        s.alphaBar.map((ab) => Math.sqrt(1 - ab)),
        t,
      );
    return tf.add(tf.mul(a, x0), tf.mul(b, eps)) as tf.Tensor4D;
  });
}

/** The training target v = sqrt(alphaBar_t) eps - sqrt(1 - alphaBar_t) x_0 (Salimans & Ho 2022). */
export function vTarget(s: Schedule, x0: tf.Tensor4D, t: ArrayLike<number>, eps: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(
    () =>
      tf.sub(
        tf.mul(coef(s.alphaBar.map(Math.sqrt), t), eps),
        tf.mul(
          coef(
            s.alphaBar.map((ab) => Math.sqrt(1 - ab)),
            t,
          ),
          x0,
        ),
      ) as tf.Tensor4D,
  );
}

/** eps from a v prediction at a single t: eps = sqrt(alphaBar_t) v + sqrt(1 - alphaBar_t) x_t. */
export function epsFromV(s: Schedule, xt: tf.Tensor4D, v: tf.Tensor4D, t: number): tf.Tensor4D {
  const ab = s.alphaBar[t];
  return tf.tidy(() => tf.add(tf.mul(Math.sqrt(ab), v), tf.mul(Math.sqrt(1 - ab), xt)) as tf.Tensor4D);
}

/** x_0 from an eps prediction at a single t: x_0 = (x_t - sqrt(1 - alphaBar_t) eps) / sqrt(alphaBar_t). */
export function x0FromEps(s: Schedule, xt: tf.Tensor4D, eps: tf.Tensor4D, t: number): tf.Tensor4D {
  const ab = s.alphaBar[t];
  return tf.tidy(() => tf.div(tf.sub(xt, tf.mul(Math.sqrt(1 - ab), eps)), Math.sqrt(ab)) as tf.Tensor4D);
}
