// Variational dequantization (Ho et al. 2019, Flow++): noise u ~ q(u|x) in (0,1)^D from a small conditional flow,
// u = sigmoid(g(eps; x)), eps ~ N(0, I), g a stack of checkerboard affine couplings that read the 8-bit image x.
// -log P(x) <= E_q[-log p((x + u)/256) + D log 256 + log q(u|x)], so log q(u|x) enters the bound.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from '../../nn/params.ts';
import { standardNormalLogPdf } from '../../math/distributions.ts';
import type { FlowModelConfig } from './config.ts';
import { AffineCoupling } from './coupling.ts';

export class VariationalDequantizer {
  readonly couplings: AffineCoupling[] = [];

  constructor(
    cfg: FlowModelConfig,
    readonly shape: [number, number, number],
    ps: ParamStore,
  ) {
    const C = shape[2];
    for (let k = 0; k < cfg.dequant.steps; k++) {
      this.couplings.push(
        new AffineCoupling(ps, `dequant.step${k}.coupling`, shape, {
          mask: 'checkerboard', // works for one channel too
          parity: (k % 2) as 0 | 1,
          arch: cfg.arch,
          hidden: cfg.dequant.hidden,
          scaleFn: cfg.scaleFn,
          condDim: 0,
          contextChannels: C,
        }),
      );
    }
  }

  /** The context the couplings read: the 8-bit values k [B,H,W,C] (0..255) scaled to [-1, 1]. */
  static context(k: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.sub(tf.div(k, 127.5), 1) as tf.Tensor4D);
  }

  /** h = g(eps; x) and log|det dg/deps| [B]. */
  g(eps: tf.Tensor4D, context: tf.Tensor4D): { h: tf.Tensor4D; logdet: tf.Tensor1D } {
    return tf.tidy(() => {
      let h = eps;
      let logdet = tf.zeros([eps.shape[0]]) as tf.Tensor1D;
      for (const c of this.couplings) {
        const o = c.forward(h, { cond: null, context });
        h = o.y;
        logdet = tf.add(logdet, o.logdet) as tf.Tensor1D;
      }
      return { h, logdet };
    });
  }

  /** eps = g^-1(h; x). */
  gInverse(h: tf.Tensor4D, context: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let e = h;
      for (let i = this.couplings.length - 1; i >= 0; i--) e = this.couplings[i].inverse(e, { cond: null, context });
      return e;
    });
  }

  /**
   * u ~ q(u|x) for the 8-bit values k [B,H,W,C], and log q(u|x) [B]:
   *   u = sigmoid(h), h = g(eps; x), eps ~ N(0, I)
   *   log q(u|x) = log N(eps; 0, I) - log|det dg/deps| - sum_i log[sigmoid(h_i) (1 - sigmoid(h_i))]
   * with log sigmoid(h) + log(1 - sigmoid(h)) = -softplus(-h) - softplus(h).
   */
  sample(k: tf.Tensor4D, seed: number): { u: tf.Tensor4D; logq: tf.Tensor1D } {
    return tf.tidy(() => this.fromNoise(tf.randomNormal(k.shape, 0, 1, 'float32', seed) as tf.Tensor4D, k));
  }

  /** u and log q(u|x) as in sample(), for given noise eps [B,H,W,C]. */
  fromNoise(eps: tf.Tensor4D, k: tf.Tensor4D): { u: tf.Tensor4D; logq: tf.Tensor1D } {
    return tf.tidy(() => {
      const { h, logdet } = this.g(eps, VariationalDequantizer.context(k));
      const B = k.shape[0];
      const logSig = tf.sum(tf.reshape(tf.neg(tf.add(tf.softplus(tf.neg(h)), tf.softplus(h))), [B, -1]), 1);
      const logq = tf.sub(tf.sub(standardNormalLogPdf(eps), logdet), logSig) as tf.Tensor1D;
      return { u: tf.sigmoid(h) as tf.Tensor4D, logq };
    });
  }
}
