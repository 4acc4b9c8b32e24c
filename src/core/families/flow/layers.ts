// Invertible layers of the flow, each a Bijector: forward x -> (y, log|det dy/dx| per image), inverse y -> x.
// Squeeze, actnorm (data-dependent init), the invertible 1x1 convolution (plain or LU-parameterised), channel
// reversal, and the data transform (logit or centring). Tensors are NHWC [B,h,w,c]; log-dets are [B] in nats.
import * as tf from '@tensorflow/tfjs-core';
import { recordOp } from '../../export/trace.ts';
import type { ParamStore } from '../../nn/params.ts';
import type { Rng } from '../../tensor/rng.ts';
import { inverse, logAbsDetLu, luDecompose, inverseLu, pluParts, randomRotation, transpose } from './linalg.ts';

/** What a layer may read besides its input: the condition c = embed(y) [B, dim], a context image (the variational
 *  dequantizer's x) and whether actnorm layers initialise themselves from this batch. */
export interface FlowCtx {
  cond: tf.Tensor2D | null;
  context?: tf.Tensor4D | null;
  initActnorm?: boolean;
}

export interface Bijector {
  forward(x: tf.Tensor4D, ctx: FlowCtx): { y: tf.Tensor4D; logdet: tf.Tensor1D };
  inverse(y: tf.Tensor4D, ctx: FlowCtx): tf.Tensor4D;
}

/** A per-image log-det that does not depend on x: the scalar repeated B times. */
const perImage = (B: number, value: tf.Tensor | number): tf.Tensor1D => tf.mul(tf.ones([B]), value) as tf.Tensor1D;

/**
 * Squeeze [B,h,w,c] -> [B,h/2,w/2,4c]: each 2x2 block becomes one position with channels (di, dj, c) in that order
 * (a permutation, log-det 0). Written with a rank-4 transpose:
 * [B h/2, 2, w/2, 2c] -> [B h/2, w/2, 2, 2c].
 */
export function squeeze(x: tf.Tensor4D): tf.Tensor4D {
  const [B, h, w, c] = x.shape;
  return tf.tidy(
    () =>
      tf.reshape(tf.transpose(tf.reshape(x, [(B * h) / 2, 2, w / 2, 2 * c]), [0, 2, 1, 3]), [
        B,
        h / 2,
        w / 2,
        4 * c,
      ]) as tf.Tensor4D,
  );
}

/** The inverse of squeeze: [B,h,w,4c] -> [B,2h,2w,c]. */
export function unsqueeze(x: tf.Tensor4D): tf.Tensor4D {
  const [B, h, w, c4] = x.shape;
  const c = c4 / 4;
  return tf.tidy(
    () =>
      tf.reshape(tf.transpose(tf.reshape(x, [B * h, w, 2, 2 * c]), [0, 2, 1, 3]), [B, 2 * h, 2 * w, c]) as tf.Tensor4D,
  );
}

export const squeezeLayer: Bijector = {
  forward: (x) => tf.tidy(() => ({ y: squeeze(x), logdet: tf.zeros([x.shape[0]]) as tf.Tensor1D })),
  inverse: (y) => unsqueeze(y),
};

/**
 * Actnorm (Glow): y = x exp(logs) + b per channel, log|det| = h w sum_c logs_c. Data-dependent init: on the first
 * batch (ctx.initActnorm), logs = -log(std + 1e-6) and b = -mean exp(logs) over [B,h,w], so y has zero mean and unit
 * variance per channel there.
 */
export class ActNorm implements Bijector {
  readonly bias: tf.Variable;
  readonly logScale: tf.Variable;

  constructor(ps: ParamStore, name: string, c: number) {
    this.bias = ps.param(`${name}.bias`, [c], 'zeros');
    this.logScale = ps.param(`${name}.logScale`, [c], 'zeros');
  }

  /** Set logs and b from the moments of x over batch and positions. */
  initFrom(x: tf.Tensor4D): void {
    tf.tidy(() => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const logs = tf.neg(tf.log(tf.add(tf.sqrt(variance), 1e-6)));
      this.logScale.assign(logs);
      this.bias.assign(tf.neg(tf.mul(mean, tf.exp(logs))));
    });
  }

  forward(x: tf.Tensor4D, ctx: FlowCtx): { y: tf.Tensor4D; logdet: tf.Tensor1D } {
    if (ctx.initActnorm) this.initFrom(x);
    return tf.tidy(() => {
      const [B, h, w] = x.shape;
      const y = tf.add(tf.mul(x, tf.exp(this.logScale)), this.bias) as tf.Tensor4D;
      return { y, logdet: perImage(B, tf.mul(tf.sum(this.logScale), h * w)) };
    });
  }

  inverse(y: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.mul(tf.sub(y, this.bias), tf.exp(tf.neg(this.logScale))) as tf.Tensor4D);
  }
}

/** y = x W at every position (x a row of c channels): [B,h,w,c] x [c,c]. */
function mix(x: tf.Tensor4D, w: tf.Tensor2D): tf.Tensor4D {
  const [B, h, wd, c] = x.shape;
  return tf.reshape(tf.matMul(tf.reshape(x, [B * h * wd, c]), w), [B, h, wd, c]) as tf.Tensor4D;
}

/**
 * log|det W| of a small square matrix, with d log|det W| / dW = W^-T: TensorFlow.js has no determinant op, so both
 * come from an LU decomposition of W in float64 JS (W is read back: fine on the CPU backends this project runs).
 */
export function logAbsDet(w: tf.Tensor2D): tf.Scalar {
  const n = w.shape[0];
  const f = tf.customGrad(((wt: tf.Tensor) => {
    const lu = luDecompose(wt.dataSync(), n);
    const invT = Float32Array.from(transpose(inverseLu(lu), n));
    return {
      value: tf.scalar(logAbsDetLu(lu)),
      gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.tensor2d(invT, [n, n])),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const out = f(w) as tf.Scalar;
  recordOp('LogAbsDet', [w], out);
  return out;
}

/**
 * The invertible 1x1 convolution (Glow): y = x W per position, W [c,c] initialised to a random rotation;
 * log|det| = h w log|det W| (logAbsDet above); the inverse uses W^-1, computed in JS.
 */
export class InvConv1x1 implements Bijector {
  readonly weight: tf.Variable;

  constructor(
    ps: ParamStore,
    name: string,
    readonly c: number,
    rng: Rng,
  ) {
    this.weight = ps.param(`${name}.weight`, [c, c], 'zeros');
    tf.tidy(() => this.weight.assign(tf.tensor2d(Float32Array.from(randomRotation(c, rng)), [c, c])));
  }

  forward(x: tf.Tensor4D): { y: tf.Tensor4D; logdet: tf.Tensor1D } {
    return tf.tidy(() => {
      const [B, h, w] = x.shape;
      return {
        y: mix(x, this.weight as tf.Tensor2D),
        logdet: perImage(B, tf.mul(logAbsDet(this.weight as tf.Tensor2D), h * w)),
      };
    });
  }

  inverse(y: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() =>
      mix(y, tf.tensor2d(Float32Array.from(inverse(this.weight.dataSync(), this.c)), [this.c, this.c])),
    );
  }
}

/** Strictly lower (below = true) or strictly upper triangular 0/1 mask, c x c. */
function triMask(c: number, below: boolean): tf.Tensor2D {
  const m = new Float32Array(c * c);
  for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) m[i * c + j] = (below ? j < i : j > i) ? 1 : 0;
  return tf.tensor2d(m, [c, c]);
}

/**
 * The LU-parameterised 1x1 convolution (Glow sec. 3.2): W = P L (U + diag(sign exp(logs))), P a fixed permutation,
 * L unit lower and U strictly upper triangular (learned), log|det W| = sum logs (cheap: no decomposition per step).
 * Initialised from the PLU decomposition of a random rotation.
 */
export class InvConv1x1Lu implements Bijector {
  readonly lower: tf.Variable;
  readonly upper: tf.Variable;
  readonly logScale: tf.Variable;
  readonly perm: tf.Variable;
  readonly sign: tf.Variable;

  constructor(
    ps: ParamStore,
    name: string,
    readonly c: number,
    rng: Rng,
  ) {
    const { p, lower, upper, s } = pluParts(randomRotation(c, rng), c);
    const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
    this.lower = ps.param(`${name}.lower`, [c, c], 'zeros');
    this.upper = ps.param(`${name}.upper`, [c, c], 'zeros');
    this.logScale = ps.param(`${name}.logScale`, [c], 'zeros');
    this.perm = ps.buffer(`${name}.permutation`, [c, c], 'zeros');
    this.sign = ps.buffer(`${name}.sign`, [c], 'ones');
    tf.tidy(() => {
      this.lower.assign(tf.tensor2d(f32(lower), [c, c]));
      this.upper.assign(tf.tensor2d(f32(upper), [c, c]));
      this.logScale.assign(tf.tensor1d(f32(Array.from(s, (v) => Math.log(Math.abs(v))))));
      this.perm.assign(tf.tensor2d(f32(p), [c, c]));
      this.sign.assign(tf.tensor1d(f32(Array.from(s, (v) => (v < 0 ? -1 : 1)))));
    });
  }

  /** W = P (L + I) (U + diag(sign exp(logs))), with L and U masked to their strict triangles. */
  weight(): tf.Tensor2D {
    return tf.tidy(() => {
      const c = this.c;
      const L = tf.add(tf.mul(this.lower, triMask(c, true)), tf.eye(c));
      const U = tf.add(
        tf.mul(this.upper, triMask(c, false)),
        tf.mul(tf.eye(c), tf.mul(this.sign, tf.exp(this.logScale))),
      ); // eye * s = diag(s) (tf.diag has no gradient)
      return tf.matMul(this.perm as tf.Tensor2D, tf.matMul(L as tf.Tensor2D, U as tf.Tensor2D));
    });
  }

  forward(x: tf.Tensor4D): { y: tf.Tensor4D; logdet: tf.Tensor1D } {
    return tf.tidy(() => {
      const [B, h, w] = x.shape;
      return { y: mix(x, this.weight()), logdet: perImage(B, tf.mul(tf.sum(this.logScale), h * w)) };
    });
  }

  /** W's values in float64 JS from the parameters' (read back, as inverse() needs W^-1 on the CPU; the parameters
   *  are variables, whose values any backend has at hand, where W itself would be computed on the device). */
  weightValues(): Float64Array {
    const c = this.c;
    const [P, lo, up, sign, logs] = [this.perm, this.lower, this.upper, this.sign, this.logScale].map((v) =>
      v.dataSync(),
    );
    const L = new Float64Array(c * c),
      U = new Float64Array(c * c);
    for (let i = 0; i < c; i++)
      for (let j = 0; j < c; j++) {
        L[i * c + j] = j < i ? lo[i * c + j] : j === i ? 1 : 0;
        U[i * c + j] = j > i ? up[i * c + j] : j === i ? sign[i] * Math.exp(logs[i]) : 0;
      }
    const mm = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      const out = new Float64Array(c * c);
      for (let i = 0; i < c; i++)
        for (let k = 0; k < c; k++) for (let j = 0; j < c; j++) out[i * c + j] += a[i * c + k] * b[k * c + j];
      return out;
    };
    return mm(P, mm(L, U));
  }

  inverse(y: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() =>
      mix(y, tf.tensor2d(Float32Array.from(inverse(this.weightValues(), this.c)), [this.c, this.c])),
    );
  }
}

/** RealNVP's fixed permutation between couplings: the channels in reverse order (log-det 0). */
export const reverseLayer: Bijector = {
  forward: (x) =>
    tf.tidy(() => ({ y: tf.reverse(x, 3) as tf.Tensor4D, logdet: tf.zeros([x.shape[0]]) as tf.Tensor1D })),
  inverse: (y) => tf.tidy(() => tf.reverse(y, 3) as tf.Tensor4D),
};

/**
 * Data y in [0,1) to flow space v. 'logit': s = alpha + (1 - 2 alpha) y, v = log s - log(1 - s),
 * log|dv/dy| = sum_i [log(1 - 2 alpha) - log s_i - log(1 - s_i)]. 'center': v = y - 1/2, log-det 0.
 */
export class DataTransform implements Bijector {
  constructor(
    readonly kind: 'logit' | 'center',
    readonly alpha: number,
  ) {}

  forward(y: tf.Tensor4D): { y: tf.Tensor4D; logdet: tf.Tensor1D } {
    return tf.tidy(() => {
      const B = y.shape[0];
      if (this.kind === 'center') return { y: tf.sub(y, 0.5) as tf.Tensor4D, logdet: tf.zeros([B]) as tf.Tensor1D };
      const a = this.alpha;
      const s = tf.add(a, tf.mul(1 - 2 * a, y));
      const logS = tf.log(s),
        log1mS = tf.log(tf.sub(1, s));
      const D = y.size / B;
      const logdet = tf.sub(
        D * Math.log(1 - 2 * a),
        tf.sum(tf.reshape(tf.add(logS, log1mS), [B, D]), 1),
      ) as tf.Tensor1D;
      return { y: tf.sub(logS, log1mS) as tf.Tensor4D, logdet };
    });
  }

  /** v -> y = (sigmoid(v) - alpha) / (1 - 2 alpha) (logit) or v + 1/2. */
  inverse(v: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      if (this.kind === 'center') return tf.add(v, 0.5) as tf.Tensor4D;
      const a = this.alpha;
      return tf.div(tf.sub(tf.sigmoid(v), a), 1 - 2 * a) as tf.Tensor4D;
    });
  }
}
