// The oneshot network f(y): the condition embedding c = embed(y) [B, dim] from the shared Conditioner, decoded to
// pixel logits [B,H,W,C] by an MLP or the VAE's conv decoder without z; f(y) = sigmoid(logits) in [0,1].
// No noise enters anywhere: the same y always gives the same image.
import * as tf from '@tensorflow/tfjs-core';
import type { DataInfo } from '../../family.ts';
import { Conditioner } from '../../conditioning/conditioner.ts';
import { conv2dTranspose, dense, type Layer } from '../../nn/layers.ts';
import { ParamStore } from '../../nn/params.ts';
import { UserError } from '../../errors.ts';
import type { OneshotModelConfig } from './config.ts';

export class OneshotNetwork {
  readonly params: ParamStore;
  /** Embeds labels or prompts; null when cond.kind = none. */
  readonly cond: Conditioner | null;
  /** D = H W C. */
  readonly D: number;
  private readonly fcs: Layer<tf.Tensor2D, tf.Tensor2D>[] = [];
  private readonly deconvs: Layer<tf.Tensor4D, tf.Tensor4D>[] = [];

  constructor(
    readonly cfg: OneshotModelConfig,
    readonly info: DataInfo,
    seed: number,
  ) {
    this.params = new ParamStore(seed);
    const ps = this.params;
    const { height: H, width: W, channels: C } = info;
    this.D = H * W * C;
    this.cond = cfg.cond.kind === 'none' ? null : new Conditioner(cfg.cond, info, ps, 'cond');
    // without a condition the input is the constant 1, so f() is one learned image
    const inDim = this.cond ? this.cond.dim : 1;
    if (cfg.arch === 'mlp') {
      let d = inDim;
      cfg.hidden.forEach((h, i) => {
        this.fcs.push(dense(ps, `decoder.fc${i + 1}`, d, h));
        d = h;
      });
      this.fcs.push(dense(ps, 'decoder.out', d, this.D));
    } else {
      if (H % 4 !== 0 || W % 4 !== 0)
        throw new UserError(
          `model.arch=conv needs image height and width divisible by 4, got ${H}x${W}; use arch=mlp or data.size=${Math.ceil(H / 4) * 4}`,
        );
      const [c1, c2] = cfg.convChannels;
      this.fcs.push(dense(ps, 'decoder.fc1', inDim, cfg.convHidden));
      this.fcs.push(dense(ps, 'decoder.fc2', cfg.convHidden, c2 * (H / 4) * (W / 4)));
      this.deconvs.push(conv2dTranspose(ps, 'decoder.deconv1', c2, c1, 4, 2));
      this.deconvs.push(conv2dTranspose(ps, 'decoder.deconv2', c1, C, 4, 2));
    }
  }

  /** Pixel logits [B,H,W,C] from c [B, dim] (null: an unconditional model, B rows of the constant input). */
  logits(c: tf.Tensor2D | null, B: number): tf.Tensor4D {
    if (this.cond && !c) throw new Error('conditional oneshot network called without a condition embedding');
    if (c && c.shape[0] !== B) throw new Error(`condition batch ${c.shape[0]} != batch ${B}`);
    const { height: H, width: W, channels: C } = this.info;
    return tf.tidy(() => {
      let h = c ?? (tf.ones([B, 1]) as tf.Tensor2D); // [B, dim] or [B, 1]
      if (this.cfg.arch === 'mlp') {
        this.fcs.forEach((l, i) => {
          h = l.apply(h);
          if (i < this.fcs.length - 1) h = tf.relu(h);
        });
        return tf.reshape(h, [B, H, W, C]) as tf.Tensor4D;
      }
      for (const l of this.fcs) h = tf.relu(l.apply(h)) as tf.Tensor2D;
      let img = tf.reshape(h, [B, H / 4, W / 4, this.cfg.convChannels[1]]) as tf.Tensor4D; // [B, H/4, W/4, c2]
      img = tf.relu(this.deconvs[0].apply(img)); // [B, H/2, W/2, c1]
      return this.deconvs[1].apply(img); // [B, H, W, C]
    });
  }

  /** f(y) = sigmoid(logits) in [0,1]: [B,H,W,C]. */
  forward(c: tf.Tensor2D | null, B: number): tf.Tensor4D {
    return tf.tidy(() => tf.sigmoid(this.logits(c, B)));
  }

  dispose(): void {
    this.params.dispose();
  }
}
