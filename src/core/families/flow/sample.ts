// Sampling and the latent-space pictures of the flow: x = T^-1(f^-1(z)) with z ~ N(0, T^2 I) (temperature), the round
// trip y -> z -> y, and interpolation in z. Images y in [0,1]; samples rounded to the 8-bit grid, k = floor(256 y).
import * as tf from '@tensorflow/tfjs-core';
import { SampleStreams } from '../../tensor/sample-streams.ts';
import type { DataTransform } from './layers.ts';
import { MultiScaleFlow } from './model.ts';

/** The two maps between images and latents: the data transform T (y -> v) and the flow f (v -> z). */
export interface FlowMaps {
  transform: DataTransform;
  flow: MultiScaleFlow;
}

/**
 * z_s ~ N(0, T^2 I) for every scale, [n, h_s, w_s, c_s], of samples first .. first + n - 1 (each sample's scales in
 * turn from its own stream): the same seed gives the same eps = z / T at every T.
 */
export function drawLatents(
  shapes: [number, number, number][],
  n: number,
  seed: number,
  temperature: number,
  first = 0,
): tf.Tensor4D[] {
  const streams = new SampleStreams(seed, first, n);
  return shapes.map(([h, w, c]) => tf.tidy(() => tf.mul(streams.normal([h, w, c]), temperature) as tf.Tensor4D));
}

/** z = f(T(y)) for images y [B,H,W,C] in [0,1), condition c [B, dim] or null. */
export function encode(m: FlowMaps, y: tf.Tensor4D, cond: tf.Tensor2D | null): tf.Tensor4D[] {
  return tf.tidy(() => m.flow.forward(m.transform.forward(y).y, { cond }).zs);
}

/** y = T^-1(f^-1(z)), clipped to [0, 1]. */
export function decode(m: FlowMaps, zs: tf.Tensor4D[], cond: tf.Tensor2D | null): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(m.transform.inverse(m.flow.inverse(zs, { cond })), 0, 1) as tf.Tensor4D);
}

/** y on the 8-bit grid the model is a distribution over: k = min(floor(256 y), 255), returned as k / 255. */
export function to8bit(y: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.clipByValue(tf.floor(tf.mul(y, 256)), 0, 255), 255) as tf.Tensor4D);
}

/** The 8-bit values k = min(floor(256 y), 255) of y in [0,1] (dequantized (k + u)/256 or k/255 both give k back). */
export function levels8bit(y: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.floor(tf.mul(y, 256)), 0, 255) as tf.Tensor4D);
}

/** The round trip y' = T^-1(f^-1(f(T(y)))) (not clipped), equal to y up to float error. */
export function roundTrip(m: FlowMaps, y: tf.Tensor4D, cond: tf.Tensor2D | null): tf.Tensor4D {
  return tf.tidy(() => m.transform.inverse(m.flow.inverse(encode(m, y, cond), { cond })));
}

/**
 * Linear interpolation in z between pairs of images a_i and b_i [m,H,W,C] in `steps` points (ends included):
 * z_t = (1 - t) z_a + t z_b, decoded with the condition interpolated the same way (ca, cb [m, dim] or null).
 * Returns [m steps, H, W, C], pair by pair; all pairs go through the flow in one batch.
 */
export function interpolate(
  m: FlowMaps,
  a: tf.Tensor4D,
  b: tf.Tensor4D,
  steps: number,
  ca: tf.Tensor2D | null,
  cb: tf.Tensor2D | null,
): tf.Tensor4D {
  return tf.tidy(() => {
    const n = a.shape[0];
    const ends = MultiScaleFlow.flatten(
      encode(m, tf.concat([a, b], 0) as tf.Tensor4D, ca && cb ? (tf.concat([ca, cb], 0) as tf.Tensor2D) : null),
    );
    const t = tf.reshape(tf.linspace(0, 1, steps), [1, steps, 1]);
    // [n, steps, d]: row (i, t) = (1 - t) p_i + t q_i
    const mixRows = (p: tf.Tensor2D, q: tf.Tensor2D) =>
      tf.reshape(tf.add(tf.mul(tf.expandDims(p, 1), tf.sub(1, t)), tf.mul(tf.expandDims(q, 1), t)), [
        n * steps,
        p.shape[1],
      ]) as tf.Tensor2D;
    const z = mixRows(tf.slice(ends, 0, n) as tf.Tensor2D, tf.slice(ends, n, n) as tf.Tensor2D);
    return decode(m, m.flow.unflatten(z), ca && cb ? mixRows(ca, cb) : null);
  });
}
