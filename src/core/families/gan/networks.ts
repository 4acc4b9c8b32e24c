// The generator G(z, c) -> x in [-1, 1] and the discriminator D(x, c) -> a real number per image (a logit or a critic
// value), as DCGAN conv nets (Radford et al. 2016) or MLPs. G's variables are named G.*, D's D.*; shapes in comments.
import * as tf from '@tensorflow/tfjs-core';
import type { DataInfo } from '../../family.ts';
import type { ParamStore } from '../../nn/params.ts';
import type { GanModelConfig } from './config.ts';

/** How a network reads its weights: as they are, or through stopGradient (D seen by G's loss in GanModel.loss). */
export type Read = (w: tf.Variable) => tf.Tensor;
const asIs: Read = (w) => w;

/** Identity whose gradient is zero: the value flows forward, nothing flows back. */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as <T extends tf.Tensor>(x: T) => T;

/** DCGAN's init: weights ~ N(0, 0.02^2), biases 0. */
const W_INIT = { normal: 0.02 };

/**
 * Batch norm over every axis but the channels: y = gamma (h - mu) / sqrt(sigma^2 + 1e-5) + beta, with mu, sigma^2 the
 * (biased) statistics of the first `statsRows` rows of h (all rows when null): training uses the batch itself, sampling
 * a fixed reference batch put in front of the samples.
 */
export function batchNorm(h: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, statsRows: number | null): tf.Tensor {
  if (statsRows === null) return batchNormTrain(h, gamma, beta);
  return tf.tidy(() => {
    const axes = h.shape.slice(0, -1).map((_, i) => i);
    const ref = statsRows === null ? h : tf.slice(h, 0, statsRows);
    const n = ref.size / ref.shape[ref.rank - 1];
    // sums over leading axes (fast on the native backend), not tf.moments
    const mu = tf.mul(tf.sum(ref, axes), 1 / n);
    const sigma2 = tf.mul(tf.sum(tf.square(tf.sub(ref, mu)), axes), 1 / n);
    return tf.add(tf.mul(tf.mul(tf.sub(h, mu), tf.rsqrt(tf.add(sigma2, 1e-5))), gamma), beta);
  });
}

/**
 * Batch norm with the batch's own statistics and its analytic gradient (a handful of per-channel broadcasts and
 * leading-axis sums instead of the composed ops' slow Tile and broadcasts on wasm):
 *   x^ = (h - mu) / sigma,  y = gamma x^ + beta,  dh = gamma / sigma (dy - mean(dy) - x^ mean(dy x^))
 */
const batchNormTrain = tf.customGrad(((h: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
  const axes = h.shape.slice(0, -1).map((_, i) => i);
  const n = h.size / h.shape[h.rank - 1];
  const hc = tf.sub(h, tf.mul(tf.sum(h, axes), 1 / n));
  const inv = tf.rsqrt(tf.add(tf.mul(tf.sum(tf.square(hc), axes), 1 / n), 1e-5));
  const xHat = tf.mul(hc, inv);
  save([xHat, inv, gamma]);
  return {
    value: tf.add(tf.mul(xHat, gamma), beta),
    gradFunc: (dy: tf.Tensor, [xh, iv, g]: tf.Tensor[]) => {
      const dBeta = tf.sum(dy, axes);
      const dGamma = tf.sum(tf.mul(dy, xh), axes);
      const dh = tf.mul(tf.sub(tf.sub(dy, tf.mul(dBeta, 1 / n)), tf.mul(xh, tf.mul(dGamma, 1 / n))), tf.mul(iv, g));
      return [dh, dGamma, dBeta];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (
  h: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
) => tf.Tensor;

/**
 * Leaky ReLU as x * slope, slope = 1 where x > 0 else alpha, with dx = dy * slope: a few fast kernels (wasm's LeakyRelu
 * and its gradient are slow scalar loops). The gradient is itself differentiable in dy, as WGAN-GP's penalty needs.
 */
function leakyRelu(x: tf.Tensor, alpha: number): tf.Tensor {
  const f = tf.customGrad(((xi: tf.Tensor, save: tf.GradSaveFunc) => {
    const slope = tf.step(xi, alpha);
    save([slope]);
    return { value: tf.mul(xi, slope), gradFunc: (dy: tf.Tensor, [s]: tf.Tensor[]) => [tf.mul(dy, s)] };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
  return f(x);
}

export class Generator {
  private readonly H: number;
  private readonly W: number;
  private readonly C: number;
  /** conv: channels per stage, lowest resolution first, e.g. [128, 64]. */
  private readonly ch: number[];
  private readonly h0: number;
  private readonly w0: number;
  private readonly v: Record<string, tf.Variable> = {};
  private readonly bnParams: (i: number, ch: number) => void;

  constructor(
    readonly cfg: GanModelConfig,
    info: DataInfo,
    ps: ParamStore,
    readonly condDim: number,
  ) {
    this.H = info.height;
    this.W = info.width;
    this.C = info.channels;
    const inDim = cfg.latent + condDim;
    const bn = cfg.gNorm === 'batch';
    const p = (name: string, shape: number[], init: Parameters<ParamStore['param']>[2]) =>
      (this.v[name] = ps.param(`G.${name}`, shape, init));
    // batch norm i's gamma and beta [ch]; with gCond=cbn also W_gamma, W_beta [condDim, ch], zero: G starts as 'input'
    this.bnParams = (i, ch) => {
      p(`bn${i}.gamma`, [ch], 'ones');
      p(`bn${i}.beta`, [ch], 'zeros');
      if (cfg.gCond === 'cbn' && condDim > 0) {
        p(`bn${i}.cond.gamma`, [condDim, ch], 'zeros');
        p(`bn${i}.cond.beta`, [condDim, ch], 'zeros');
      }
    };
    const s = cfg.stages;
    this.ch = Array.from({ length: s }, (_, i) => cfg.channels * 2 ** (s - 1 - i));
    this.h0 = this.H / 2 ** s;
    this.w0 = this.W / 2 ** s;
    if (cfg.arch === 'conv') {
      // no bias before a batch norm: its beta is the bias
      p('fc.weight', [inDim, this.h0 * this.w0 * this.ch[0]], W_INIT);
      if (!bn) p('fc.bias', [this.h0 * this.w0 * this.ch[0]], 'zeros');
      for (let i = 0; i < s; i++) {
        if (bn) this.bnParams(i, this.ch[i]);
        const out = i < s - 1 ? this.ch[i + 1] : this.C;
        p(`up${i}.weight`, [4, 4, out, this.ch[i]], W_INIT); // transposed conv filter [k, k, out, in]
        if (!bn || i === s - 1) p(`up${i}.bias`, [out], 'zeros');
      }
    } else {
      const dims = [inDim, cfg.hidden, cfg.hidden];
      for (let i = 0; i < 2; i++) {
        p(`fc${i}.weight`, [dims[i], dims[i + 1]], W_INIT);
        if (bn) this.bnParams(i, dims[i + 1]);
        else p(`fc${i}.bias`, [dims[i + 1]], 'zeros');
      }
      p('out.weight', [cfg.hidden, this.H * this.W * this.C], W_INIT);
      p('out.bias', [this.H * this.W * this.C], 'zeros');
    }
  }

  /**
   * x = G(z, c) in [-1, 1], [B, H, W, C], from z [B, latent] and c [B, condDim] (or null). Batch norm uses the
   * statistics of the first statsRows rows (null: all rows).
   */
  forward(z: tf.Tensor2D, c: tf.Tensor2D | null, statsRows: number | null = null): tf.Tensor4D {
    return tf.tidy(() => {
      const v = this.v;
      const B = z.shape[0];
      const bn = this.cfg.gNorm === 'batch';
      // c / sqrt(dim): the embedding (N(0, 1) per dim, norm ~sqrt(dim)) would otherwise outweigh z (norm ~sqrt(latent))
      // from the first step, and G learned to ignore z: one image per class (measured: 1 mode per class at dim 128)
      const cUnit = c ? (tf.mul(c, 1 / Math.sqrt(this.condDim)) as tf.Tensor2D) : null;
      const norm = (h: tf.Tensor, i: number) => {
        if (!bn) return h;
        const y = batchNorm(h, v[`bn${i}.gamma`], v[`bn${i}.beta`], statsRows);
        if (!cUnit || !v[`bn${i}.cond.gamma`]) return y;
        // conditional batch norm: y (1 + c' W_gamma) + c' W_beta, one scale and shift per image and channel
        const perImage = [B, ...h.shape.slice(1, -1).map(() => 1), h.shape[h.rank - 1]];
        const g = tf.reshape(tf.matMul(cUnit, v[`bn${i}.cond.gamma`]), perImage);
        const b = tf.reshape(tf.matMul(cUnit, v[`bn${i}.cond.beta`]), perImage);
        return tf.add(tf.mul(y, tf.add(g, 1)), b);
      };
      const input = cUnit ? (tf.concat([z, cUnit], 1) as tf.Tensor2D) : z; // [B, latent + condDim]
      if (this.cfg.arch === 'mlp') {
        let h: tf.Tensor2D = input;
        for (let i = 0; i < 2; i++) {
          h = tf.matMul(h, v[`fc${i}.weight`]);
          if (!bn) h = tf.add(h, v[`fc${i}.bias`]);
          h = tf.relu(norm(h, i)) as tf.Tensor2D;
        }
        const x = tf.tanh(tf.add(tf.matMul(h, v['out.weight']), v['out.bias']));
        return tf.reshape(x, [B, this.H, this.W, this.C]);
      }
      let h = tf.matMul(input, v['fc.weight']) as tf.Tensor;
      if (v['fc.bias']) h = tf.add(h, v['fc.bias']);
      let x = tf.reshape(h, [B, this.h0, this.w0, this.ch[0]]) as tf.Tensor4D; // [B, H/2^s, W/2^s, ch0]
      const s = this.cfg.stages;
      for (let i = 0; i < s; i++) {
        x = tf.relu(norm(x, i)) as tf.Tensor4D;
        const out = i < s - 1 ? this.ch[i + 1] : this.C;
        const [, hh, ww] = x.shape;
        x = tf.conv2dTranspose(x, v[`up${i}.weight`] as tf.Tensor4D, [B, hh * 2, ww * 2, out], 2, 'same'); // [B, 2h, 2w, out]
        if (v[`up${i}.bias`]) x = tf.add(x, v[`up${i}.bias`]);
      }
      return tf.tanh(x);
    }) as tf.Tensor4D;
  }
}

/**
 * The minibatch standard deviation channel of ProGAN (Karras et al. 2018) for h [B, h, w, C]: consecutive groups of g
 * images (g = the largest divisor of B up to `group`, so a [real; fake] batch never mixes the two halves when each
 * half divides by g), s = mean over (h, w, C) of sqrt(Var_group(h) + 1e-8), one number per group, as a constant
 * channel [B, h, w, 1] of each image in the group.
 */
export function minibatchStd(h: tf.Tensor4D, group: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, hh, ww, C] = h.shape;
    let g = Math.min(group, B);
    while (B % g !== 0) g--;
    const y = tf.reshape(h, [B / g, g, hh, ww, C]);
    const centred = tf.sub(y, tf.mean(y, 1, true));
    const sd = tf.sqrt(tf.add(tf.mean(tf.square(centred), 1), 1e-8)); // [B/g, hh, ww, C]
    const s = tf.mean(sd, [1, 2, 3]); // [B/g]
    const perImage = tf.reshape(tf.tile(tf.reshape(s, [B / g, 1]), [1, g]), [B, 1, 1, 1]);
    return tf.tile(perImage, [1, hh, ww, 1]) as tf.Tensor4D;
  });
}

/**
 * W / sigma(W) (spectral normalisation, Miyato et al. 2018): W as a matrix [fan-in, out] (a conv filter [k, k, in,
 * out] as [k k in, out]), sigma(W) = v^T W u from `iters` power iterations v = W u / |W u|, u = W^T v / |W^T v| started
 * at the fixed u = 1 / sqrt(out); u and v are constants to the gradient, which flows through W in both W and sigma.
 */
export function spectralNorm(w: tf.Tensor, iters: number): tf.Tensor {
  return tf.tidy(() => {
    const out = w.shape[w.rank - 1];
    const m = tf.reshape(w, [-1, out]) as tf.Tensor2D; // [fan-in, out]
    const { u, v } = tf.tidy(() => {
      const W = stopGradient(m);
      let u = tf.fill([out, 1], 1 / Math.sqrt(out)) as tf.Tensor2D;
      let v = u;
      for (let i = 0; i < iters; i++) {
        const wu = tf.matMul(W, u);
        v = tf.div(wu, tf.add(tf.norm(wu), 1e-12));
        const wv = tf.matMul(W, v, true);
        u = tf.div(wv, tf.add(tf.norm(wv), 1e-12));
      }
      return { u, v };
    });
    const sigma = tf.sum(tf.mul(tf.matMul(m, stopGradient(u)), stopGradient(v))); // v^T W u
    return tf.div(w, sigma);
  });
}

export class Discriminator {
  private readonly v: Record<string, tf.Variable> = {};
  /** conv: channels per stage, full resolution first, e.g. [64, 128]. */
  private readonly ch: number[];
  private readonly H: number;
  private readonly W: number;

  constructor(
    readonly cfg: GanModelConfig,
    info: DataInfo,
    ps: ParamStore,
    readonly condDim: number,
  ) {
    const p = (name: string, shape: number[], init: Parameters<ParamStore['param']>[2]) =>
      (this.v[name] = ps.param(`D.${name}`, shape, init));
    const s = cfg.stages;
    this.H = info.height;
    this.W = info.width;
    const concat = condDim > 0 && cfg.dCond !== 'projection';
    this.ch = Array.from({ length: s }, (_, i) => cfg.channels * 2 ** i);
    let feat: number; // width of the pooled features phi the projection reads
    if (cfg.arch === 'conv') {
      let inC = info.channels + (concat ? 1 : 0);
      for (let i = 0; i < s; i++) {
        p(`conv${i}.weight`, [4, 4, inC, this.ch[i]], W_INIT);
        p(`conv${i}.bias`, [this.ch[i]], 'zeros');
        inC = this.ch[i];
      }
      const flat = (this.H / 2 ** s) * (this.W / 2 ** s) * (this.ch[s - 1] + (cfg.mbstd > 0 ? 1 : 0));
      p('out.weight', [flat, 1], W_INIT);
      feat = this.ch[s - 1];
      if (concat) p('cond.map.weight', [condDim, this.H * this.W], W_INIT);
    } else {
      const dims = [this.H * this.W * info.channels + (concat ? condDim : 0), cfg.hidden, cfg.hidden];
      for (let i = 0; i < 2; i++) {
        p(`fc${i}.weight`, [dims[i], dims[i + 1]], W_INIT);
        p(`fc${i}.bias`, [dims[i + 1]], 'zeros');
      }
      p('out.weight', [cfg.hidden, 1], W_INIT);
      feat = cfg.hidden;
    }
    p('out.bias', [1], 'zeros');
    if (condDim > 0 && cfg.dCond !== 'concat') p('proj.weight', [condDim, feat], W_INIT);
    if (cfg.acWeight > 0) {
      p('aux.weight', [feat, info.numClasses], W_INIT);
      p('aux.bias', [info.numClasses], 'zeros');
    }
  }

  /** D(x, c) [B]: a logit (ns), a hinge score or a critic value (wgan-gp), for x [B, H, W, C] and c [B, condDim] or null. */
  forward(x: tf.Tensor4D, c: tf.Tensor2D | null, read: Read = asIs): tf.Tensor1D {
    return this.forwardWithClass(x, c, read).out;
  }

  /** D(x, c) [B] and, with model.acWeight > 0, the auxiliary head's class logits q(y | x) [B, numClasses] (else null). */
  forwardWithClass(
    x: tf.Tensor4D,
    c: tf.Tensor2D | null,
    read: Read = asIs,
  ): { out: tf.Tensor1D; classLogits: tf.Tensor2D | null } {
    return tf.tidy(() => {
      const sn = this.cfg.dNorm === 'spectral';
      // spectral norm on every weight matrix (conv, dense, the condition's map and projection, the class head)
      const w = (k: string) =>
        sn && k.endsWith('.weight') ? spectralNorm(read(this.v[k]), this.cfg.snIters) : read(this.v[k]);
      const B = x.shape[0];
      const concat = c !== null && this.cfg.dCond !== 'projection';
      // unit-norm scale, as in G; 'both' scales only the projection's c, its concat channel reads c as given
      const cProj = c && this.cfg.dCondScale === 'unit' ? (tf.mul(c, 1 / Math.sqrt(this.condDim)) as tf.Tensor2D) : c;
      const cMap = this.cfg.dCond === 'both' ? c : cProj;
      const act = (h: tf.Tensor) => leakyRelu(h, this.cfg.leak);
      let phi: () => tf.Tensor2D; // pooled features [B, feat] for the projection
      let flat: tf.Tensor2D; // what psi reads
      if (this.cfg.arch === 'conv') {
        let h = x as tf.Tensor4D;
        // concat: c -> one extra input channel, [B, H, W, 1]
        if (concat)
          h = tf.concat(
            [h, tf.reshape(tf.matMul(cMap!, w('cond.map.weight')), [B, this.H, this.W, 1])],
            3,
          ) as tf.Tensor4D;
        for (let i = 0; i < this.cfg.stages; i++)
          h = act(
            tf.fused.conv2d({
              x: h,
              filter: w(`conv${i}.weight`) as tf.Tensor4D,
              strides: 2,
              pad: 'same',
              bias: w(`conv${i}.bias`),
            }),
          ) as tf.Tensor4D; // [B, h/2, w/2, ch_i]
        const last = h;
        if (this.cfg.mbstd > 0) h = tf.concat([h, minibatchStd(h, this.cfg.mbstd)], 3) as tf.Tensor4D;
        flat = tf.reshape(h, [B, -1]) as tf.Tensor2D;
        phi = () => tf.mean(last, [1, 2]) as tf.Tensor2D;
      } else {
        let h = tf.reshape(x, [B, -1]) as tf.Tensor2D;
        if (concat) h = tf.concat([h, cMap!], 1) as tf.Tensor2D;
        for (let i = 0; i < 2; i++) h = act(tf.add(tf.matMul(h, w(`fc${i}.weight`)), w(`fc${i}.bias`))) as tf.Tensor2D;
        flat = h;
        phi = () => flat;
      }
      // psi(phi(x)) = flat W_out + b
      let out = tf.add(tf.matMul(flat, w('out.weight')), w('out.bias'));
      // projection: + <V c, phi(x)>
      if (cProj && this.cfg.dCond !== 'concat')
        out = tf.add(out, tf.sum(tf.mul(tf.matMul(cProj, w('proj.weight')), phi()), 1, true));
      const classLogits = this.v['aux.weight']
        ? (tf.add(tf.matMul(phi(), w('aux.weight')), w('aux.bias')) as tf.Tensor2D)
        : null;
      return { out: tf.reshape(out, [B]), classLogits } as unknown as tf.TensorContainer;
    }) as unknown as { out: tf.Tensor1D; classLogits: tf.Tensor2D | null };
  }
}
