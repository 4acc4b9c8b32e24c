// The diffusion family: a DDPM-trained UNet (eps or v prediction) with optional label/text conditioning and
// classifier-free guidance, sampled with DDIM or DDPM from EMA weights and scored by the DDPM variational bound
// (likelihood.ts). The trainer, CLI and tests use it via the registry.
import * as tf from '@tensorflow/tfjs-core';
import type { LossOutput } from '../../train/trainer.ts';
import type {
  NetworkSpec,
  DataInfo,
  EvalBatch,
  EvalOptions,
  Family,
  GenerativeModel,
  Picture,
  SampleOptions,
} from '../../family.ts';
import { defineFamily } from '../../family.ts';
import { Conditioner, disposeCondSeq, sampleCondInput, type CondSeq } from '../../conditioning/conditioner.ts';
import { UserError } from '../../errors.ts';
import { qSample } from '../../diffusion/forward.ts';
import { makeSchedule, type Schedule } from '../../diffusion/schedules.ts';
import { getSampler, type Sampler } from '../../diffusion/samplers/index.ts';
import { ParamStore } from '../../nn/params.ts';
import { Rng } from '../../tensor/rng.ts';
import { diffusionModelSchema, type DiffusionModelConfig } from './config.ts';
import { diffusionLoss } from './loss.ts';
import { timestepEmbedding, UNet } from './model.ts';
import { sumOverChunks } from '../../eval/chunks.ts';
import { sampleSteps } from './sample.ts';
import { runAsync, runSync, type Steps } from '../../tensor/steps.ts';
import { epsPredictor, variationalBound, VLB_TIMESTEPS } from './likelihood.ts';
import { likelihoodFigure, PerImageNats, withPerImage, type EvalResult } from '../../eval/result.ts';

export class DiffusionModel implements GenerativeModel {
  readonly params: ParamStore;
  readonly schedule: Schedule;
  readonly cond: Conditioner | null;
  readonly unet: UNet;

  constructor(
    readonly cfg: DiffusionModelConfig,
    readonly info: DataInfo,
    seed: number,
  ) {
    this.params = new ParamStore(seed);
    this.cond = cfg.cond.kind !== 'none' ? new Conditioner(cfg.cond, info, this.params, 'cond') : null;
    this.unet = new UNet(cfg, info, this.params, this.cond?.dim ?? 0);
    this.schedule = makeSchedule(cfg.schedule, cfg.T);
  }

  loss(x: tf.Tensor4D, y: tf.Tensor1D | null, seed: number, captions?: string[] | null): LossOutput {
    const rng = new Rng(seed);
    const lossSeed = rng.seed(),
      dropSeed = rng.seed();
    const B = x.shape[0];
    return tf.tidy(() => {
      // classifier-free guidance training: the condition is replaced by the null one with probability cond.dropProb
      const c = this.cond
        ? this.cond.embedSeq({ labels: y, prompts: captions ?? null }, B, this.cond.dropMask(B, dropSeed))
        : null;
      const out = diffusionLoss(
        this.schedule,
        this.cfg.prediction,
        (xt, t) => this.unet.forward(xt, t, c),
        x,
        lossSeed,
        this.weighting,
      );
      return { loss: out.loss, terms: out.terms } as unknown as tf.TensorContainer;
    }) as unknown as LossOutput;
  }

  /** Condition embeddings for n samples (and the null ones), from labels, prompts, or by cycling the classes. */
  private get weighting() {
    return { kind: this.cfg.lossWeight, gamma: this.cfg.minSnrGamma };
  }

  private conditions(n: number, opts: SampleOptions): { cond: CondSeq | null; nullCond: CondSeq | null } {
    const y = sampleCondInput(this.cond, n, opts, 'this diffusion model');
    if (!this.cond) return { cond: null, nullCond: null };
    if (!y) return { cond: this.cond.nullEmbedSeq(n), nullCond: null }; // a text model with no prompt: unconditional samples
    return { cond: this.cond.embedSeq(y, n), nullCond: this.cond.nullEmbedSeq(n) };
  }

  /** Steps when a request does not say: the config's, else the sampler's own default, at most T. */
  defaultSteps(sampler: Sampler): number {
    return Math.min(this.cfg.steps ?? sampler.defaultSteps, this.cfg.T);
  }

  /** Samples in [-1, 1] (the training scale). */
  sampleRaw(n: number, seed: number, opts: SampleOptions = {}): tf.Tensor4D {
    return runSync(this.rawSteps(n, seed, opts));
  }

  /** sampleRaw as steps (tensor/steps.ts). */
  private *rawSteps(n: number, seed: number, opts: SampleOptions): Steps<tf.Tensor4D> {
    const { cond, nullCond } = this.conditions(n, opts);
    try {
      const sampler = getSampler(opts.sampler ?? this.cfg.sampler);
      const guidance = opts.guidance ?? this.cfg.guidance;
      if (!(guidance >= 0)) throw new UserError(`guidance must be a number >= 0, got ${guidance}`);
      const { height: H, width: W, channels: C } = this.info;
      return yield* sampleSteps(
        this.schedule,
        this.cfg.prediction,
        (xt, t, c) => this.unet.forward(xt, t, c),
        [n, H, W, C],
        seed,
        {
          sampler,
          steps: opts.steps ?? this.defaultSteps(sampler),
          eta: opts.eta ?? this.cfg.eta,
          guidance,
          cond,
          nullCond,
          onFrame: opts.onFrame,
          first: opts.first,
        },
      );
    } finally {
      disposeCondSeq(cond);
      disposeCondSeq(nullCond);
    }
  }

  sample(n: number, seed: number, opts: SampleOptions = {}): tf.Tensor4D {
    return runSync(this.drawSteps(n, seed, opts));
  }

  /** sample() on a backend that reads values back asynchronously (WebGPU): the same samples, with a turn of the
   *  event loop after every step so that a live view can show its frame. */
  sampleAsync(n: number, seed: number, opts: SampleOptions = {}): Promise<tf.Tensor4D> {
    return runAsync(this.drawSteps(n, seed, opts));
  }

  private *drawSteps(n: number, seed: number, opts: SampleOptions): Steps<tf.Tensor4D> {
    const x = yield* this.rawSteps(n, seed, opts);
    const out = tf.tidy(() => tf.clipByValue(tf.div(tf.add(x, 1), 2), 0, 1) as tf.Tensor4D);
    x.dispose();
    return out;
  }

  /** x: test images in [0, 1]. */
  pictures(x01: tf.Tensor4D, labels: number[] | undefined, seed: number): Picture[] {
    const out: Picture[] = [];
    const x = tf.tidy(() => tf.sub(tf.mul(x01, 2), 1) as tf.Tensor4D); // the training scale [-1, 1]
    const rng = new Rng(seed);
    // the forward process q(x_t | x_0) on a few test images: t = 0, T/10, ..., T-1 across a row
    const k = Math.min(4, x.shape[0]),
      cols = 10;
    const ts = Array.from({ length: cols }, (_, i) =>
      Math.min(this.schedule.T - 1, Math.round((i * this.schedule.T) / (cols - 1))),
    );
    out.push({
      name: 'forward-process',
      images: tf.tidy(() => {
        const rows: tf.Tensor4D[] = [];
        for (let i = 0; i < k; i++) {
          const xi = tf.tile(tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]), [cols, 1, 1, 1]) as tf.Tensor4D;
          const eps = tf.randomNormal(xi.shape, 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
          rows.push(tf.clipByValue(tf.div(tf.add(qSample(this.schedule, xi, ts, eps), 1), 2), 0, 1) as tf.Tensor4D);
        }
        return tf.concat(rows, 0) as tf.Tensor4D;
      }),
      cols,
      caption: `the forward process: test images noised to t = ${ts.join(', ')} (x_t = sqrt(alphaBar) x0 + sqrt(1 - alphaBar) eps)`,
    });
    // the reverse process: 4 samples, 10 snapshots each of x_t (one row) and of the x0hat predicted there (the row below)
    const frames: tf.Tensor4D[] = [],
      x0s: tf.Tensor4D[] = [];
    const steps = this.defaultSteps(getSampler(this.cfg.sampler));
    const keep = new Set(Array.from({ length: cols }, (_, i) => Math.max(1, Math.round(((i + 1) * steps) / cols))));
    const last = this.sample(4, rng.seed(), {
      onFrame: (img, step, _total, more) => {
        if (!keep.has(step)) return;
        frames.push(tf.clone(img));
        x0s.push(tf.clone(more!.x0!()));
      },
    });
    last.dispose();
    out.push({
      name: 'denoising',
      images: tf.tidy(() => {
        const stacked = tf.stack([tf.stack(frames, 1), tf.stack(x0s, 1)], 1); // [4, 2, cols, H, W, C]
        const [n, r, c, H, W, C] = stacked.shape;
        return tf.reshape(stacked, [n * r * c, H, W, C]) as tf.Tensor4D;
      }),
      cols: frames.length,
      caption: `sampling (${this.cfg.sampler}, ${steps} steps), 4 samples in pairs of rows: x_t from noise x_T to the image x_0, and below it the x_0 the model predicts at that step, x0hat = (x_t - sqrt(1 - alphaBar_t) eps) / sqrt(alphaBar_t)`,
    });
    tf.dispose([...frames, ...x0s]);
    if (this.cond?.kind === 'label') {
      const C = this.info.numClasses;
      const labels = Array.from({ length: C * 8 }, (_, i) => Math.floor(i / 8));
      out.push({
        name: 'classes',
        images: this.sample(C * 8, rng.seed(), { labels }),
        cols: 8,
        caption: `one row per class (${(this.info.classNames ?? []).join(', ')}), guidance ${this.cfg.guidance}`,
      });
    }
    void labels;
    x.dispose();
    return out;
  }

  /**
   * The DDPM variational bound on -log p(x) of the test images (likelihood.ts), nats/image and bits/dim, with its terms
   * L_T, sum_t L_{t-1} (opts.vlbTimesteps stratified draws of t per image, default VLB_TIMESTEPS = 8; 'all' sums every t)
   * and L_0; conditional models are scored given each image's label or caption, -log p(x | y). Also the mean denoising
   * loss at random t (a training-progress figure). One chunk of 100 images per UNet pass; K + 2 passes per image.
   */
  evaluate(batches: Iterable<EvalBatch>, opts: EvalOptions & { vlbTimesteps?: number | 'all' }): EvalResult {
    const K = opts.vlbTimesteps ?? VLB_TIMESTEPS;
    let prior = 0,
      decoder = 0,
      diffusion = 0,
      mse = 0,
      timesteps = 0;
    const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
    const images = new PerImageNats(opts.perImage);
    const { n } = sumOverChunks(
      batches,
      100,
      ({ x, y, captions }, k, i) => {
        const c = this.cond ? this.cond.evalEmbedSeq({ labels: y, prompts: captions }, k) : null;
        const net = (xt: tf.Tensor4D, t: ArrayLike<number>) => this.unet.forward(xt, t, c);
        const rng = new Rng(opts.seed + i);
        mse += k * diffusionLoss(this.schedule, this.cfg.prediction, net, x, rng.seed()).terms.mse.dataSync()[0];
        const b = variationalBound(this.schedule, epsPredictor(this.schedule, this.cfg.prediction, net), x, {
          timesteps: K,
          seed: rng.seed(),
        });
        prior += sum(b.prior);
        decoder += sum(b.decoder);
        diffusion += sum(b.diffusion);
        if (images.wanted) images.push(b.prior.map((p, j) => p + b.diffusion[j] + b.decoder[j]));
        timesteps = b.timesteps;
        return 0;
      },
      opts.onBatch,
    );
    const per = (v: number) => v / Math.max(1, n);
    const { height: H, width: W, channels: C } = this.info;
    // DDPM: L = L_T + sum_{t=2..T} L_{t-1} + L_0 >= -log P(x) of the 8-bit data (Ho et al. 2020, eq. 5)
    const likelihood = likelihoodFigure(per(prior + diffusion + decoder), H * W * C, 'bound', 'VLB');
    return withPerImage(
      {
        n,
        likelihood,
        terms: {
          vlbPriorNats: per(prior),
          vlbDiffusionNats: per(diffusion),
          vlbDecoderNats: per(decoder),
          denoisingMse: per(mse),
          vlbTimesteps: timesteps,
        },
      },
      images,
    );
  }

  networks(): NetworkSpec[] {
    const { height: H, width: W, channels: C } = this.info;
    const cond = this.cond;
    return [
      ...(cond ? [cond.network()] : []),
      {
        name: 'denoise',
        info: { diffusion: { alphaBar: Array.from(this.schedule.alphaBar) } },
        doc: `The UNet's ${this.cfg.prediction} prediction from x_t [B, H, W, C] (NHWC, in [-1, 1]), temb = timestep_embedding(t) [B, ${this.cfg.channels[0]}]${cond ? ' and the condition (vec, seq, mask)' : ''}.`,
        example: (B, seed): Record<string, tf.Tensor> => {
          const rng = new Rng(seed);
          const t = Array.from({ length: B }, () => rng.int(this.cfg.T));
          const x = tf.randomNormal([B, H, W, C], 0, 1, 'float32', rng.seed());
          const temb = timestepEmbedding(t, this.cfg.channels[0]);
          if (!cond) return { x, temb };
          const c = cond.exampleSeq(B, rng.seed());
          return { x, temb, vec: c.vec, seq: c.seq, mask: c.mask };
        },
        run: (i) => {
          const c = cond ? { vec: i.vec as tf.Tensor2D, seq: i.seq as tf.Tensor3D, mask: i.mask as tf.Tensor2D } : null;
          return { out: this.unet.forwardEmb(i.x as tf.Tensor4D, i.temb as tf.Tensor2D, c) };
        },
      },
    ];
  }

  dispose(): void {
    this.params.dispose();
  }
}

export const diffusionFamily: Family<DiffusionModelConfig> = defineFamily({
  name: 'diffusion',
  summary:
    'Denoising diffusion: a UNet learns to predict the noise eps in x_t = sqrt(alphaBar_t) x0 + sqrt(1 - alphaBar_t) eps; DDIM/DDPM sampling, label or text conditioning with classifier-free guidance',
  modelSchema: diffusionModelSchema,
  defaults: {
    data: { dataset: 'fashion-mnist', preprocess: 'symmetric' },
    train: {
      epochs: 10,
      batchSize: 128,
      lr: 2e-4,
      ema: 0.999,
      warmupSteps: 200,
      clipNorm: 1,
      sampleEvery: 1000,
      checkpointEvery: 1000,
    },
  },
  tinyPreset: { channels: [8, 16], groups: 4, embedDim: 16, T: 40, steps: 4, cond: { dim: 16 } },
  lossUnit: 'mean squared error of the noise',
  requiredPreprocess: 'symmetric',
  generation: 'steps',
  samplingOptions: ['guidance', 'steps', 'sampler', 'eta', 'animate'],
  create: (m, info, seed) => new DiffusionModel(m, info, seed),
});
