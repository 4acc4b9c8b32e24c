// The affine coupling layer (Dinh et al. 2017, RealNVP; Kingma & Dhariwal 2018, Glow) with a channel or checkerboard
// mask, and its coupling network (conv 3x3 -> 1x1 -> 3x3, or an MLP on the flattened input) whose last layer starts
// at zero, so every coupling starts as the identity. The condition c enters the network's first layer as a bias.
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.ts';
import type { ParamStore } from '../../nn/params.ts';
import type { Bijector, FlowCtx } from './layers.ts';

export interface CouplingOptions {
  mask: 'channel' | 'checkerboard';
  /** Which half is transformed: channel mask 0 = the second half of the channels, 1 = the first; checkerboard 0 =
   *  the positions with (i + j) odd, 1 = even. */
  parity: 0 | 1;
  arch: 'conv' | 'mlp';
  hidden: number;
  scaleFn: 'tanh' | 'sigmoid';
  /** Size of c = embed(y) (0: unconditional). */
  condDim: number;
  /** Channels of ctx.context concatenated to the network input (0: none). */
  contextChannels: number;
}

/** The k x k taps of x [B,h,w,cin] side by side, 'same' zero padding: [B h w, k k cin], tap-major like a filter. */
function im2col(x: tf.Tensor4D, k: number): tf.Tensor2D {
  const [B, h, w, cin] = x.shape;
  const p = (k - 1) / 2;
  const xp = tf.pad(x, [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ]);
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) taps.push(tf.slice(xp, [0, i, j, 0], [B, h, w, cin]));
  return tf.reshape(tf.concat(taps, 3), [B * h * w, k * k * cin]) as tf.Tensor2D;
}

/**
 * The conv on the pure-JS cpu backend: its own forward (much faster than im2col on small images) and input gradient
 * (conv2dTranspose), but the filter gradient, a slow per-element loop there, as a matMul: dL/dW = im2col(x)^T dL/dy.
 */
const cpuConv = tf.customGrad(((x: tf.Tensor4D, w: tf.Tensor4D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.conv2d(x, w, 1, 'same'),
    gradFunc: (dy: tf.Tensor4D, [xs, ws]: tf.Tensor[]) => {
      const [k, , , cout] = ws.shape;
      const dx = tf.conv2dTranspose(dy, ws as tf.Tensor4D, xs.shape as [number, number, number, number], 1, 'same');
      const dw = tf.reshape(tf.matMul(im2col(xs as tf.Tensor4D, k), tf.reshape(dy, [-1, cout]), true, false), ws.shape);
      return [dx, dw];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;

/**
 * A 'same' conv of x [B,h,w,cin] with w [k,k,cin,cout] plus b. 1x1: one matMul. k x k: the backend's conv (native:
 * direct AVX kernels), with the filter gradient as a matMul on the pure-JS cpu backend (cpuConv).
 */
export function conv(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D): tf.Tensor4D {
  const [k, , cin, cout] = w.shape;
  const [B, h, wd] = x.shape;
  if (k === 1)
    return tf.reshape(
      tf.fused.matMul({
        a: tf.reshape(x, [B * h * wd, cin]) as tf.Tensor2D,
        b: tf.reshape(w, [cin, cout]) as tf.Tensor2D,
        bias: b,
      }),
      [B, h, wd, cout],
    ) as tf.Tensor4D;
  if (tf.getBackend() !== 'cpu') return tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias: b });
  return tf.add(cpuConv(x, w), b) as tf.Tensor4D;
}

/**
 * The coupling network NN(x_a, c) -> [B,h,w,2 cb] (log-scale pre-activations h and shifts t for cb transformed channels).
 *   conv: relu(conv3x3(x_a) + c V) -> relu(conv1x1) -> conv3x3 (zero-initialised)
 *   mlp:  relu(W1 flat(x_a) + c V) -> relu(W2 .)  -> W3 . (zero-initialised), reshaped to [B,h,w,2 cb]
 */
export class CouplingNet {
  private readonly w: tf.Variable[] = [];
  private readonly b: tf.Variable[] = [];
  private readonly condW: tf.Variable | null;

  constructor(
    ps: ParamStore,
    name: string,
    readonly shape: [number, number, number],
    readonly cin: number,
    readonly cout: number,
    readonly o: Pick<CouplingOptions, 'arch' | 'hidden' | 'condDim'>,
  ) {
    const [h, w] = shape;
    const p = o.hidden;
    const layer = (n: string, wShape: number[], fanIn: number, zero = false) => {
      const bound = 1 / Math.sqrt(fanIn);
      this.w.push(ps.param(`${name}.${n}.weight`, wShape, zero ? 'zeros' : { uniform: bound }));
      this.b.push(ps.param(`${name}.${n}.bias`, [wShape[wShape.length - 1]], zero ? 'zeros' : { uniform: bound }));
    };
    if (o.arch === 'conv') {
      layer('conv1', [3, 3, cin, p], 9 * cin);
      layer('conv2', [1, 1, p, p], p);
      layer('conv3', [3, 3, p, cout], 9 * p, true);
    } else {
      layer('fc1', [h * w * cin, p], h * w * cin);
      layer('fc2', [p, p], p);
      layer('fc3', [p, h * w * cout], p, true);
    }
    this.condW =
      o.condDim > 0 ? ps.param(`${name}.cond.weight`, [o.condDim, p], { uniform: 1 / Math.sqrt(o.condDim) }) : null;
  }

  apply(x: tf.Tensor4D, cond: tf.Tensor2D | null): tf.Tensor4D {
    return tf.tidy(() => {
      const [B, h, w] = x.shape;
      if (this.condW && !cond) throw new Error('conditional flow called without a condition embedding');
      const cb = this.condW && cond ? (tf.matMul(cond, this.condW) as tf.Tensor2D) : null; // c V [B, hidden]
      const [w1, w2, w3] = this.w,
        [b1, b2, b3] = this.b;
      if (this.o.arch === 'conv') {
        let a = conv(x, w1 as tf.Tensor4D, b1 as tf.Tensor1D);
        if (cb) a = tf.add(a, tf.reshape(cb, [B, 1, 1, -1]));
        const a2 = tf.relu(conv(tf.relu(a), w2 as tf.Tensor4D, b2 as tf.Tensor1D));
        return conv(a2, w3 as tf.Tensor4D, b3 as tf.Tensor1D);
      }
      let a = tf.add(tf.matMul(tf.reshape(x, [B, -1]), w1), b1);
      if (cb) a = tf.add(a, cb);
      const a2 = tf.relu(tf.add(tf.matMul(tf.relu(a), w2), b2));
      return tf.reshape(tf.add(tf.matMul(a2, w3), b3), [B, h, w, this.cout]) as tf.Tensor4D;
    });
  }
}

/** Checkerboard mask [1,h,w,1]: 1 at the positions that condition (kept), 0 at those transformed. */
export function checkerboard(h: number, w: number, parity: 0 | 1): tf.Tensor4D {
  const m = new Float32Array(h * w);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) m[i * w + j] = (i + j + parity) % 2 === 0 ? 1 : 0;
  return tf.tensor4d(m, [1, h, w, 1]);
}

/**
 * Affine coupling: x_b' = x_b * s + t with (log s, t) = NN(x_a, c), x_a unchanged, log|det| = sum log s.
 *   channel mask:      x_a, x_b = the two halves of the channels (the transformed one alternates with `parity`)
 *   checkerboard mask: x_a = x * m (m = 1 on kept positions), and s, t act only where m = 0
 *   log s = a tanh(h) (a learned per channel, 'tanh') or log sigmoid(h + 2) = -softplus(-(h + 2)) ('sigmoid',
 *   Glow; not tf.logSigmoid: its gradient reads its input after a tf.tidy inside the tape has disposed it)
 * Inverse: x_b = (x_b' - t) / s, with NN(x_a, c) computed from the unchanged x_a.
 */
export class AffineCoupling implements Bijector {
  readonly net: CouplingNet;
  /** Transformed channels. */
  readonly cb: number;
  private readonly split0: number;
  private readonly scale: tf.Variable | null;

  constructor(
    ps: ParamStore,
    name: string,
    readonly shape: [number, number, number],
    readonly o: CouplingOptions,
  ) {
    const [h, w, c] = shape;
    if (o.mask === 'channel' && c < 2)
      throw new UserError(`a channel-mask coupling needs at least 2 channels, got ${c}`, {
        kind: 'setting',
        key: 'model.mask',
        value: 'checkerboard',
      });
    this.split0 = Math.floor(c / 2);
    const ca = o.mask === 'checkerboard' ? c : o.parity === 0 ? this.split0 : c - this.split0;
    this.cb = o.mask === 'checkerboard' ? c : c - ca;
    this.net = new CouplingNet(ps, `${name}.net`, [h, w, c], ca + o.contextChannels, 2 * this.cb, o);
    this.scale = o.scaleFn === 'tanh' ? ps.param(`${name}.scale`, [this.cb], 'ones') : null;
  }

  /** (x_a, x_b): the conditioning part and the part to transform. */
  private split(x: tf.Tensor4D, m: tf.Tensor4D | null): [tf.Tensor4D, tf.Tensor4D] {
    if (m) return [tf.mul(x, m) as tf.Tensor4D, x];
    const c = x.shape[3],
      k = this.split0;
    const first = tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, k]) as tf.Tensor4D;
    const second = tf.slice(x, [0, 0, 0, k], [-1, -1, -1, c - k]) as tf.Tensor4D;
    return this.o.parity === 0 ? [first, second] : [second, first];
  }

  private merge(xa: tf.Tensor4D, xb: tf.Tensor4D, m: tf.Tensor4D | null): tf.Tensor4D {
    if (m) return xb; // s = 1, t = 0 on the kept positions: x_b' already holds x_a there
    return tf.concat(this.o.parity === 0 ? [xa, xb] : [xb, xa], 3) as tf.Tensor4D;
  }

  /** log s and t [B,h,w,cb] from the conditioning part (zero on kept checkerboard positions). */
  private logScaleShift(xa: tf.Tensor4D, m: tf.Tensor4D | null, ctx: FlowCtx): { logs: tf.Tensor4D; t: tf.Tensor4D } {
    const input = ctx.context && this.o.contextChannels > 0 ? (tf.concat([xa, ctx.context], 3) as tf.Tensor4D) : xa;
    const out = this.net.apply(input, ctx.cond);
    const cb = this.cb;
    const h = tf.slice(out, [0, 0, 0, 0], [-1, -1, -1, cb]);
    let t = tf.slice(out, [0, 0, 0, cb], [-1, -1, -1, cb]);
    let logs = this.scale ? tf.mul(this.scale, tf.tanh(h)) : tf.neg(tf.softplus(tf.neg(tf.add(h, 2))));
    if (m) {
      const free = tf.sub(1, m);
      logs = tf.mul(logs, free);
      t = tf.mul(t, free);
    }
    return { logs: logs as tf.Tensor4D, t: t as tf.Tensor4D };
  }

  private mask(): tf.Tensor4D | null {
    return this.o.mask === 'checkerboard' ? checkerboard(this.shape[0], this.shape[1], this.o.parity) : null;
  }

  forward(x: tf.Tensor4D, ctx: FlowCtx): { y: tf.Tensor4D; logdet: tf.Tensor1D } {
    return tf.tidy(() => {
      const m = this.mask();
      const [xa, xb] = this.split(x, m);
      const { logs, t } = this.logScaleShift(xa, m, ctx);
      const yb = tf.add(tf.mul(xb, tf.exp(logs)), t) as tf.Tensor4D;
      const B = x.shape[0];
      return { y: this.merge(xa, yb, m), logdet: tf.sum(tf.reshape(logs, [B, -1]), 1) as tf.Tensor1D };
    });
  }

  inverse(y: tf.Tensor4D, ctx: FlowCtx): tf.Tensor4D {
    return tf.tidy(() => {
      const m = this.mask();
      const [ya, yb] = this.split(y, m);
      const { logs, t } = this.logScaleShift(ya, m, ctx);
      const xb = tf.mul(tf.sub(yb, t), tf.exp(tf.neg(logs))) as tf.Tensor4D;
      return this.merge(ya, xb, m);
    });
  }
}
