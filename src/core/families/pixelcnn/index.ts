// The pixelcnn family: a gated PixelCNN with an exact likelihood (256-way softmax per channel, or Bernoulli), label or
// text conditioning with classifier-free guidance on the logits, and sequential sampling. Used via the registry.
import * as tf from '@tensorflow/tfjs-core';
import type { LossOutput } from '../../train/trainer.ts';
import type {
  DataInfo,
  EvalBatch,
  EvalOptions,
  Family,
  GenerativeModel,
  NetworkSpec,
  Picture,
  SampleOptions,
} from '../../family.ts';
import { defineFamily } from '../../family.ts';
import { Conditioner, sampleCondInput } from '../../conditioning/conditioner.ts';
import { exactNllEvaluation } from '../../eval/chunks.ts';
import { UserError } from '../../errors.ts';
import type { EvalResult } from '../../eval/result.ts';
import { ParamStore } from '../../nn/params.ts';
import { Rng } from '../../tensor/rng.ts';
import { pixelcnnModelSchema, receptiveReach, type PixelCnnModelConfig } from './config.ts';
import { nllPerImage, pixelcnnLoss } from './loss.ts';
import { GatedPixelCnn } from './model.ts';
import { sampleSteps } from './sample.ts';
import { runAsync, runSync, type Steps } from '../../tensor/steps.ts';

/** Largest logits tensor of one evaluation chunk, in floats (~32 MB). */
const EVAL_FLOATS = 1 << 23;

export class PixelCnnModel implements GenerativeModel {
  readonly params: ParamStore;
  readonly cond: Conditioner | null;
  readonly net: GatedPixelCnn;
  /** D = H W C, the dimensions of bits/dim. */
  readonly dims: number;

  constructor(
    readonly cfg: PixelCnnModelConfig,
    readonly info: DataInfo,
    seed: number,
  ) {
    this.params = new ParamStore(seed);
    this.cond = cfg.cond.kind !== 'none' ? new Conditioner(cfg.cond, info, this.params, 'cond') : null;
    this.net = new GatedPixelCnn(cfg, info.channels, this.params, this.cond?.dim ?? 0);
    this.dims = info.height * info.width * info.channels;
  }

  /**
   * The network input for x in [0,1]: the value the model is a distribution over, scaled to [-1, 1]:
   * 2 round(255 x) / 255 - 1 (categorical) or 2 [x > 0.5] - 1 (bernoulli), so training sees what sampling produces.
   */
  encode(x01: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const v =
        this.cfg.output === 'categorical'
          ? tf.div(tf.round(tf.mul(tf.clipByValue(x01, 0, 1), 255)), 255)
          : tf.cast(tf.greater(x01, 0.5), 'float32');
      return tf.sub(tf.mul(v, 2), 1) as tf.Tensor4D;
    });
  }

  /** -log p(x | c) per image [B] (nats) for x in [0,1] and the condition c [B, dim] (or null). */
  nll(x01: tf.Tensor4D, c: tf.Tensor2D | null): tf.Tensor1D {
    return tf.tidy(() => nllPerImage(this.cfg.output, this.net.forward(this.encode(x01), c), x01));
  }

  loss(x: tf.Tensor4D, y: tf.Tensor1D | null, seed: number, captions?: string[] | null): LossOutput {
    const B = x.shape[0];
    const dropSeed = new Rng(seed).seed();
    return tf.tidy(() => {
      // classifier-free guidance training: c is replaced by the learned null embedding with probability cond.dropProb
      const c = this.cond
        ? this.cond.embed({ labels: y, prompts: captions ?? null }, B, this.cond.dropMask(B, dropSeed))
        : null;
      return pixelcnnLoss(this.nll(x, c), this.dims) as unknown as tf.TensorContainer;
    }) as unknown as LossOutput;
  }

  /** Conditions for n samples (and the null ones for guidance): labels or prompts cycled, or every class in turn. */
  private conditions(n: number, opts: SampleOptions): { cond: tf.Tensor2D | null; nullCond: tf.Tensor2D | null } {
    const y = sampleCondInput(this.cond, n, opts, 'this pixelcnn');
    if (!this.cond) return { cond: null, nullCond: null };
    if (!y) return { cond: this.cond.nullEmbed(n), nullCond: null }; // a text model with no prompt: unconditional samples
    return { cond: this.cond.embed(y, n), nullCond: this.cond.nullEmbed(n) };
  }

  /**
   * Samples x ~ p(x | y) in [0,1] (k / 255, or 0/1 for bernoulli); opts.onFrame gets the images after every row,
   * opts.onPixel every drawn channel value with sample 0's distribution over the K = 256 (or 2) values.
   */
  sample(n: number, seed: number, opts: SampleOptions = {}): tf.Tensor4D {
    return this.draw(n, seed, opts);
  }

  /** sample() on a backend that reads values back asynchronously (WebGPU): the same samples. */
  sampleAsync(n: number, seed: number, opts: SampleOptions = {}): Promise<tf.Tensor4D> {
    return runAsync(this.drawSteps(n, seed, opts));
  }

  /** Samples as sample(), with rows 0..given.fromRow-1 of given.images [n,H,W,C] in [0,1] kept (completion). */
  draw(
    n: number,
    seed: number,
    opts: SampleOptions = {},
    given?: { images: Float32Array; fromRow: number },
  ): tf.Tensor4D {
    return runSync(this.drawSteps(n, seed, opts, given));
  }

  private *drawSteps(
    n: number,
    seed: number,
    opts: SampleOptions = {},
    given?: { images: Float32Array; fromRow: number },
  ): Steps<tf.Tensor4D> {
    if (!(Number.isInteger(n) && n > 0))
      throw new UserError(`the number of samples must be a positive integer, got ${n}`);
    const guidance = opts.guidance ?? this.cfg.guidance;
    if (!(guidance >= 0 && Number.isFinite(guidance)))
      throw new UserError(`guidance must be a number >= 0, got ${guidance}`);
    const { cond, nullCond } = this.conditions(n, opts);
    try {
      const { height: H, width: W, channels: C } = this.info;
      return yield* sampleSteps(this.net, [n, H, W, C], seed, {
        output: this.cfg.output,
        reach: receptiveReach(this.cfg),
        cond,
        nullCond,
        guidance,
        given,
        onFrame: opts.onFrame,
        onPixel: opts.onPixel,
        first: opts.first,
      });
    } finally {
      tf.dispose([cond, nullCond].filter((t): t is tf.Tensor2D => t !== null));
    }
  }

  /**
   * Completions (the top half of test images given, the bottom half sampled, row by row) and the order of sampling
   * (snapshots as the rows fill in). x: test images in [0,1].
   */
  pictures(x: tf.Tensor4D, labels: number[] | undefined, seed: number): Picture[] {
    const rng = new Rng(seed);
    const { height: H, width: W, channels: C } = this.info;
    const per = H * W * C;
    const useLabels = this.cond?.kind === 'label' && labels !== undefined;
    const k = Math.min(4, x.shape[0]),
      m = 5,
      half = Math.floor(H / 2);
    // k test images, each repeated m times, with rows 0..H/2-1 kept: [given | m completions | original] per row
    const src = tf.tidy(() => this.encodeValues(tf.slice(x, 0, k)).dataSync() as Float32Array);
    const given = new Float32Array(k * m * per);
    for (let i = 0; i < k * m; i++)
      given.set(src.subarray(Math.floor(i / m) * per, Math.floor(i / m + 1) * per), i * per);
    const done = this.draw(
      k * m,
      rng.seed(),
      useLabels ? { labels: Array.from({ length: k * m }, (_, i) => labels![Math.floor(i / m)]) } : {},
      { images: given, fromRow: half },
    );
    const completions = tf.tidy(() => {
      const orig = tf.tensor4d(src, [k, H, W, C]);
      const top = tf.mul(
        orig,
        tf.reshape(tf.tensor1d(Array.from({ length: H }, (_, r) => (r < half ? 1 : 0))), [1, H, 1, 1]),
      ); // bottom half black
      const samples = tf.reshape(done, [k, m, H, W, C]);
      return tf.reshape(tf.concat([tf.expandDims(top, 1), samples, tf.expandDims(orig, 1)], 1), [
        k * (m + 2),
        H,
        W,
        C,
      ]) as tf.Tensor4D;
    });
    done.dispose();
    // the sampling order: 4 samples, a snapshot after every H/8 rows
    const frames: tf.Tensor4D[] = [];
    const every = Math.max(1, Math.round(H / 8));
    const opts: SampleOptions = {
      onFrame: (img, step, total) => {
        if (step % every === 0 || step === total) frames.push(tf.clone(img));
      },
    };
    if (this.cond?.kind === 'label')
      opts.labels = labels?.length ? labels.slice(0, 4) : [0, 1, 2, 3].map((i) => i % this.info.numClasses);
    tf.dispose(this.sample(4, rng.seed(), opts));
    const order = tf.tidy(() => {
      const s = tf.stack(frames, 1); // [4, frames, H, W, C]
      return tf.reshape(s, [4 * frames.length, H, W, C]) as tf.Tensor4D;
    });
    const cols = frames.length;
    tf.dispose(frames);
    return [
      {
        name: 'completions',
        images: completions,
        cols: m + 2,
        caption: `completions: the top ${half} rows of a test image given (left), ${m} samples of the rest, the original (right)`,
      },
      {
        name: 'sampling-order',
        images: order,
        cols,
        caption: `sampling pixel by pixel in raster order: each row shows one sample after every ${every} image rows`,
      },
    ];
  }

  /** The values the model is a distribution over, in [0,1]: k / 255 or [x > 0.5]. */
  private encodeValues(x01: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.div(tf.add(this.encode(x01), 1), 2) as tf.Tensor4D);
  }

  /**
   * Exact test NLL: { n, nll (nats per image), bitsPerDim = nll / (H W C ln 2) }. Conditional models use each batch's
   * labels or captions (a text model without captions: the null condition). Batches run in chunks so the logits
   * [chunk, H, W, C, K] stay small.
   */
  evaluate(batches: Iterable<EvalBatch>, opts: EvalOptions): EvalResult {
    const chunk = Math.max(1, Math.floor(EVAL_FLOATS / (this.dims * this.net.K)));
    // autoregressive over the 8-bit values: the exact -log P(x)
    return exactNllEvaluation(batches, chunk, this.dims, opts, ({ x, y, captions }, k) => {
      const c = this.cond ? this.cond.evalEmbed({ labels: y, prompts: captions }, k) : null;
      return this.nll(x, c);
    });
  }

  networks(): NetworkSpec[] {
    const { height: H, width: W, channels: C } = this.info;
    const cond = this.cond;
    return [
      ...(cond ? [cond.network()] : []),
      {
        name: 'predict',
        doc: `The logits [B, H, W, C, K] of p(x_i | x_<i${cond ? ', c' : ''}) for every pixel and colour at once (masked convolutions), from x [B, H, W, C] (NHWC, 8-bit values k as 2 k / 255 - 1${this.cfg.output === 'bernoulli' ? ', binary as -1 / 1' : ''})${cond ? ' and c = embed(...).vec' : ''}.`,
        example: (B, seed): Record<string, tf.Tensor> => {
          const rng = new Rng(seed);
          const x = this.encode(tf.randomUniform([B, H, W, C], 0, 1, 'float32', rng.seed()) as tf.Tensor4D);
          return { x, ...cond?.exampleVec(B, rng.seed()) };
        },
        run: (i) => ({ out: this.net.forward(i.x as tf.Tensor4D, (i.c as tf.Tensor2D) ?? null) }),
      },
    ];
  }

  dispose(): void {
    this.net.dispose();
    this.params.dispose();
  }
}

export const pixelcnnFamily: Family<PixelCnnModelConfig> = defineFamily({
  name: 'pixelcnn',
  summary:
    'Gated PixelCNN: an exact likelihood p(x) = prod_i p(x_i | x_<i) from masked vertical and horizontal conv stacks (no blind spot), 256-way softmax per channel, sampled pixel by pixel; label or text conditioning',
  modelSchema: pixelcnnModelSchema,
  defaults: {
    data: { dataset: 'fashion-mnist', preprocess: 'scale01' },
    train: { epochs: 2, batchSize: 32, lr: 1e-3, clipNorm: 1, sampleEvery: 0, checkpointEvery: 500 },
  },
  tinyPreset: { channels: 12, layers: 3, firstKernel: 3, kernel: 3, cond: { dim: 16 } },
  requiredPreprocess: 'scale01',
  generation: 'pixels',
  samplingOptions: ['guidance', 'animate'],
  create: (m, info, seed) => new PixelCnnModel(m, info, seed),
});
