// The multi-scale flow f (Dinh et al. 2017; Kingma & Dhariwal 2018): per scale a squeeze, K steps of
// actnorm -> permutation -> affine coupling, and (but at the last scale) a split that factors out half of the channels
// as a latent z_i. v [B,H,W,C] -> z_0 .. z_{L-1} and log|det df/dv| [B]; the inverse maps the z_i back to v.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from '../../nn/params.ts';
import type { Rng } from '../../tensor/rng.ts';
import type { FlowModelConfig } from './config.ts';
import { AffineCoupling } from './coupling.ts';
import {
  ActNorm,
  InvConv1x1,
  InvConv1x1Lu,
  reverseLayer,
  squeeze,
  unsqueeze,
  type Bijector,
  type FlowCtx,
} from './layers.ts';

/** The bijectors of one flow step (actnorm, permutation, coupling), as present in the config. */
export function flowStep(
  ps: ParamStore,
  name: string,
  shape: [number, number, number],
  k: number,
  cfg: FlowModelConfig,
  condDim: number,
  rng: Rng,
): Bijector[] {
  const c = shape[2];
  const layers: Bijector[] = [];
  if (cfg.actnorm) layers.push(new ActNorm(ps, `${name}.actnorm`, c));
  if (cfg.permutation === 'conv1x1') layers.push(new InvConv1x1(ps, `${name}.conv1x1`, c, rng.split()));
  else if (cfg.permutation === 'conv1x1-lu') layers.push(new InvConv1x1Lu(ps, `${name}.conv1x1`, c, rng.split()));
  else if (cfg.permutation === 'reverse') layers.push(reverseLayer);
  const parity = (k % 2) as 0 | 1;
  layers.push(
    new AffineCoupling(ps, `${name}.coupling`, shape, {
      mask: cfg.mask,
      parity,
      arch: cfg.arch,
      hidden: cfg.hidden,
      scaleFn: cfg.scaleFn,
      condDim,
      contextChannels: 0,
    }),
  );
  return layers;
}

export interface Scale {
  /** [h, w, c] inside the scale (after its squeeze). */
  shape: [number, number, number];
  layers: Bijector[];
}

export class MultiScaleFlow {
  readonly scales: Scale[] = [];
  /** Shapes [h, w, c] of z_0 .. z_{L-1}; their sizes add up to H W C. */
  readonly latentShapes: [number, number, number][] = [];

  constructor(cfg: FlowModelConfig, H: number, W: number, C: number, ps: ParamStore, condDim: number, rng: Rng) {
    let [h, w, c] = [H, W, C];
    for (let s = 0; s < cfg.scales; s++) {
      [h, w, c] = [h / 2, w / 2, 4 * c]; // squeeze
      const shape: [number, number, number] = [h, w, c];
      const layers: Bijector[] = [];
      for (let k = 0; k < cfg.steps; k++)
        layers.push(...flowStep(ps, `scale${s}.step${k}`, shape, k, cfg, condDim, rng));
      if (s < cfg.scales - 1 && cfg.splitPrior === 'learned') {
        // p(z_s | h_s) = N(mu(h_s), sigma(h_s)^2): a channel-mask coupling (parity 0: the second half, the one that
        // leaves, is transformed given the first) maps z_s to eps_s = (z_s - mu) / sigma with log-det -sum log sigma
        layers.push(
          new AffineCoupling(ps, `scale${s}.prior`, shape, {
            mask: 'channel',
            parity: 0,
            arch: cfg.arch,
            hidden: cfg.hidden,
            scaleFn: cfg.scaleFn,
            condDim,
            contextChannels: 0,
          }),
        );
      }
      this.scales.push({ shape, layers });
      if (s < cfg.scales - 1) {
        const out = c - Math.floor(c / 2); // split: the second half leaves as z_s
        this.latentShapes.push([h, w, out]);
        c -= out;
      }
    }
    this.latentShapes.push([h, w, c]);
  }

  /** Every actnorm layer, in forward order. */
  actnorms(): ActNorm[] {
    return this.scales.flatMap((s) => s.layers.filter((l): l is ActNorm => l instanceof ActNorm));
  }

  /**
   * z = f(v): per scale, h <- squeeze(h), h <- step_K(...step_1(h)), then (but at the last scale) [h, z_s] <- split(h).
   * Returns the latents [B, h_s, w_s, c_s] and log|det df/dv| = sum of every layer's log-det, [B].
   */
  forward(v: tf.Tensor4D, ctx: FlowCtx): { zs: tf.Tensor4D[]; logdet: tf.Tensor1D } {
    const zs: tf.Tensor4D[] = [];
    let h = v;
    let logdet = tf.zeros([v.shape[0]]) as tf.Tensor1D;
    this.scales.forEach((scale, s) => {
      h = squeeze(h);
      for (const layer of scale.layers) {
        const o = layer.forward(h, ctx);
        h = o.y;
        logdet = tf.add(logdet, o.logdet) as tf.Tensor1D;
      }
      if (s < this.scales.length - 1) {
        const c = h.shape[3],
          keep = Math.floor(c / 2);
        zs.push(tf.slice(h, [0, 0, 0, keep], [-1, -1, -1, c - keep]) as tf.Tensor4D);
        h = tf.slice(h, [0, 0, 0, 0], [-1, -1, -1, keep]) as tf.Tensor4D;
      }
    });
    zs.push(h);
    return { zs, logdet };
  }

  /** v = f^-1(z_0 .. z_{L-1}): the scales in reverse, each joining its z_s back, undoing its steps, unsqueezing. */
  inverse(zs: tf.Tensor4D[], ctx: FlowCtx): tf.Tensor4D {
    const L = this.scales.length;
    let h = zs[L - 1];
    for (let s = L - 1; s >= 0; s--) {
      if (s < L - 1) h = tf.concat([h, zs[s]], 3) as tf.Tensor4D;
      const layers = this.scales[s].layers;
      for (let i = layers.length - 1; i >= 0; i--) h = layers[i].inverse(h, ctx);
      h = unsqueeze(h);
    }
    return h;
  }

  /** The latents as one row per image, [B, H W C] (scale 0 first). */
  static flatten(zs: tf.Tensor4D[]): tf.Tensor2D {
    return tf.tidy(
      () =>
        tf.concat(
          zs.map((z) => tf.reshape(z, [z.shape[0], -1])),
          1,
        ) as tf.Tensor2D,
    );
  }

  /** The inverse of flatten: [B, H W C] -> the latents of each scale. */
  unflatten(z: tf.Tensor2D): tf.Tensor4D[] {
    const B = z.shape[0];
    let at = 0;
    return this.latentShapes.map(([h, w, c]) => {
      const t = tf.reshape(tf.slice(z, [0, at], [B, h * w * c]), [B, h, w, c]) as tf.Tensor4D;
      at += h * w * c;
      return t;
    });
  }
}
