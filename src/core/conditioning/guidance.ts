// Classifier-free guidance (Ho & Salimans 2022): mix unconditional and conditional predictions with weight w.

import * as tf from '@tensorflow/tfjs-core';

/**
 * eps_guided = eps_uncond + w (eps_cond - eps_uncond)
 * w = 0: the unconditional prediction; w = 1: the plain conditional one; w > 1 sharpens towards the condition.
 */
export function guide<T extends tf.Tensor>(uncond: T, cond: T, w: number): T {
  if (!Number.isFinite(w)) throw new Error(`guidance weight must be a finite number, got ${w}`);
  if (w === 0) return tf.clone(uncond);
  if (w === 1) return tf.clone(cond);
  return tf.tidy(() => tf.add(uncond, tf.mul(tf.sub(cond, uncond), w))) as T;
}
