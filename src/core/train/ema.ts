// Exponential moving average of weights, kept for sampling: ema <- decay * ema + (1 - decay) * w.
import * as tf from '@tensorflow/tfjs-core';

export class Ema {
  readonly shadow: Record<string, tf.Variable> = {};

  constructor(readonly decay: number, vars: Record<string, tf.Variable>) {
    for (const [k, v] of Object.entries(vars)) this.shadow[k] = tf.variable(v.clone(), false);
  }

  update(vars: Record<string, tf.Variable>): void {
    tf.tidy(() => {
      for (const [k, v] of Object.entries(vars)) {
        const s = this.shadow[k];
        s.assign(tf.add(tf.mul(s, this.decay), tf.mul(v, 1 - this.decay)));
      }
    });
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
