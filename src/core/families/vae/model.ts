// Encoder q(z|x, c) and decoder p(x|z, c) networks of the AE and VAE (MLP or conv); c = embed(y) [B, dim] is an optional
// label or text embedding from the shared Conditioner, concatenated to the encoder features and to z.
// Shapes: x [B,H,W,C] in [0,1]; z, mu, logVar [B,L]; decoder output [B,H,W,C] (logits or means).
import * as tf from '@tensorflow/tfjs-core';
import type { DataInfo } from '../../family.ts';
import { conv2d, conv2dTranspose, dense, type Layer } from '../../nn/layers.ts';
import { ParamStore } from '../../nn/params.ts';
import { UserError } from '../../errors.ts';
import { Conditioner } from '../../conditioning/conditioner.ts';
import type { VaeModelConfig } from './config.ts';

export class VaeNetworks {
  readonly params: ParamStore;
  readonly latent: number;
  readonly D: number;
  /** Decoder outputs per pixel channel: 2 for the logistic likelihood (mu, log s), else 1. */
  readonly outPerChannel: number;
  private readonly enc: Layer<tf.Tensor2D, tf.Tensor2D>[] = [];
  private readonly dec: Layer<tf.Tensor2D, tf.Tensor2D>[] = [];
  private encHead!: Layer<tf.Tensor2D, tf.Tensor2D>;
  private decHead!: Layer<tf.Tensor2D, tf.Tensor2D>;
  private convEnc: Layer<tf.Tensor4D, tf.Tensor4D>[] = [];
  private convDec: Layer<tf.Tensor4D, tf.Tensor4D>[] = [];
  /** Learned decoder log-variance (gaussian likelihood with learnSigma). */
  readonly decoderLogVar: tf.Variable | null = null;
  /** Embeds labels or prompts; null when cond.kind = none. */
  readonly cond: Conditioner | null;

  constructor(
    readonly cfg: VaeModelConfig,
    readonly info: DataInfo,
    /** true: encoder outputs (mu, logVar); false (AE): a deterministic code. */
    readonly variational: boolean,
    seed: number,
  ) {
    this.params = new ParamStore(seed);
    this.latent = cfg.latent;
    const { height: H, width: W, channels: C } = info;
    this.D = H * W * C;
    this.outPerChannel = cfg.likelihood === 'logistic' ? 2 : 1;
    const ps = this.params;
    this.cond = cfg.cond.kind === 'none' ? null : new Conditioner(cfg.cond, info, ps, 'cond');
    const Y = this.cond ? this.cond.dim : 0;
    const encOut = variational ? 2 * cfg.latent : cfg.latent;
    if (cfg.arch === 'mlp') {
      let d = this.D + Y;
      cfg.hidden.forEach((h, i) => {
        this.enc.push(dense(ps, `encoder.fc${i + 1}`, d, h));
        d = h;
      });
      this.encHead = dense(ps, 'encoder.out', d, encOut);
      d = cfg.latent + Y;
      [...cfg.hidden].reverse().forEach((h, i) => {
        this.dec.push(dense(ps, `decoder.fc${i + 1}`, d, h));
        d = h;
      });
      this.decHead = dense(ps, 'decoder.out', d, this.D * this.outPerChannel);
    } else {
      if (H % 4 !== 0 || W % 4 !== 0)
        throw new UserError(
          `model.arch=conv needs image height and width divisible by 4, got ${H}x${W}; use arch=mlp or data.size=${Math.ceil(H / 4) * 4}`,
        );
      const [c1, c2] = cfg.convChannels;
      this.convEnc = [conv2d(ps, 'encoder.conv1', C, c1, 4, 2), conv2d(ps, 'encoder.conv2', c1, c2, 4, 2)];
      const flat = c2 * (H / 4) * (W / 4);
      this.enc.push(dense(ps, 'encoder.fc1', flat + Y, cfg.convHidden));
      this.encHead = dense(ps, 'encoder.out', cfg.convHidden, encOut);
      this.dec.push(dense(ps, 'decoder.fc1', cfg.latent + Y, cfg.convHidden));
      this.dec.push(dense(ps, 'decoder.fc2', cfg.convHidden, flat));
      this.convDec = [conv2dTranspose(ps, 'decoder.deconv1', c2, c1, 4, 2)];
      this.decHead = { apply: (x) => x }; // unused for conv
      this.convDec.push(conv2dTranspose(ps, 'decoder.deconv2', c1, C * this.outPerChannel, 4, 2));
    }
    if (cfg.likelihood === 'gaussian' && cfg.learnSigma) {
      (this as { decoderLogVar: tf.Variable | null }).decoderLogVar = ps.param('decoder.logVar', [1], { uniform: 0 });
      this.decoderLogVar!.assign(tf.fill([1], 2 * Math.log(cfg.sigma)));
    }
  }

  private checkCond(c: tf.Tensor2D | null, B: number): tf.Tensor2D | null {
    if (!this.cond) return null;
    if (!c) throw new Error('conditional VAE network called without a condition embedding');
    if (c.shape[0] !== B) throw new Error(`condition batch ${c.shape[0]} != batch ${B}`);
    return c;
  }

  /** Encoder: x [B,H,W,C], c [B,dim] -> [B, 2L] (VAE) or [B, L] (AE). */
  encodeRaw(x: tf.Tensor4D, c: tf.Tensor2D | null): tf.Tensor2D {
    const B = x.shape[0];
    const yh = this.checkCond(c, B);
    let h: tf.Tensor2D;
    if (this.cfg.arch === 'mlp') {
      h = tf.reshape(x, [B, this.D]) as tf.Tensor2D;
      if (yh) h = tf.concat([h, yh], 1) as tf.Tensor2D;
      for (const l of this.enc) h = tf.relu(l.apply(h)) as tf.Tensor2D;
    } else {
      let img: tf.Tensor4D = x;
      for (const l of this.convEnc) img = tf.relu(l.apply(img));
      h = tf.reshape(img, [B, -1]) as tf.Tensor2D;
      if (yh) h = tf.concat([h, yh], 1) as tf.Tensor2D;
      for (const l of this.enc) h = tf.relu(l.apply(h)) as tf.Tensor2D;
    }
    return this.encHead.apply(h);
  }

  /** q(z|x) parameters: mu [B,L], logVar [B,L]. */
  encode(x: tf.Tensor4D, c: tf.Tensor2D | null): { mu: tf.Tensor2D; logVar: tf.Tensor2D } {
    const o = this.encodeRaw(x, c);
    const L = this.latent;
    if (!this.variational) return { mu: o, logVar: tf.zerosLike(o) as tf.Tensor2D };
    return { mu: tf.slice(o, [0, 0], [-1, L]) as tf.Tensor2D, logVar: tf.slice(o, [0, L], [-1, L]) as tf.Tensor2D };
  }

  /** Decoder: z [B,L], c [B,dim] -> [B,H,W,C] logits (bernoulli) or pre-sigmoid means (gaussian), or [B,H,W,2C]
   *  (logistic: locations mu in the first C channels, log-scales log s in the last C). */
  decode(z: tf.Tensor2D, c: tf.Tensor2D | null): tf.Tensor4D {
    const B = z.shape[0];
    const { height: H, width: W, channels: C } = this.info;
    const yh = this.checkCond(c, B);
    let h: tf.Tensor2D = yh ? (tf.concat([z, yh], 1) as tf.Tensor2D) : z;
    if (this.cfg.arch === 'mlp') {
      for (const l of this.dec) h = tf.relu(l.apply(h)) as tf.Tensor2D;
      return tf.reshape(this.decHead.apply(h), [B, H, W, C * this.outPerChannel]) as tf.Tensor4D;
    }
    for (const l of this.dec) h = tf.relu(l.apply(h)) as tf.Tensor2D;
    let img = tf.reshape(h, [B, H / 4, W / 4, this.cfg.convChannels[1]]) as tf.Tensor4D;
    img = tf.relu(this.convDec[0].apply(img));
    return this.convDec[1].apply(img);
  }

  /** The decoder's mean image E[x|z] in [0,1]. */
  mean(decoded: tf.Tensor4D): tf.Tensor4D {
    // logistic: the mean of the discretized logistic is mu, up to the mass its edge bins gather (clipped to [0, 1])
    if (this.cfg.likelihood === 'logistic')
      return tf.tidy(() => tf.clipByValue(this.logistic(decoded).mu, 0, 1)) as tf.Tensor4D;
    return tf.sigmoid(decoded);
  }

  /** The logistic decoder's parameters: mu and log s, each [B,H,W,C], from its [B,H,W,2C] output. */
  logistic(decoded: tf.Tensor4D): { mu: tf.Tensor4D; logS: tf.Tensor4D } {
    const [mu, logS] = tf.split(decoded, 2, 3) as tf.Tensor4D[];
    return { mu, logS };
  }

  dispose(): void {
    this.params.dispose();
  }
}
