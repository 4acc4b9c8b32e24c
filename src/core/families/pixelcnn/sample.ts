// Sequential PixelCNN sampling, pixel by pixel in raster order and R, G, B within a pixel, all samples in one batch.
// Only what can change is re-run: the vertical stack once per row on the R rows above it, the horizontal stack per
// pixel on the R pixels to its left (R = the receptive reach), so a step costs O(R) pixels, not O(H W).
import * as tf from '@tensorflow/tfjs-core';
import { guide } from '../../conditioning/guidance.ts';
import type { PixelStep } from '../../family.ts';
import { softmaxAt } from '../../math/categorical.ts';
import { runSync, type Steps } from '../../tensor/steps.ts';
import { SampleStreams } from '../../tensor/sample-streams.ts';
import type { GatedPixelCnn, Weights } from './model.ts';

/** Pixels of img [n,H,W,C] (values in [0,1]) in rows r0..r1-1, columns c0..c1-1, as network inputs 2x - 1, repeated `rep` times along the batch. */
function crop(
  img: Float32Array,
  shape: number[],
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  rep: number,
): tf.Tensor4D {
  const [n, H, W, C] = shape;
  const h = r1 - r0,
    w = c1 - c0,
    out = new Float32Array(rep * n * h * w * C);
  let o = 0;
  for (let k = 0; k < rep; k++) {
    for (let b = 0; b < n; b++) {
      for (let r = r0; r < r1; r++) {
        const from = ((b * H + r) * W + c0) * C;
        for (let j = 0; j < w * C; j++) out[o++] = 2 * img[from + j] - 1;
      }
    }
  }
  return tf.tensor4d(out, [rep * n, h, w, C]);
}

const disposeWeights = (W: Weights) => {
  for (const L of W.layers) for (const t of [L.v, L.vh, L.h, L.o]) if (t && !(t instanceof tf.Variable)) t.dispose();
  for (const t of [W.out1, W.out2]) if (!(t instanceof tf.Variable)) t.dispose();
};

/**
 * The logits of one pixel from cropped inputs: rows below the current one cannot affect it, nor can rows more than
 * `reach` above or pixels more than `reach` to the left (the receptive field), so each row runs the vertical stack on
 * rows r - reach .. r only and each pixel the horizontal stack on columns c - reach .. c of row r.
 */
export class CroppedPixelCnn {
  private readonly W: Weights;
  private u: tf.Tensor4D[] = []; // vertical inputs of the current row, [B, 1, W, 2p] per layer
  private row = -1;

  /** cond [rep n, dim] (or null); `rep` copies of each image go through the network (2 for guidance: cond and null). */
  constructor(
    readonly net: GatedPixelCnn,
    readonly shape: number[],
    readonly reach: number,
    readonly cond: tf.Tensor2D | null,
    readonly rep = 1,
  ) {
    this.W = tf.tidy(() => this.net.weights() as unknown as tf.TensorContainer) as unknown as Weights;
  }

  /** Run the vertical stack for row r on the current images. */
  startRow(img: Float32Array, r: number): void {
    tf.dispose(this.u);
    const r0 = Math.max(0, r - this.reach);
    this.u = tf.tidy(() => {
      const u = this.net.vertical(this.W, crop(img, this.shape, r0, r + 1, 0, this.shape[2], this.rep), this.cond);
      return u.map((t) => tf.slice(t, [0, r - r0, 0, 0], [-1, 1, -1, -1]) as tf.Tensor4D);
    });
    this.row = r;
  }

  /** Logits [rep n, C K] of pixel (row, c) from the current images (startRow(row) first). */
  logits(img: Float32Array, c: number): tf.Tensor2D {
    const c0 = Math.max(0, c - this.reach);
    return tf.tidy(() => {
      const u = this.u.map((t) => tf.slice(t, [0, 0, c0, 0], [-1, -1, c + 1 - c0, -1]) as tf.Tensor4D);
      const out = this.net.horizontal(this.W, crop(img, this.shape, this.row, this.row + 1, c0, c + 1, this.rep), u); // [B, 1, w, C K]
      const B = out.shape[0],
        CK = out.shape[3];
      return tf.reshape(tf.slice(out, [0, 0, c - c0, 0], [-1, 1, 1, -1]), [B, CK]) as tf.Tensor2D;
    });
  }

  dispose(): void {
    tf.dispose(this.u);
    disposeWeights(this.W);
  }
}

export interface LoopOptions {
  output: 'categorical' | 'bernoulli';
  /** Receptive reach R: rows above and pixels to the left that reach a prediction. */
  reach: number;
  /** Conditions of the n samples [n, dim] and the null condition [n, dim] (guidance), or null (unconditional). */
  cond: tf.Tensor2D | null;
  nullCond: tf.Tensor2D | null;
  /** Guidance weight w on the logits: l = l_uncond + w (l_cond - l_uncond); used when cond and nullCond are given and w != 1. */
  guidance: number;
  /** Start from these images [n,H,W,C] in [0,1] with rows 0..fromRow-1 kept (completion). */
  given?: { images: Float32Array; fromRow: number };
  onFrame?: (images: tf.Tensor4D, step: number, total: number) => void;
  /** Called after every drawn (row, col, channel) with sample 0's prediction and draw (see PixelStep). */
  onPixel?: (p: PixelStep) => void;
  /** Index of the first sample in the request: row b's uniforms come from sample first + b's stream. */
  first?: number;
}

/**
 * Draw k ~ Categorical(softmax(l)) by inverse CDF: the first k with sum_{j<=k} exp(l_j - max) > u sum_j exp(l_j - max),
 * u ~ U[0,1) from the sample's seeded stream (float64, so same seed, same samples).
 */
export function sampleCategorical(l: Float32Array, from: number, K: number, u: number): number {
  let m = -Infinity;
  for (let k = 0; k < K; k++) m = Math.max(m, l[from + k]);
  let total = 0;
  for (let k = 0; k < K; k++) total += Math.exp(l[from + k] - m);
  let acc = 0;
  const t = u * total;
  for (let k = 0; k < K; k++) {
    acc += Math.exp(l[from + k] - m);
    if (acc > t) return k;
  }
  return K - 1;
}

/**
 * Sample 0's step for onPixel from the (guided) logits d [n, K] (categorical) or [n] (bernoulli: K = 2 values,
 * probs [1 - sigma(l), sigma(l)]); the K values' display colours are k / (K - 1).
 */
function pixelStep(
  output: LoopOptions['output'],
  d: Float32Array,
  K: number,
  colors: Float32Array,
  at: [number, number, number],
  drawn: number,
  img: Float32Array,
): PixelStep {
  let probs: Float32Array;
  if (output === 'categorical') probs = softmaxAt(d, 0, K);
  else {
    const p = 1 / (1 + Math.exp(-d[0]));
    probs = Float32Array.of(1 - p, p);
  }
  return { row: at[0], col: at[1], channel: at[2], probs, colors, drawn, images: img };
}

/** n samples [n,H,W,C] in [0,1]: x_i ~ p(x_i | x_<i, c) in raster order, colours R, G, B within a pixel. */
export function sampleLoop(
  net: GatedPixelCnn,
  shape: [number, number, number, number],
  seed: number,
  o: LoopOptions,
): tf.Tensor4D {
  return runSync(sampleSteps(net, shape, seed, o));
}

/** sampleLoop as steps (tensor/steps.ts): yields each value's logits to be read, and pauses after every row. */
export function* sampleSteps(
  net: GatedPixelCnn,
  shape: [number, number, number, number],
  seed: number,
  o: LoopOptions,
): Steps<tf.Tensor4D> {
  const [n, H, W, C] = shape;
  const K = net.K;
  const streams = new SampleStreams(seed, o.first ?? 0, n);
  const img = new Float32Array(n * H * W * C);
  const fromRow = o.given ? o.given.fromRow : 0;
  const perImage = H * W * C;
  if (o.given)
    for (let b = 0; b < n; b++)
      img.set(o.given.images.subarray(b * perImage, b * perImage + fromRow * W * C), b * perImage);
  const guided = o.cond !== null && o.nullCond !== null && o.guidance !== 1;
  const cond = guided ? (tf.concat([o.cond!, o.nullCond!], 0) as tf.Tensor2D) : o.cond;
  const step = new CroppedPixelCnn(net, shape, o.reach, cond, guided ? 2 : 1);
  const values = o.output === 'categorical' ? K : 2; // the values a channel takes: k / 255, or 0 and 1
  const colors = o.onPixel ? Float32Array.from({ length: values }, (_, k) => k / (values - 1)) : null;
  try {
    for (let r = fromRow; r < H; r++) {
      step.startRow(img, r);
      for (let c = 0; c < W; c++) {
        for (let ch = 0; ch < C; ch++) {
          const l = tf.tidy(() => {
            const all = step.logits(img, c); // [rep n, C K]
            const mine = tf.slice(all, [0, ch * K], [-1, K]);
            if (!guided) return mine;
            const [lc, lu] = tf.split(mine, 2, 0);
            return guide(lu, lc, o.guidance); // l = l_uncond + w (l_cond - l_uncond)
          });
          let d: Float32Array;
          try {
            d = (yield l) as Float32Array;
          } finally {
            l.dispose();
          }
          let drawn0 = 0;
          const us = streams.uniforms();
          for (let b = 0; b < n; b++) {
            const u = us[b];
            const i = ((b * H + r) * W + c) * C + ch;
            const k =
              o.output === 'categorical' ? sampleCategorical(d, b * K, K, u) : u < 1 / (1 + Math.exp(-d[b])) ? 1 : 0; // b ~ Bernoulli(sigmoid(l))
            img[i] = o.output === 'categorical' ? k / 255 : k;
            if (b === 0) drawn0 = k;
          }
          if (o.onPixel) o.onPixel(pixelStep(o.output, d, K, colors!, [r, c, ch], drawn0, img));
        }
      }
      if (o.onFrame) {
        const frame = tf.tensor4d(img.slice(), shape); // a copy: backends may keep the array they are given
        o.onFrame(frame, r + 1, H);
        frame.dispose();
      }
      yield null;
    }
  } finally {
    step.dispose();
    if (guided) cond!.dispose();
  }
  return tf.tensor4d(img, shape);
}
