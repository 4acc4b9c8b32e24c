// The flow family: a RealNVP / Glow multi-scale normalizing flow with an exact likelihood, uniform or variational
// dequantization, sampling with a temperature, label or text conditioning of every coupling network. Used via the registry.
import * as tf from '@tensorflow/tfjs-core';
import type {
  DataInfo,
  EvalBatch,
  EvalOptions,
  Family,
  GenerativeModel,
  NetworkSpec,
  LatentSpace,
  Picture,
  SampleOptions,
} from '../../family.ts';
import { defineFamily, sampleTemperature } from '../../family.ts';
import { Conditioner, sampleCondInput } from '../../conditioning/conditioner.ts';
import { sumOverChunks } from '../../eval/chunks.ts';
import { UserError } from '../../errors.ts';
import { logMeanExp } from '../../math/distributions.ts';
import { likelihoodFigure, PerImageNats, withPerImage, type EvalResult } from '../../eval/result.ts';
import { ParamStore } from '../../nn/params.ts';
import type { LossOutput } from '../../train/trainer.ts';
import { Rng, mixSeed } from '../../tensor/rng.ts';
import { checkFlowConfig, flowModelSchema, type FlowModelConfig } from './config.ts';
import { VariationalDequantizer } from './dequant.ts';
import { DataTransform } from './layers.ts';
import { flowLoss, negLogDensity, nll8bit } from './loss.ts';
import { MultiScaleFlow } from './model.ts';
import { decode, drawLatents, encode, interpolate, levels8bit, roundTrip, to8bit, type FlowMaps } from './sample.ts';

/** Images per evaluation chunk (no tape in evaluation: activations of one chunk only). */
const EVAL_ROWS = 250;

/** Temperatures of the samples picture, one row each. */
export const PICTURE_TEMPERATURES = [0, 0.5, 0.7, 0.85, 1];

export class FlowModel implements GenerativeModel, FlowMaps {
  readonly params: ParamStore;
  readonly cond: Conditioner | null;
  readonly transform: DataTransform;
  readonly flow: MultiScaleFlow;
  readonly dequant: VariationalDequantizer | null;
  /** D = H W C, the dimensions of bits/dim. */
  readonly dims: number;
  /** 1 once actnorm has been initialised from data (saved, so a loaded model does not initialise again). */
  private readonly actnormReady: tf.Variable;
  private actnormDone = false;

  constructor(
    readonly cfg: FlowModelConfig,
    readonly info: DataInfo,
    seed: number,
  ) {
    checkFlowConfig(cfg, info);
    const { height: H, width: W, channels: C } = info;
    this.params = new ParamStore(seed);
    this.cond = cfg.cond.kind !== 'none' ? new Conditioner(cfg.cond, info, this.params, 'cond') : null;
    this.transform = new DataTransform(cfg.transform, cfg.logitAlpha);
    this.flow = new MultiScaleFlow(cfg, H, W, C, this.params, this.cond?.dim ?? 0, new Rng(mixSeed(seed, 0x1f1)));
    this.dequant = cfg.dequant.kind === 'variational' ? new VariationalDequantizer(cfg, [H, W, C], this.params) : null;
    this.actnormReady = this.params.buffer('actnorm.initialized', [1], 'zeros');
    this.dims = H * W * C;
  }

  /**
   * The 8-bit NLL bound per image [B] (nats) of preprocessed images x in [0,1] with condition c:
   *   uniform:     y = x (the pipeline's (k + u)/256),             nll = -log p(y) + D log 256
   *   variational: k = floor(256 x), u ~ q(u|k), y = (k + u)/256,  nll = -log p(y) + D log 256 + log q(u|k)
   * -log p(y) = -[sum_s log N(z_s) + log|det df/dv| + log|det dT/dy|], v = T(y), z = f(v).
   */
  nll(x: tf.Tensor4D, c: tf.Tensor2D | null, seed: number, initActnorm = false, redrawUniform = false): tf.Tensor1D {
    return tf.tidy(() => {
      let y = x,
        logq: tf.Tensor1D | null = null;
      if (this.dequant) {
        const k = levels8bit(x);
        const q = this.dequant.sample(k, seed);
        y = tf.div(tf.add(k, q.u), 256) as tf.Tensor4D;
        logq = q.logq;
      } else if (redrawUniform) {
        // a fresh u ~ U[0,1) in place of the pipeline's (importance samples of the uniform q)
        y = tf.div(tf.add(levels8bit(x), tf.randomUniform(x.shape, 0, 1, 'float32', seed)), 256) as tf.Tensor4D;
      }
      const t = this.transform.forward(y);
      const f = this.flow.forward(t.y, { cond: c, initActnorm });
      return nll8bit(negLogDensity(f.zs, tf.add(f.logdet, t.logdet) as tf.Tensor1D), this.dims, logq);
    });
  }

  /** Data-dependent actnorm init: one forward pass over the first training batch, each actnorm set from its input. */
  private initActnorm(x: tf.Tensor4D, c: tf.Tensor2D | null, seed: number): void {
    if (this.actnormDone || !this.cfg.actnorm) return;
    if (this.actnormReady.dataSync()[0] > 0) {
      this.actnormDone = true;
      return;
    }
    tf.tidy(() => {
      this.nll(x, c, seed, true);
    });
    tf.tidy(() => this.actnormReady.assign(tf.ones([1])));
    this.actnormDone = true;
  }

  loss(x: tf.Tensor4D, y: tf.Tensor1D | null, seed: number, captions?: string[] | null): LossOutput {
    const B = x.shape[0];
    const rng = new Rng(seed);
    const dropSeed = rng.seed(),
      noiseSeed = rng.seed();
    return tf.tidy(() => {
      // rows dropped with probability cond.dropProb train the null embedding (samples of a text model without a prompt)
      const c = this.cond
        ? this.cond.embed({ labels: y, prompts: captions ?? null }, B, this.cond.dropMask(B, dropSeed))
        : null;
      this.initActnorm(x, c, noiseSeed);
      return flowLoss(this.nll(x, c, noiseSeed), this.dims) as unknown as tf.TensorContainer;
    }) as unknown as LossOutput;
  }

  /** c [n, dim] for labels (label models), prompts (text models) or the null embedding; null when unconditional. */
  private condFor(n: number, labels?: ArrayLike<number> | null, prompts?: string[] | null): tf.Tensor2D | null {
    if (!this.cond) return null;
    if (this.cond.kind === 'label' && labels) return this.cond.embed({ labels: Array.from(labels) }, n);
    if (this.cond.kind === 'text' && prompts) return this.cond.embed({ prompts }, n);
    return this.cond.nullEmbed(n);
  }

  /** The temperature to sample at: opts.temperature, else the config's. */
  private temperature(opts: SampleOptions): number {
    return sampleTemperature(opts.temperature, this.cfg.temperature);
  }

  /**
   * n samples in [0,1] on the 8-bit grid: z_s ~ N(0, T^2 I), y = T^-1(f^-1(z)), k = floor(256 y), image k / 255.
   * Labels or prompts cycled over the samples (a label model given none: every class in turn; a text model given no
   * prompt: the null embedding). Equals latentSpace().decode(prior(n, seed, T), opts).
   */
  sample(n: number, seed: number, opts: SampleOptions = {}): tf.Tensor4D {
    if (!(Number.isInteger(n) && n > 0))
      throw new UserError(`the number of samples must be a positive integer, got ${n}`);
    const T = this.temperature(opts);
    const y = sampleCondInput(this.cond, n, opts, 'this flow');
    return tf.tidy(() =>
      this.decodeLatents(
        drawLatents(this.flow.latentShapes, n, seed, T, opts.first ?? 0),
        y?.labels as number[] | undefined,
        y?.prompts,
      ),
    );
  }

  /** Images on the 8-bit grid from the latents of every scale, with the condition as condFor takes it. */
  private decodeLatents(zs: tf.Tensor4D[], labels?: ArrayLike<number> | null, prompts?: string[] | null): tf.Tensor4D {
    return tf.tidy(() => to8bit(decode(this, zs, this.condFor(zs[0].shape[0], labels, prompts))));
  }

  /**
   * The latent space: z = f(T(y)) of every scale flattened, [n, H W C]. prior = the z sample() decodes at temperature
   * T (default the config's); decode = T^-1(f^-1(z)) on the 8-bit grid with the condition as sample() takes it;
   * encode = f(T(y)) of preprocessed images y in [0, 1): the 'dequantize' pipeline's (k + u) / 256 (k / 255 lands in
   * the same 8-bit bin too), so to8bit(decode(encode(y))) gives k / 255 back. encode uses opts' labels or prompts
   * (cycled) and, without them, the learned null embedding (the model's unconditional density, as evaluate() does).
   */
  latentSpace(): LatentSpace {
    const D = this.dims;
    return {
      dim: D,
      description: `z = f(x), ${D} dimensions (every scale's latents flattened), z ~ N(0, T^2 I)`,
      prior: (n, seed, temperature) => {
        const T = this.temperature({ temperature });
        return tf.tidy(() => MultiScaleFlow.flatten(drawLatents(this.flow.latentShapes, n, seed, T)));
      },
      decode: (z, opts = {}) => {
        if (z.rank !== 2 || z.shape[1] !== D)
          throw new Error(`flow codes have shape [n, ${D}], got [${z.shape.join(', ')}]`);
        const n = z.shape[0];
        const y = sampleCondInput(this.cond, n, opts, 'this flow');
        return tf.tidy(() => this.decodeLatents(this.flow.unflatten(z), y?.labels as number[] | undefined, y?.prompts));
      },
      encode: (x, opts = {}) => {
        const n = x.shape[0];
        // a condition only when one is given: a label model's default (every class in turn) suits sampling, not codes
        const y = opts.labels?.length || opts.prompts?.length ? sampleCondInput(this.cond, n, opts, 'this flow') : null;
        return tf.tidy(() =>
          MultiScaleFlow.flatten(encode(this, x, this.condFor(n, y?.labels as number[] | undefined, y?.prompts))),
        );
      },
    };
  }

  /**
   * Samples at several temperatures (the same eps in every row), test images beside their round trip f^-1(f(x)),
   * and interpolations in z between pairs of test images. x: preprocessed test images in [0,1].
   */
  pictures(x: tf.Tensor4D, labels: number[] | undefined, seed: number): Picture[] {
    const out: Picture[] = [];
    const [B, H, W, C] = x.shape;
    const useLabels = this.cond?.kind === 'label' && labels !== undefined;
    const cols = 8,
      nT = PICTURE_TEMPERATURES.length;
    const temps = tf.tidy(() => {
      // one batch: the same eps [cols] scaled by each T, rows by temperature
      const eps = drawLatents(this.flow.latentShapes, cols, seed, 1);
      const zs = eps.map(
        (e) =>
          tf.concat(
            PICTURE_TEMPERATURES.map((T) => tf.mul(e, T)),
            0,
          ) as tf.Tensor4D,
      );
      const labs =
        this.cond?.kind === 'label'
          ? Array.from({ length: nT * cols }, (_, i) => (i % cols) % this.info.numClasses)
          : null;
      return to8bit(decode(this, zs, this.condFor(nT * cols, labs)));
    });
    out.push({
      name: 'temperatures',
      images: temps,
      cols,
      caption: `samples at temperatures ${PICTURE_TEMPERATURES.join(', ')} (one row each): z = T eps with the same eps in every column`,
    });

    const k = Math.min(16, B);
    let err = 0;
    const pairs = tf.tidy(() => {
      const xs = tf.slice(x, 0, k);
      const r = roundTrip(this, xs, this.condFor(k, useLabels ? labels!.slice(0, k) : null));
      err = tf.max(tf.abs(tf.sub(r, xs))).dataSync()[0];
      return tf.reshape(tf.stack([xs, tf.clipByValue(r, 0, 1)], 1), [2 * k, H, W, C]) as tf.Tensor4D;
    });
    out.push({
      name: 'round-trip',
      images: pairs,
      cols: 16,
      caption: `test images (odd columns) beside f^-1(f(x)) (even columns): the flow is invertible, max |error| ${err.toExponential(1)}`,
    });

    const m = Math.min(4, Math.floor(B / 2)),
      steps = 8;
    if (m > 0) {
      // pairs (x_i, x_{B-1-i}), each with its own label when the model takes labels
      const lines = tf.tidy(() => {
        const ends = Array.from({ length: m }, (_, i) => B - 1 - i);
        const cond = (rows: number[]) => this.condFor(m, useLabels ? rows.map((r) => labels![r]) : null);
        const b = tf.gather(x, tf.tensor1d(ends, 'int32')) as tf.Tensor4D;
        return interpolate(this, tf.slice(x, 0, m), b, steps, cond(Array.from({ length: m }, (_, i) => i)), cond(ends));
      });
      out.push({
        name: 'interpolation',
        images: lines,
        cols: steps,
        caption:
          'linear interpolation in z between two test images (the ends are the images themselves), one pair per row',
      });
    }
    return out;
  }

  /**
   * Exact test NLL: { n, nll (nats per image on the 8-bit scale; a bound through the dequantization), bitsPerDim =
   * nll / (D ln 2), roundTripMaxAbs = max |f^-1(f(x)) - x| in [0,1] units }. Conditional models use each batch's labels
   * or captions (without them, the null embedding).
   */
  evaluate(batches: Iterable<EvalBatch>, opts: EvalOptions): EvalResult {
    let roundTripMaxAbs = 0,
      iwSum = 0;
    const K = opts.iwaeK;
    // per image: the dequantization bound, or the importance-weighted one when computed (the likelihood figure)
    const per = new PerImageNats(opts.perImage);
    const { n, sum } = sumOverChunks(
      batches,
      EVAL_ROWS,
      (b, k, index) => {
        const c = this.condFor(k, b.y ? b.y.dataSync() : null, b.captions ?? null);
        const nll = this.nll(b.x, c, mixSeed(opts.seed, index, 5));
        const err = tf.max(tf.abs(tf.sub(roundTrip(this, b.x, c), b.x)));
        const [s, e] = tf.stack([tf.sum(nll), err]).dataSync();
        roundTripMaxAbs = Math.max(roundTripMaxAbs, e);
        if (K <= 0) per.push(per.wanted ? nll.dataSync() : []);
        if (K > 0)
          iwSum += tf.tidy(() => {
            const iw = this.importanceWeightedNll(b.x, c, K, mixSeed(opts.seed, index, 6));
            per.push(per.wanted ? iw.dataSync() : []);
            return tf.sum(iw).dataSync()[0];
          });
        return s;
      },
      opts.onBatch,
    );
    // the exact density of the dequantized data: an upper bound on -log P(x) of the 8-bit data (Theis et al. 2016)
    const plain = likelihoodFigure(sum / Math.max(1, n), this.dims, 'bound', 'dequantization');
    const terms = { roundTripMaxAbs };
    if (K <= 0) return withPerImage({ n, likelihood: plain, terms }, per);
    const iw = likelihoodFigure(iwSum / Math.max(1, n), this.dims, 'bound', `IWAE k=${K}`, { samples: K });
    return withPerImage({ n, likelihood: iw, bounds: [plain], terms }, per);
  }

  /**
   * The importance-weighted bound on -log P(x) with K dequantization samples u_j ~ q(u|x) (uniform: fresh U[0,1)):
   *   -log P(x) <= -log (1/K) sum_j p((x + u_j)/256) 256^-D / q(u_j|x) = -logmeanexp_j(-nll_j)   [B]
   * K = 1 is the plain bound; it tightens as K grows (Burda et al. 2016; Ho et al. 2019, Flow++).
   */
  importanceWeightedNll(x: tf.Tensor4D, c: tf.Tensor2D | null, K: number, seed: number): tf.Tensor1D {
    const negs: tf.Tensor1D[] = [];
    for (let j = 0; j < K; j++)
      negs.push(tf.tidy(() => tf.neg(this.nll(x, c, mixSeed(seed, j), false, true)) as tf.Tensor1D));
    return tf.tidy(() => tf.neg(logMeanExp(tf.stack(negs), 0)) as tf.Tensor1D);
  }

  networks(): NetworkSpec[] {
    const { height: H, width: W, channels: C } = this.info;
    const cond = this.cond;
    return [
      ...(cond ? [cond.network()] : []),
      {
        name: 'density',
        doc: `The flow's latents z_s (NHWC, one per scale) and log|det dz/dy| [B] of y [B, H, W, C] in [0, 1] (dequantized 8-bit data, (k + u) / 256)${cond ? ' and c = embed(...).vec' : ''}: -log p(y) = -(sum_s log N(z_s; 0, I) + logdet).`,
        example: (B, seed): Record<string, tf.Tensor> => {
          const rng = new Rng(seed);
          const y = tf.randomUniform([B, H, W, C], 0, 1, 'float32', rng.seed());
          return { y, ...cond?.exampleVec(B, rng.seed()) };
        },
        run: (i) => {
          const t = this.transform.forward(i.y as tf.Tensor4D);
          const f = this.flow.forward(t.y, { cond: (i.c as tf.Tensor2D) ?? null });
          return { ...Object.fromEntries(f.zs.map((z, k) => [`z${k}`, z])), logdet: tf.add(f.logdet, t.logdet) };
        },
      },
    ];
  }

  dispose(): void {
    this.params.dispose();
  }
}

export const flowFamily: Family<FlowModelConfig> = defineFamily({
  name: 'flow',
  summary:
    'Normalizing flow (RealNVP / Glow): invertible z = f(x), exact log p(x) = log N(f(x)) + log|det df/dx|; multi-scale squeeze/split, actnorm, 1x1 convs, affine couplings; sampled by f^-1 at a temperature; label or text conditioning',
  modelSchema: flowModelSchema,
  defaults: {
    data: { dataset: 'fashion-mnist', preprocess: 'dequantize' },
    // no clipping: the gradient norm of the per-image NLL is 1e3..1e4 early on and clipping it slowed learning
    train: { epochs: 5, batchSize: 64, lr: 1e-3, sampleEvery: 0, checkpointEvery: 500 },
  },
  // an MLP coupling flow: the contract suite's default variant then trains on wasm too, and its 'conv' variant covers arch=conv
  tinyPreset: { arch: 'mlp', scales: 2, steps: 2, hidden: 16, dequant: { steps: 2, hidden: 8 }, cond: { dim: 16 } },
  requiredPreprocess: 'dequantize',
  samplingOptions: ['temperature'],
  create: (m, info, seed) => new FlowModel(m, info, seed),
});
