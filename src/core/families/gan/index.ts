// The GAN family: a generator G(z, y) against a discriminator D(x, y), trained by alternating updates with two
// optimisers (non-saturating, hinge or WGAN-GP loss); label or text conditioning; slerp in z. Used via the registry.
import * as tf from '@tensorflow/tfjs-core';
import type {
  DataInfo,
  Family,
  GenerativeModel,
  LatentSpace,
  NetworkSpec,
  Picture,
  SampleOptions,
} from '../../family.ts';
import { defineFamily, sampleTemperature } from '../../family.ts';
import { Conditioner, sampleCondInput, type CondInput } from '../../conditioning/conditioner.ts';
import { UserError } from '../../errors.ts';
import { ParamStore } from '../../nn/params.ts';
import { Rng } from '../../tensor/rng.ts';
import type { LossOutput, OptimizerGroup, StepContext, StepResult } from '../../train/trainer.ts';
import { checkGanConfig, dLrScaleOf, ganModelSchema, type GanModelConfig } from './config.ts';
import { discriminatorLoss, generatorLoss, gradientPenalty } from './loss.ts';
import { Discriminator, Generator, stopGradient } from './networks.ts';
import { REFERENCE_SEED, drawNoise, generateImages, sampleNoise, slerpPath } from './sample.ts';
import { DivergenceWatch, ganTrainStep, type GanPlayers } from './train-step.ts';

export class GanModel implements GenerativeModel, GanPlayers {
  readonly params: ParamStore;
  readonly G: Generator;
  readonly D: Discriminator;
  /** G's and D's own embeddings of y (null when unconditional). */
  readonly condG: Conditioner | null;
  readonly condD: Conditioner | null;
  readonly watch: DivergenceWatch;

  constructor(
    readonly cfg: GanModelConfig,
    readonly info: DataInfo,
    seed: number,
  ) {
    checkGanConfig(cfg, info);
    this.params = new ParamStore(seed);
    const conditional = cfg.cond.kind !== 'none';
    this.condG = conditional ? new Conditioner(cfg.cond, info, this.params, 'G.cond') : null;
    this.condD = conditional ? new Conditioner(cfg.cond, info, this.params, 'D.cond') : null;
    this.G = new Generator(cfg, info, this.params, this.condG?.dim ?? 0);
    this.D = new Discriminator(cfg, info, this.params, this.condD?.dim ?? 0);
    this.watch = new DivergenceWatch(cfg.loss, cfg.divergence.lossFloor, cfg.divergence.steps);
  }

  /** G's variables (G.*: the generator and its conditioner). */
  generatorVars(): Record<string, tf.Variable> {
    return Object.fromEntries(Object.entries(this.params.vars).filter(([k]) => k.startsWith('G.')));
  }

  /** D's variables (D.*: the discriminator and its conditioner). */
  discriminatorVars(): Record<string, tf.Variable> {
    return Object.fromEntries(Object.entries(this.params.vars).filter(([k]) => k.startsWith('D.')));
  }

  optimizerGroups(): Record<string, OptimizerGroup> {
    return { D: { vars: this.discriminatorVars(), lrScale: dLrScaleOf(this.cfg) }, G: { vars: this.generatorVars() } };
  }

  /** The EMA (and the weights sampling swaps in) covers G only: D is not needed to sample. */
  emaVars(): Record<string, tf.Variable> {
    return this.generatorVars();
  }

  trainStep(
    x: tf.Tensor4D,
    y: tf.Tensor1D | null,
    seed: number,
    captions: string[] | null,
    ctx: StepContext,
  ): StepResult {
    return ganTrainStep(this, x, y, seed, captions, ctx);
  }

  dropMask(B: number, seed: number): boolean[] | null {
    return this.condG ? this.condG.dropMask(B, seed) : null;
  }

  /** c_G, c_D [B, dim] for a training batch's condition (rows with drop[i] get each conditioner's null embedding). */
  private embed(cond: Conditioner | null, c: CondInput, B: number, drop: boolean[] | null): tf.Tensor2D | null {
    return cond ? cond.embed(c, B, drop) : null;
  }

  generate(z: tf.Tensor2D, cond: CondInput, drop: boolean[] | null): tf.Tensor4D {
    return tf.tidy(() => this.G.forward(z, this.embed(this.condG, cond, z.shape[0], drop)));
  }

  /** D's outputs on real and fake, and L_D (+ lambda GP for wgan-gp) with its terms. */
  discriminatorObjective(
    real: tf.Tensor4D,
    fake: tf.Tensor4D,
    cond: CondInput,
    drop: boolean[] | null,
    seed: number,
  ): LossOutput {
    return tf.tidy(() => {
      const B = real.shape[0];
      const cD = this.embed(this.condD, cond, B, drop);
      // one D call on [real; fake] (D has no batch norm, so this equals two calls), split again
      const { out: both, classLogits } = this.D.forwardWithClass(
        tf.concat([real, fake], 0) as tf.Tensor4D,
        cD && (tf.concat([cD, cD], 0) as tf.Tensor2D),
      );
      const dReal = tf.slice(both, 0, B) as tf.Tensor1D,
        dFake = tf.slice(both, B, B) as tf.Tensor1D;
      const lossD = discriminatorLoss(this.cfg.loss, dReal, dFake);
      const shown = (d: tf.Tensor1D) => tf.mean(this.cfg.loss === 'ns' ? tf.sigmoid(d) : d) as tf.Scalar;
      const terms: Record<string, tf.Scalar> = { lossD, dReal: shown(dReal), dFake: shown(dFake) };
      let loss = lossD;
      if (classLogits) {
        // AC-GAN's class head learns q(y | x) on the real images only (whose labels are true)
        const ac = classLoss(tf.slice(classLogits, 0, B) as tf.Tensor2D, cond, drop, this.info.numClasses);
        loss = tf.add(loss, tf.mul(this.cfg.acWeight, ac));
        terms.acD = ac;
      }
      if (this.cfg.loss === 'wgan-gp') {
        const eps = tf.randomUniform([B], 0, 1, 'float32', seed) as tf.Tensor1D;
        const { gp, gradNorm } = gradientPenalty((xh) => this.D.forward(xh, cD), real, fake, eps);
        loss = tf.add(lossD, tf.mul(gp, this.cfg.gpWeight));
        terms.gp = gp;
        terms.gpGradNorm = gradNorm;
      }
      return { loss, terms } as unknown as tf.TensorContainer;
    }) as unknown as LossOutput;
  }

  generatorObjective(B: number, cond: CondInput, drop: boolean[] | null, seed: number): LossOutput {
    return tf.tidy(() => {
      const lambda = this.cfg.modeSeeking;
      const h = lambda > 0 ? Math.floor(B / 2) : 0;
      // mode seeking: rows i and h + i share a condition (the first h rows'), each with its own noise
      const [c, d] = h > 0 ? pairConditions(cond, drop, B, h) : [cond, drop];
      const z = drawNoise(B, this.cfg.latent, seed);
      const fake = this.G.forward(z, this.embed(this.condG, c, B, d));
      const judged = this.D.forwardWithClass(fake, this.embed(this.condD, c, B, d));
      const lossG = generatorLoss(this.cfg.loss, judged.out);
      let loss: tf.Tensor = lossG;
      const terms: Record<string, tf.Tensor> = { lossG: tf.clone(lossG) };
      if (judged.classLogits) {
        // AC-GAN: G is paid for images D's class head reads as the class asked for
        const ac = classLoss(judged.classLogits, c, d, this.info.numClasses);
        loss = tf.add(loss, tf.mul(this.cfg.acWeight, ac));
        terms.acG = ac;
      }
      if (h === 0) return { loss, terms } as unknown as tf.TensorContainer;
      // MSGAN (Mao et al. 2019, eq. 3): L_ms = mean|G(z1, c) - G(z2, c)| / mean|z1 - z2|, and L_G + lambda / (L_ms + 1e-5)
      const gap = (t: tf.Tensor) => tf.mean(tf.abs(tf.sub(tf.slice(t, 0, h), tf.slice(t, h, h))));
      const ms = tf.div(gap(fake), gap(z)) as tf.Scalar;
      terms.modeSeeking = ms;
      return {
        loss: tf.add(loss, tf.mul(lambda, tf.reciprocal(tf.add(ms, 1e-5)))),
        terms,
      } as unknown as tf.TensorContainer;
    }) as unknown as LossOutput;
  }

  /**
   * One scalar whose gradient w.r.t. D's variables is grad_D L_D and w.r.t. G's is grad_G L_G, for a single-loss
   * trainer (simultaneous updates of both players with one optimiser): L = L_D(x, sg(G(z))) + L_G(G(z); sg(D)), where
   * sg passes values and stops gradients. The run uses trainStep (alternating updates, two optimisers) instead.
   */
  loss(x: tf.Tensor4D, y: tf.Tensor1D | null, seed: number, captions?: string[] | null): LossOutput {
    const B = x.shape[0];
    const rng = new Rng(seed);
    const drop = this.dropMask(B, rng.seed());
    const zSeed = rng.seed(),
      epsSeed = rng.seed();
    const cond: CondInput = { labels: y, prompts: captions ?? null };
    return tf.tidy(() => {
      const fake = this.generate(drawNoise(B, this.cfg.latent, zSeed), cond, drop);
      const d = this.discriminatorObjective(x, stopGradient(fake), cond, drop, epsSeed);
      const cD = this.embed(this.condD, cond, B, drop);
      const lossG = generatorLoss(this.cfg.loss, this.D.forward(fake, cD && stopGradient(cD), stopGradient));
      return { loss: tf.add(d.loss, lossG), terms: { ...d.terms, lossG } } as unknown as tf.TensorContainer;
    }) as unknown as LossOutput;
  }

  /** c [n, dim] for sampling: labels (label models), prompts (text models) or the null embedding; null if unconditional.
   *  With guidance w != 1: c_null + w (c - c_null). */
  private condFor(n: number, c: CondInput | null, w = 1): tf.Tensor2D | null {
    const cond = this.condG;
    if (!cond) return null;
    if (!c) return cond.nullEmbed(n);
    if (w === 1) return cond.embed(c, n);
    return tf.tidy(() => {
      const u = cond.nullEmbed(n);
      return tf.add(u, tf.mul(w, tf.sub(cond.embed(c, n), u))) as tf.Tensor2D;
    });
  }

  /** The reference batch for G's batch norm when sampling: fixed noise, every class in turn (label models) or the
   *  request's prompts cycled (text models; the null embedding without prompts), the same for every chunk of a
   *  request. Null without batch norm. */
  private reference(prompts?: readonly string[], w = 1): { z: tf.Tensor2D; c: tf.Tensor2D | null } | null {
    if (this.cfg.gNorm !== 'batch') return null;
    const R = this.cfg.statsBatch;
    const z = drawNoise(R, this.cfg.latent, REFERENCE_SEED);
    if (!this.condG) return { z, c: null };
    if (this.condG.kind === 'label')
      return { z, c: this.condFor(R, { labels: Array.from({ length: R }, (_, i) => i % this.info.numClasses) }, w) };
    const ref = prompts?.length ? Array.from({ length: R }, (_, i) => prompts[i % prompts.length]) : null;
    return { z, c: ref ? this.condFor(R, { prompts: ref }, w) : this.condG.nullEmbed(R) };
  }

  /**
   * n images in [0, 1]: x = (G(z, c) + 1) / 2 with z ~ N(0, I) drawn from seed (the same seed, the same noise: the
   * fixed grid rendered during training). Labels or prompts cycled over the samples (a label model given none: every
   * class in turn; a text model given no prompt: the null embedding).
   */
  sample(n: number, seed: number, opts: SampleOptions = {}): tf.Tensor4D {
    if (!(Number.isInteger(n) && n > 0))
      throw new UserError(`the number of samples must be a positive integer, got ${n}`);
    const c = sampleCondInput(this.condG, n, opts, 'this GAN');
    const w = opts.guidance ?? this.cfg.guidance;
    if (!(w >= 0)) throw new UserError(`guidance must be a number >= 0, got ${w}`);
    const T = sampleTemperature(opts.temperature, this.cfg.temperature);
    return tf.tidy(() => this.generateFrom(this.noise(n, seed, T, opts.first ?? 0), c, opts.prompts, w));
  }

  /** The noise of samples first .. first + n - 1 of a seed at temperature T: z ~ N(0, T^2 I), [n, latent]. */
  private noise(n: number, seed: number, T: number, first = 0): tf.Tensor2D {
    return tf.tidy(() => {
      const z = sampleNoise(n, this.cfg.latent, seed, first);
      return T === 1 ? z : (tf.mul(z, T) as tf.Tensor2D);
    });
  }

  /** Images [n,H,W,C] in [0, 1] from noise z [n, latent] and the samples' condition (see sample()), guidance w. */
  private generateFrom(z: tf.Tensor2D, c: CondInput | null, prompts?: readonly string[], w = 1): tf.Tensor4D {
    return tf.tidy(() => generateImages(this.G, z, this.condFor(z.shape[0], c, w), this.reference(prompts, w)));
  }

  /**
   * The latent space: the noise z [n, latent]. prior = z ~ N(0, T^2 I) as sample() draws it; decode =
   * G(z, c) in [0, 1] with the condition and batch-norm reference batch as sample() uses them. No encode: a GAN has
   * no encoder.
   */
  latentSpace(): LatentSpace {
    const L = this.cfg.latent;
    return {
      dim: L,
      description: `z ~ N(0, I), ${L} dimensions`,
      prior: (n, seed, temperature) => this.noise(n, seed, sampleTemperature(temperature, this.cfg.temperature)),
      decode: (z, opts = {}) => {
        if (z.rank !== 2 || z.shape[1] !== L)
          throw new Error(`GAN noise has shape [n, ${L}], got [${z.shape.join(', ')}]`);
        return this.generateFrom(z, sampleCondInput(this.condG, z.shape[0], opts, 'this GAN'), opts.prompts);
      },
    };
  }

  /** Spherical interpolation between pairs of noise vectors z_a, z_b: `steps` images per row, one pair (and class) per row. */
  interpolation(rows: number, steps: number, seed: number): tf.Tensor4D {
    return tf.tidy(() => {
      const rng = new Rng(seed);
      const a = drawNoise(rows, this.cfg.latent, rng.seed()),
        b = drawNoise(rows, this.cfg.latent, rng.seed());
      const z = slerpPath(a, b, steps); // [rows steps, latent]
      const n = rows * steps;
      const c =
        this.condG?.kind === 'label'
          ? { labels: Array.from({ length: n }, (_, i) => Math.floor(i / steps) % this.info.numClasses) }
          : null;
      return generateImages(this.G, z, this.condFor(n, c), this.reference());
    });
  }

  /** A GAN has no encoder: its pictures are spherical interpolations between noise vectors. */
  pictures(_x: tf.Tensor4D, _labels: number[] | undefined, seed: number): Picture[] {
    const rows = 6,
      steps = 10;
    const cls = this.condG?.kind === 'label' ? ', one class per row' : '';
    return [
      {
        name: 'interpolation',
        images: this.interpolation(rows, steps, seed),
        cols: steps,
        caption: `spherical interpolation (slerp) between two noise vectors z_a, z_b per row${cls}`,
      },
    ];
  }

  networks(): NetworkSpec[] {
    const { height: H, width: W, channels: C } = this.info;
    const { condG, condD } = this;
    return [
      ...(condG ? [condG.network()] : []),
      {
        name: 'generate',
        doc: `x = G(z${condG ? ', c' : ''}) in [-1, 1], [B, H, W, C] (NHWC), from z [B, latent]${condG ? ' and c = G_cond(...).vec' : ''}; batch norm uses the batch's statistics.`,
        example: (B, seed) => {
          const rng = new Rng(seed);
          return {
            z: tf.randomNormal([B, this.cfg.latent], 0, 1, 'float32', rng.seed()),
            ...condG?.exampleVec(B, rng.seed()),
          };
        },
        run: (i) => ({ out: this.G.forward(i.z as tf.Tensor2D, (i.c as tf.Tensor2D) ?? null) }),
      },
      ...(condD ? [condD.network()] : []),
      {
        name: 'discriminate',
        doc: `D(x${condD ? ', c' : ''}) [B] for x [B, H, W, C] (NHWC, in [-1, 1])${condD ? ' and c = D_cond(...).vec' : ''}${this.cfg.acWeight > 0 ? ', and the auxiliary class logits [B, K]' : ''}.`,
        example: (B, seed) => {
          const rng = new Rng(seed);
          return {
            x: tf.randomUniform([B, H, W, C], -1, 1, 'float32', rng.seed()),
            ...condD?.exampleVec(B, rng.seed()),
          };
        },
        run: (i): Record<string, tf.Tensor> => {
          const { out, classLogits } = this.D.forwardWithClass(i.x as tf.Tensor4D, (i.c as tf.Tensor2D) ?? null);
          return classLogits ? { out, classLogits } : { out };
        },
      },
    ];
  }

  dispose(): void {
    this.params.dispose();
  }
}

/**
 * AC-GAN's class loss: the mean cross-entropy -log q(y_i | x_i) of class logits [B, C] against the batch's labels,
 * over the rows whose label was not dropped (those were unconditional). 0 when every row was dropped.
 */
function classLoss(logits: tf.Tensor2D, cond: CondInput, drop: boolean[] | null, C: number): tf.Scalar {
  return tf.tidy(() => {
    const B = logits.shape[0];
    const y = cond.labels instanceof tf.Tensor ? cond.labels : tf.tensor1d(cond.labels ?? [], 'int32');
    const ce = tf.neg(tf.sum(tf.mul(tf.oneHot(tf.cast(y, 'int32'), C), tf.logSoftmax(logits)), 1)); // [B]
    const keep = tf.tensor1d(Array.from({ length: B }, (_, i) => (drop?.[i] ? 0 : 1)));
    return tf.div(tf.sum(tf.mul(ce, keep)), tf.maximum(tf.sum(keep), 1)) as tf.Scalar;
  });
}

/** The batch's condition (and drop mask) with row h + i set to row i's for i < h: pairs for the mode-seeking term. */
function pairConditions(cond: CondInput, drop: boolean[] | null, B: number, h: number): [CondInput, boolean[] | null] {
  const idx = Array.from({ length: B }, (_, i) => (i >= h && i < 2 * h ? i - h : i));
  const labels = cond.labels;
  return [
    {
      labels:
        labels instanceof tf.Tensor
          ? (tf.gather(labels, idx) as tf.Tensor1D)
          : labels
            ? idx.map((i) => labels[i])
            : null,
      prompts: cond.prompts ? idx.map((i) => cond.prompts![i]) : null,
    },
    drop ? idx.map((i) => drop[i]) : null,
  ];
}

export const ganFamily: Family<GanModelConfig> = defineFamily({
  name: 'gan',
  summary:
    'GAN: a generator G(z, y) against a discriminator D(x, y) (DCGAN conv or MLP); non-saturating, hinge or WGAN-GP loss; two optimisers; EMA of G; label or text conditioning (D reads y as an input channel or by projection); guidance; slerp in z',
  modelSchema: ganModelSchema,
  defaults: {
    data: { dataset: 'fashion-mnist', preprocess: 'symmetric' },
    // DCGAN's Adam (beta1 0.5) with G at 4e-4 and D at DCGAN's 2e-4 (model.dLrScale's usual 0.5); EMA of G for
    // sampling; the fixed-noise grid every 200 steps
    train: {
      epochs: 5,
      batchSize: 64,
      lr: 4e-4,
      beta1: 0.5,
      beta2: 0.999,
      ema: 0.999,
      sampleEvery: 200,
      checkpointEvery: 500,
      logEvery: 10,
    },
  },
  // an MLP GAN: the contract suite's default variant then trains on wasm too, and its 'conv' variant covers arch=conv
  // D at G's rate: the default 0.5 is for real budgets; over the contract's 150 steps a tiny D at half G's rate gave
  // G too little signal to move its samples towards the batch (mean-image gap 0.205 -> 0.200 at 0.5)
  tinyPreset: {
    arch: 'mlp',
    latent: 8,
    hidden: 16,
    channels: 4,
    stages: 2,
    statsBatch: 16,
    dLrScale: 1,
    cond: { dim: 16 },
  },
  lossUnit: 'D loss + G loss',
  requiredPreprocess: 'symmetric',
  create: (m, info, seed) => new GanModel(m, info, seed),
  samplingOptions: ['guidance', 'temperature'],
});
