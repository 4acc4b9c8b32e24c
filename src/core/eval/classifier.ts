// The project's own image classifier: three GroupNorm-SiLU convs (strides 1, 2, 2), flatten, a 256-d feature layer and one
// softmax head per attribute ("class"; "kind" and "color" for shapes; "category" and "vendor" for emoji). It judges
// conditional samples; its features serve FID/KID.
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { trainSchema } from '../config/schema.ts';
import { batchToTensor, batches, epochOrder, numBatches, select } from '../data/batches.ts';
import { EMOJI_CATEGORIES, EMOJI_VENDORS, type EmojiDataset } from '../data/emoji.ts';
import { COLORS, SHAPE_KINDS, type ShapesDataset } from '../data/shapes.ts';
import type { ImageDataset } from '../data/types.ts';
import { UserError } from '../errors.ts';
import { groupNorm } from '../nn/group-norm.ts';
import { conv2d, dense, type Layer } from '../nn/layers.ts';
import { ParamStore } from '../nn/params.ts';
import { mixSeed, Rng } from '../tensor/rng.ts';
import { Trainer, type LossOutput } from '../train/trainer.ts';

export interface ClassifierHead {
  name: string;
  classes: string[];
}

export interface ClassifierConfig {
  height: number;
  width: number;
  channels: number;
  heads: ClassifierHead[];
  /** Channels of the three 3x3 convs (strides 1, 2, 2). */
  widths: [number, number, number];
  /** Size of the feature layer (the dense layer on the flattened [H/4, W/4, widths[2]] map, before the heads). */
  features: number;
}

export const DEFAULT_WIDTHS: [number, number, number] = [32, 64, 128];
export const DEFAULT_FEATURES = 256;

/** Per head: the class index of every image. */
export type HeadLabels = Record<string, Int32Array>;

/** The full config from the image shape and heads, with the default network size unless overridden. */
export function classifierConfig(
  shape: { height: number; width: number; channels: number },
  heads: ClassifierHead[],
  net: Partial<Pick<ClassifierConfig, 'widths' | 'features'>> = {},
): ClassifierConfig {
  if (heads.length === 0) throw new Error('a classifier needs at least one head');
  const names = new Set(heads.map((h) => h.name));
  if (names.size !== heads.length)
    throw new Error(`classifier head names must be unique, got ${heads.map((h) => h.name).join(', ')}`);
  for (const h of heads)
    if (h.classes.length < 2) throw new Error(`classifier head ${h.name} needs at least 2 classes`);
  return {
    height: shape.height,
    width: shape.width,
    channels: shape.channels,
    heads,
    widths: net.widths ?? DEFAULT_WIDTHS,
    features: net.features ?? DEFAULT_FEATURES,
  };
}

/** Heads for the shapes dataset: kind (SHAPE_KINDS) and color (COLORS). */
export const SHAPES_HEADS: ClassifierHead[] = [
  { name: 'kind', classes: [...SHAPE_KINDS] },
  { name: 'color', classes: [...COLORS] },
];

/** Per-head labels of a shapes dataset: kind from its labels, color from its fields. */
export function shapesLabels(ds: ShapesDataset): HeadLabels {
  const color = new Int32Array(ds.n);
  for (let i = 0; i < ds.n; i++) color[i] = COLORS.indexOf(ds.fields[i].color);
  const kind = new Int32Array(ds.n);
  for (let i = 0; i < ds.n; i++) kind[i] = SHAPE_KINDS.indexOf(ds.fields[i].shape);
  return { kind, color };
}

/** Heads for the emoji data sets: category (EMOJI_CATEGORIES) and vendor (EMOJI_VENDORS, whose drawing style it is). */
export const EMOJI_HEADS: ClassifierHead[] = [
  { name: 'category', classes: [...EMOJI_CATEGORIES] },
  { name: 'vendor', classes: [...EMOJI_VENDORS] },
];

/** Per-head labels of an emoji split: category and vendor from each image's record. */
export function emojiLabels(ds: Pick<EmojiDataset, 'records'>): HeadLabels {
  return {
    category: Int32Array.from(ds.records, (r) => r.category),
    vendor: Int32Array.from(ds.records, (r) => EMOJI_VENDORS.indexOf(r.vendor)),
  };
}

export class Classifier {
  readonly params: ParamStore;
  private readonly convs: Layer<tf.Tensor4D, tf.Tensor4D>[];
  private readonly norms: { gamma: tf.Variable; beta: tf.Variable }[];
  private readonly fc: Layer<tf.Tensor2D, tf.Tensor2D>;
  private readonly heads: Layer<tf.Tensor2D, tf.Tensor2D>[];

  constructor(
    readonly config: ClassifierConfig,
    seed: number,
  ) {
    const ps = (this.params = new ParamStore(seed));
    const { channels, widths, features } = config;
    const strides = [1, 2, 2];
    this.convs = widths.map((w, i) => conv2d(ps, `conv${i + 1}`, i === 0 ? channels : widths[i - 1], w, 3, strides[i]));
    this.norms = widths.map((w, i) => ({
      gamma: ps.param(`norm${i + 1}.weight`, [w], 'ones'),
      beta: ps.param(`norm${i + 1}.bias`, [w], 'zeros'),
    }));
    this.fc = dense(ps, 'fc', widths[2] * Math.ceil(config.height / 4) * Math.ceil(config.width / 4), features);
    this.heads = config.heads.map((h) => dense(ps, `head.${h.name}`, features, h.classes.length));
  }

  /** The penultimate layer: x [B, H, W, C] in [0, 1] -> [B, features] (SiLU activations). */
  features(x: tf.Tensor4D): tf.Tensor2D {
    this.checkInput(x);
    return tf.tidy(() => {
      let h = tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D; // [B, H, W, C] in [-1, 1]
      for (let i = 0; i < this.convs.length; i++) {
        const w = this.config.widths[i];
        let groups = Math.min(8, w);
        while (w % groups !== 0) groups--; // the largest group count <= 8 that divides the width
        h = groupNorm(this.convs[i].apply(h), this.norms[i].gamma, this.norms[i].beta, true, groups); // [B, H/s, W/s, w_i]
      }
      const pooled = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D; // [B, H/4 * W/4 * w_3]
      const f = this.fc.apply(pooled); // [B, features]
      return tf.mul(f, tf.sigmoid(f)) as tf.Tensor2D;
    });
  }

  /** Unnormalised log-probabilities per head: { head: [B, classes] }. */
  logits(x: tf.Tensor4D): Record<string, tf.Tensor2D> {
    return tf.tidy(() => {
      const f = this.features(x); // [B, features]
      return Object.fromEntries(this.config.heads.map((h, i) => [h.name, this.heads[i].apply(f)]));
    });
  }

  /** Sum over heads of the mean cross-entropy: -1/B sum_b log softmax(logits_b)[y_b]. */
  loss(x: tf.Tensor4D, labels: Record<string, tf.Tensor1D>): LossOutput {
    const logits = this.logits(x);
    const terms: Record<string, tf.Scalar> = {};
    for (const h of this.config.heads) {
      const y = labels[h.name];
      if (!y) throw new Error(`no labels for classifier head ${h.name}`);
      const oneHot = tf.oneHot(tf.cast(y, 'int32'), h.classes.length); // [B, K]
      terms[h.name] = tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits[h.name])), 1))) as tf.Scalar;
    }
    const loss = tf.addN(Object.values(terms)) as tf.Scalar;
    return { loss, terms };
  }

  /** Predicted class index per image and head; x [N, H, W, C] in [0, 1], run in batches. */
  predict(x: tf.Tensor4D, batchSize = 500): Record<string, Int32Array> {
    this.checkInput(x);
    const N = x.shape[0];
    const out: Record<string, Int32Array> = Object.fromEntries(
      this.config.heads.map((h) => [h.name, new Int32Array(N)]),
    );
    for (let i = 0; i < N; i += batchSize) {
      const b = Math.min(batchSize, N - i);
      const packed = tf.tidy(() => {
        const logits = this.logits(tf.slice(x, i, b));
        return tf.stack(this.config.heads.map((h) => tf.argMax(logits[h.name], 1))); // [heads, b]
      });
      const vals = packed.dataSync();
      packed.dispose();
      this.config.heads.forEach((h, k) => out[h.name].set(vals.subarray(k * b, (k + 1) * b), i));
    }
    return out;
  }

  /** Features of x [N, H, W, C] in batches, as one [N, features] tensor (caller disposes). */
  featuresBatched(x: tf.Tensor4D, batchSize = 500): tf.Tensor2D {
    const parts: tf.Tensor2D[] = [];
    for (let i = 0; i < x.shape[0]; i += batchSize)
      parts.push(tf.tidy(() => this.features(tf.slice(x, i, Math.min(batchSize, x.shape[0] - i)))));
    const all = tf.concat(parts, 0);
    tf.dispose(parts);
    return all;
  }

  /** Fraction of correct predictions per head. */
  accuracy(x: tf.Tensor4D, labels: HeadLabels, batchSize = 500): Record<string, number> {
    const pred = this.predict(x, batchSize);
    return Object.fromEntries(this.config.heads.map((h) => [h.name, fractionEqual(pred[h.name], labels[h.name])]));
  }

  dispose(): void {
    this.params.dispose();
  }

  private checkInput(x: tf.Tensor): void {
    const { height, width, channels } = this.config;
    if (x.rank !== 4 || x.shape[1] !== height || x.shape[2] !== width || x.shape[3] !== channels) {
      throw new UserError(
        `The classifier takes images of ${height}x${width}x${channels}, got tensor shape [${x.shape.join(', ')}]; resize the images or use a classifier trained at that size.`,
      );
    }
  }
}

function fractionEqual(a: Int32Array, b: Int32Array | undefined): number {
  if (!b || b.length !== a.length) throw new Error(`accuracy needs ${a.length} labels, got ${b?.length ?? 'none'}`);
  let ok = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) ok++;
  return a.length ? ok / a.length : 0;
}

/** Dataset pixels (0..255) as [N, H, W, C] floats in [0, 1]. */
export function datasetTo01(ds: ImageDataset): tf.Tensor4D {
  const [batch] = batches(ds, { batchSize: Math.max(1, ds.n) });
  return tf.tidy(() => tf.div(batchToTensor(batch, ds), 255) as tf.Tensor4D);
}

export interface TrainClassifierOptions {
  epochs: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** Called every `logEvery` steps and at the end of each epoch. */
  onProgress?: (p: {
    step: number;
    totalSteps: number;
    epoch: number;
    loss: number;
    terms: Record<string, number>;
  }) => void;
  logEvery?: number;
  /** Random changes to each training image (off by default). */
  augment?: AugmentOptions;
}

export interface AugmentOptions {
  /** Mirror left-right with probability 1/2. */
  flip?: boolean;
  /** Shift by up to this many pixels in each direction (edge pixels repeated into the gap). */
  shift?: number;
}

/**
 * A batch of NHWC uint8 images, each mirrored (with probability 1/2, when flip) and shifted by dy, dx in
 * [-shift, shift] with its edge pixels repeated; a new array, drawn from rng.
 */
export function augmentImages(
  images: Uint8Array,
  shape: { height: number; width: number; channels: number },
  rng: Rng,
  o: AugmentOptions,
): Uint8Array {
  const { height: H, width: W, channels: C } = shape;
  const plane = H * W * C;
  const s = o.shift ?? 0;
  const out = new Uint8Array(images.length);
  for (let b = 0; b < images.length / plane; b++) {
    const flip = o.flip ? rng.int(2) === 1 : false;
    const dy = s ? rng.int(2 * s + 1) - s : 0;
    const dx = s ? rng.int(2 * s + 1) - s : 0;
    for (let y = 0; y < H; y++) {
      const sy = Math.min(H - 1, Math.max(0, y - dy));
      for (let x = 0; x < W; x++) {
        let sx = Math.min(W - 1, Math.max(0, x - dx));
        if (flip) sx = W - 1 - sx;
        const from = b * plane + (sy * W + sx) * C;
        const to = b * plane + (y * W + x) * C;
        for (let c = 0; c < C; c++) out[to + c] = images[from + c];
      }
    }
  }
  return out;
}

/**
 * Trains with Adam and a cosine learning-rate decay; each epoch visits the data in the order epochOrder(n, seed, epoch).
 * `labels` holds one Int32Array per head, indexed like the dataset's images.
 */
export async function trainClassifier(
  clf: Classifier,
  ds: ImageDataset,
  labels: HeadLabels,
  opts: TrainClassifierOptions,
): Promise<{ steps: number; loss: number }> {
  const seed = opts.seed ?? 0;
  const batchSize = opts.batchSize ?? 128;
  const { height, width, channels } = clf.config;
  if (ds.height !== height || ds.width !== width || ds.channels !== channels) {
    throw new UserError(
      `The classifier takes ${height}x${width}x${channels} images but ${ds.name} has ${ds.height}x${ds.width}x${ds.channels}.`,
    );
  }
  for (const h of clf.config.heads)
    if (labels[h.name]?.length !== ds.n) throw new Error(`trainClassifier: head ${h.name} needs ${ds.n} labels`);
  const stepsPerEpoch = numBatches(ds.n, batchSize);
  const totalSteps = Math.max(1, Math.ceil(opts.epochs * stepsPerEpoch));
  const cfg = trainSchema.parse({
    seed,
    batchSize,
    lr: opts.lr ?? 2e-3,
    lrSchedule: 'cosine',
    warmupSteps: Math.min(100, Math.floor(totalSteps / 10)),
    weightDecay: 1e-4,
  });
  const trainer = new Trainer(clf.params.vars, cfg, totalSteps);
  const logEvery = opts.logEvery ?? 50;
  const augment = opts.augment && (opts.augment.flip || opts.augment.shift) ? opts.augment : null;
  const rng = new Rng(mixSeed(seed, 0x617567)); // the augmentation draws
  let loss = NaN;
  try {
    for (let epoch = 0; trainer.step < totalSteps; epoch++) {
      // a labelled view: the batch's dataset indices pick every head's labels
      for (const batch of batches(ds, { batchSize, order: epochOrder(ds.n, seed, epoch) })) {
        if (trainer.step >= totalSteps) break;
        const m = trainer.trainStep(() => {
          const b = augment ? { ...batch, images: augmentImages(batch.images, ds, rng, augment) } : batch;
          const x = tf.div(batchToTensor(b, ds), 255) as tf.Tensor4D;
          const y = Object.fromEntries(
            clf.config.heads.map((h) => [
              h.name,
              tf.tensor1d(
                Int32Array.from(batch.indices, (j) => labels[h.name][j]),
                'int32',
              ),
            ]),
          );
          return clf.loss(x, y);
        });
        loss = m.loss;
        const last = trainer.step === totalSteps || trainer.step % stepsPerEpoch === 0;
        if (opts.onProgress && (trainer.step % logEvery === 0 || last)) {
          opts.onProgress({
            step: trainer.step,
            totalSteps,
            epoch: trainer.step / stepsPerEpoch,
            loss: m.loss,
            terms: m.terms,
          });
        }
        if (trainer.step % 10 === 0) await new Promise((r) => setTimeout(r, 0)); // let signals and timers through
      }
    }
  } finally {
    trainer.dispose();
  }
  return { steps: trainer.step, loss };
}

/** Per-head accuracy on a labelled dataset (pixels scaled to [0, 1] in chunks to bound memory). */
export function datasetAccuracy(
  clf: Classifier,
  ds: ImageDataset,
  labels: HeadLabels,
  chunk = 2000,
): Record<string, number> {
  const correct: Record<string, number> = Object.fromEntries(clf.config.heads.map((h) => [h.name, 0]));
  for (let i = 0; i < ds.n; i += chunk) {
    const idx = Int32Array.from({ length: Math.min(chunk, ds.n - i) }, (_, k) => i + k);
    const part = select(ds, idx);
    const x = datasetTo01(part);
    const pred = clf.predict(x);
    x.dispose();
    for (const h of clf.config.heads)
      for (let k = 0; k < idx.length; k++) if (pred[h.name][k] === labels[h.name][idx[k]]) correct[h.name]++;
  }
  return Object.fromEntries(Object.entries(correct).map(([k, c]) => [k, ds.n ? c / ds.n : 0]));
}

/** The seed a classifier's parameters are initialised with, derived from the training seed. */
export function classifierInitSeed(seed: number): number {
  return mixSeed(seed, 0x636c66);
}

/** config.json's "config" section of a saved classifier, checked strictly before any weights are read. */
export const classifierConfigSchema = z
  .object({
    height: z.number().int().min(4),
    width: z.number().int().min(4),
    channels: z.number().int().min(1),
    heads: z.array(z.object({ name: z.string().min(1), classes: z.array(z.string()).min(2) }).strict()).min(1),
    widths: z.tuple([z.number().int().min(1), z.number().int().min(1), z.number().int().min(1)]),
    features: z.number().int().min(1),
  })
  .strict();
