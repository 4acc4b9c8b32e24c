// Adam (Kingma & Ba 2015) with decoupled weight decay (AdamW), its state keyed by parameter name
// so it saves to optimizer.safetensors and resumes exactly. Uses the backend's fused Adam kernel when it has one.
import * as tf from '@tensorflow/tfjs-core';

/**
 * Name of an optional fused Adam kernel (registered by the native backend). Inputs x (the parameter), m, v, g, all
 * float32 of one shape; attrs beta1, beta2, learningRate, epsilon, c1 = 1 - beta1^t, c2 = 1 - beta2^t and decay
 * (optional, default 0). Outputs [x', m', v']:
 *   m' = beta1 m + (1 - beta1) g;  v' = beta2 v + (1 - beta2) g^2;
 *   x' = (1 - learningRate decay) x - learningRate (m' / c1) / (sqrt(v' / c2) + epsilon)
 */
export const FUSED_ADAM_KERNEL = 'DeepgenFusedAdam';

export interface AdamOptions {
  beta1: number;
  beta2: number;
  eps?: number;
  weightDecay?: number;
}

export class Adam {
  /** Number of updates applied so far (t). */
  t = 0;
  readonly m: Record<string, tf.Variable> = {};
  readonly v: Record<string, tf.Variable> = {};
  private readonly eps: number;

  constructor(private readonly opts: AdamOptions) {
    this.eps = opts.eps ?? 1e-8;
  }

  /**
   * One update with learning rate lr:
   *   m <- beta1 m + (1 - beta1) g ;  v <- beta2 v + (1 - beta2) g^2
   *   w <- w - lr * ( m / (1 - beta1^t) ) / ( sqrt(v / (1 - beta2^t)) + eps ) - lr * weightDecay * w
   */
  apply(vars: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    this.t += 1;
    const { beta1, beta2 } = this.opts;
    const wd = this.opts.weightDecay ?? 0;
    const c1 = 1 - Math.pow(beta1, this.t);
    const c2 = 1 - Math.pow(beta2, this.t);
    const fused = !!tf.getKernel(FUSED_ADAM_KERNEL, tf.getBackend());
    const attrs = { beta1, beta2, learningRate: lr, epsilon: this.eps, c1, c2, decay: wd };
    tf.tidy(() => {
      for (const [name, w] of Object.entries(vars)) {
        // moments for every variable, with a gradient this step or not, so a saved state always has all of them
        if (!this.m[name]) {
          this.m[name] = tf.variable(tf.zerosLike(w), false);
          this.v[name] = tf.variable(tf.zerosLike(w), false);
        }
        const g = grads[name];
        if (!g) continue;
        const m = this.m[name];
        const v = this.v[name];
        if (fused && w.dtype === 'float32' && g.dtype === 'float32') {
          // one pass instead of ~14 elementwise kernels; the same arithmetic (w - lr wd w = (1 - lr wd) w)
          const [w2, m2, v2] = tf.engine().runKernel(FUSED_ADAM_KERNEL, { x: w, m, v, g }, attrs) as tf.Tensor[];
          m.assign(m2);
          v.assign(v2);
          w.assign(w2);
          continue;
        }
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        let step = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps));
        if (wd > 0) step = tf.add(step, tf.mul(w, wd));
        w.assign(tf.sub(w, tf.mul(step, lr)));
      }
    });
  }

  /** State as named tensors: "<param>.m", "<param>.v" (plus t, returned separately). */
  stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const name of Object.keys(this.m)) {
      out[`${name}.m`] = this.m[name];
      out[`${name}.v`] = this.v[name];
    }
    return out;
  }

  /**
   * Restores update count t and, when t > 0, the moments "<param>.m" / "<param>.v" of every variable in `vars`.
   * The caller checks the records first (Trainer.loadOptimizerState: names, shapes, values).
   */
  loadState(
    t: number,
    tensors: Record<string, { shape: number[]; data: Float32Array }>,
    vars: Record<string, tf.Tensor>,
  ): void {
    this.dispose();
    this.t = t;
    if (t === 0) return;
    for (const name of Object.keys(vars)) {
      const m = tensors[`${name}.m`];
      const v = tensors[`${name}.v`];
      if (!m || !v) throw new Error(`Adam.loadState: no moments for ${name}`);
      this.m[name] = tf.variable(tf.tensor(m.data, m.shape, 'float32'), false);
      this.v[name] = tf.variable(tf.tensor(v.data, v.shape, 'float32'), false);
    }
  }

  dispose(): void {
    for (const k of Object.keys(this.m)) {
      this.m[k].dispose();
      this.v[k].dispose();
      delete this.m[k];
      delete this.v[k];
    }
  }
}
