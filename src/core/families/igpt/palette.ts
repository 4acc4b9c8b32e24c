// Image GPT's tokens: each pixel quantised to a palette of uniform levels per channel (grey: L levels, RGB: a grid of
// L^3 colours), the display colour of each token, and the log size of its bin of 8-bit values (for 8-bit likelihoods).
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.ts';

/**
 * One channel's 8-bit value v in 0..255 maps to level k = floor(v L / 256), so level k holds the values
 * ceil(256 k / L) .. ceil(256 (k + 1) / L) - 1 (256 / L of them when L divides 256). A token is the pixel's levels
 * read as a base-L number: t = sum_c k_c L^(C-1-c), C = 1 (grey) or 3 (RGB).
 */
export class Palette {
  /** V = L^C tokens. */
  readonly vocab: number;
  /** [V] log(number of 8-bit values, or 8-bit colours, in each token's bin). */
  readonly logBin: Float32Array;
  /** [V * C] each token's display colour in [0, 1]: an 8-bit value of its bin (near k / (L - 1)) divided by 255. */
  readonly colors: Float32Array;
  private readonly levelValue: Int32Array; // [L] the display 8-bit value of each level

  constructor(
    readonly levels: number,
    readonly channels: number,
  ) {
    if (!Number.isInteger(levels) || levels < 2 || levels > 256)
      throw new UserError(`image GPT needs 2..256 levels per channel, got ${levels}`);
    if (channels !== 1 && channels !== 3)
      throw new UserError(`image GPT works on grey (1 channel) or RGB (3 channels) images, not ${channels} channels`);
    const L = levels,
      C = channels;
    this.vocab = L ** C;
    const logSize = new Float64Array(L);
    this.levelValue = new Int32Array(L);
    for (let k = 0; k < L; k++) {
      const [lo, hi] = this.binRange(k);
      logSize[k] = Math.log(hi - lo + 1);
      // black stays black and white stays white: the bin's value nearest to the evenly spread k / (L - 1)
      this.levelValue[k] = Math.min(hi, Math.max(lo, Math.round((255 * k) / (L - 1))));
    }
    this.logBin = new Float32Array(this.vocab);
    this.colors = new Float32Array(this.vocab * C);
    for (let t = 0; t < this.vocab; t++) {
      let rest = t,
        lb = 0;
      for (let c = C - 1; c >= 0; c--) {
        const k = rest % L;
        rest = Math.floor(rest / L);
        lb += logSize[k]; // the bin of a colour is the product of its channels' bins: log sizes add
        this.colors[t * C + c] = this.levelValue[k] / 255;
      }
      this.logBin[t] = lb;
    }
  }

  /** The 8-bit values lo..hi (inclusive) of level k. */
  binRange(k: number): [number, number] {
    const L = this.levels;
    return [Math.ceil((256 * k) / L), Math.ceil((256 * (k + 1)) / L) - 1];
  }

  /** Level of an 8-bit value: floor(v L / 256). */
  level(v: number): number {
    return Math.floor((v * this.levels) / 256);
  }

  /** x in [0, 1] [B,H,W,C] (8-bit value v = round(255 x)) -> tokens [B, H*W] int32, row by row. */
  encode(x: tf.Tensor4D): tf.Tensor2D {
    const [B, H, W, C] = x.shape;
    if (C !== this.channels) throw new Error(`palette for ${this.channels} channels got images with ${C}`);
    const L = this.levels;
    return tf.tidy(() => {
      const v = tf.round(tf.mul(tf.clipByValue(x, 0, 1), 255)); // [B,H,W,C] 8-bit values
      const k = tf.floor(tf.div(tf.mul(v, L), 256)); // [B,H,W,C] levels (v L and / 256 are exact in float32)
      const place = tf.tensor1d(Array.from({ length: C }, (_, c) => L ** (C - 1 - c))); // [C]
      const t = C === 1 ? k : tf.sum(tf.mul(k, place), -1); // [B,H,W(,1)]
      return tf.cast(tf.reshape(t, [B, H * W]), 'int32') as tf.Tensor2D;
    });
  }

  /** 8-bit values [P * C] -> tokens [P] (the JS twin of encode). */
  encodeValues(v8: ArrayLike<number>): Int32Array {
    const C = this.channels,
      P = v8.length / C;
    const out = new Int32Array(P);
    for (let p = 0; p < P; p++) {
      let t = 0;
      for (let c = 0; c < C; c++) t = t * this.levels + this.level(v8[p * C + c]);
      out[p] = t;
    }
    return out;
  }

  /** Tokens [n * N] (n images of N pixels) -> display colours [n * N * C] in [0, 1]; pixels p >= filled are 0 (not yet sampled). */
  decode(tokens: ArrayLike<number>, N = tokens.length, filled = N): Float32Array {
    const C = this.channels,
      n = tokens.length / N;
    const out = new Float32Array(tokens.length * C);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < filled; p++) {
        const t = tokens[i * N + p];
        for (let c = 0; c < C; c++) out[(i * N + p) * C + c] = this.colors[t * C + c];
      }
    }
    return out;
  }

  /** Tokens [B, H*W] -> images [B,H,W,C] in [0, 1]. */
  decodeTensor(tokens: tf.Tensor2D, H: number, W: number): tf.Tensor4D {
    return tf.tidy(() => {
      const B = tokens.shape[0];
      const table = tf.tensor2d(this.colors, [this.vocab, this.channels]); // [V, C]
      return tf.reshape(tf.gather(table, tf.reshape(tokens, [B * H * W])), [B, H, W, this.channels]) as tf.Tensor4D;
    });
  }
}
