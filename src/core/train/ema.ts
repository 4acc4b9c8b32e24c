// Exponential moving average of weights, kept for sampling: ema <- d_t * ema + (1 - d_t) * w, with the warm-up
// d_t = min(decay, (1 + t) / (10 + t)) at update t = 1, 2, ... so early weights (e.g. zero-initialised layers) fade fast.
import * as tf from '@tensorflow/tfjs-core';

export class Ema {
  readonly shadow: Record<string, tf.Variable> = {};

  constructor(
    readonly decay: number,
    vars: Record<string, tf.Variable>,
  ) {
    for (const [k, v] of Object.entries(vars)) {
      const copy = v.clone();
      this.shadow[k] = tf.variable(copy, false);
      copy.dispose(); // the variable holds its own reference to the data
    }
  }

  /** The decay used at update t (1-based): min(decay, (1 + t) / (10 + t)). */
  decayAt(t: number): number {
    return Math.min(this.decay, (1 + t) / (10 + t));
  }

  /** Update number t (1-based; the trainer's step after the optimizer update). */
  update(vars: Record<string, tf.Variable>, t: number): void {
    const d = this.decayAt(t);
    tf.tidy(() => {
      for (const [k, v] of Object.entries(vars)) {
        const s = this.shadow[k];
        s.assign(tf.add(tf.mul(s, d), tf.mul(v, 1 - d)));
      }
    });
  }

  /** Starts the average afresh at the current weights (e.g. when a resumed run has no saved average). */
  restart(vars: Record<string, tf.Variable>): void {
    for (const [k, v] of Object.entries(vars)) this.shadow[k].assign(v);
  }

  /** Swap EMA weights into `vars`, run fn, swap back. */
  async withWeights<T>(vars: Record<string, tf.Variable>, fn: () => T | Promise<T>): Promise<T> {
    const saved = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v.clone()]));
    try {
      for (const [k, v] of Object.entries(vars)) v.assign(this.shadow[k]);
      return await fn();
    } finally {
      for (const [k, v] of Object.entries(vars)) {
        v.assign(saved[k]);
        saved[k].dispose();
      }
    }
  }

  dispose(): void {
    for (const v of Object.values(this.shadow)) v.dispose();
  }
}
