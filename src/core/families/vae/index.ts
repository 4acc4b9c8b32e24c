// The VAE and AE families: model objects for the trainer and CLI, plus their registry entries.
import * as tf from '@tensorflow/tfjs-core';
import type {
  NetworkSpec,
  DataInfo,
  EvalBatch,
  EvalOptions,
  Family,
  GenerativeModel,
  LatentSpace,
  Picture,
  SampleOptions,
} from '../../family.ts';
import { defineFamily } from '../../family.ts';
import { natsToBitsPerDim } from '../../math/units.ts';
import { likelihoodFigure, PerImageNats, withPerImage, type EvalResult } from '../../eval/result.ts';
import { mixSeed, Rng } from '../../tensor/rng.ts';
import { vaeModelSchema, type VaeModelConfig } from './config.ts';
import { aeLoss, elboTerms, iwaeBound, vaeLoss } from './loss.ts';
import { VaeNetworks } from './model.ts';
import { decodeMean, drawPrior, encodeMean, interpolate, manifold2d, reconstruct, traverse } from './sample.ts';
import { embedOrNull, givenConds, sampleConds } from '../../conditioning/conditioner.ts';

export class VaeModel implements GenerativeModel {
  readonly nets: VaeNetworks;
  readonly codeMean: tf.Variable | null = null;
  readonly codeStd: tf.Variable | null = null;

  constructor(
    readonly cfg: VaeModelConfig,
    readonly info: DataInfo,
    readonly variational: boolean,
    seed: number,
  ) {
    this.nets = new VaeNetworks(cfg, info, variational, seed);
    if (!variational) {
      this.codeMean = this.nets.params.buffer('codeStats.mean', [cfg.latent], 'zeros');
      this.codeStd = this.nets.params.buffer('codeStats.std', [cfg.latent], 'ones');
    }
  }

  get params() {
    return this.nets.params;
  }

  /** The condition c [B, dim] of a training or test batch (null when unconditional); see VaeNetworks.condition. */
  private batchCond(
    B: number,
    y: tf.Tensor1D | null | undefined,
    captions: string[] | null | undefined,
    drop?: boolean[],
  ): tf.Tensor2D | null {
    return embedOrNull(this.nets.cond, { labels: y ?? null, prompts: captions ?? null }, B, drop);
  }

  loss(x: tf.Tensor4D, y: tf.Tensor1D | null, seed: number, captions?: string[] | null) {
    const B = x.shape[0];
    const cond = this.nets.cond;
    // training always needs y: a missing label/caption is an error here, not a silent null embedding
    // rows with drop[i] (probability cond.dropProb) train the null embedding, used when sampling without y
    const c = cond
      ? cond.embed({ labels: y, prompts: captions ?? null }, B, cond.dropMask(B, mixSeed(seed, 17)))
      : null;
    return this.variational ? vaeLoss(this.nets, x, c, seed, this.cfg.beta) : aeLoss(this.nets, x, c);
  }

  /**
   * n prior samples: decode(prior(n, seed)) of latentSpace(). Label-conditional: opts.labels cycled (default every
   * class in turn). Text-conditional: opts.prompts cycled (default the null embedding, i.e. unconditional samples).
   * opts.guidance does not apply.
   */
  sample(n: number, seed: number, opts: SampleOptions = {}): tf.Tensor4D {
    const ys = sampleConds(this.nets.cond, opts, this.name); // checked before any work
    return tf.tidy(() => decodeMean(this.nets, this.prior(n, seed, opts.first ?? 0), ys));
  }

  /**
   * The latent space: codes z [n, L]. prior = the z sample() decodes (VAE: N(0, I); AE: the Gaussian fitted to
   * training codes); decode = the decoder mean with the condition as sample() takes it; encode = mu(x) (VAE) or the
   * code (AE) of preprocessed images x. A conditional model's encode without labels or prompts uses the learned null
   * embedding (the model's unconditional mode, as evaluate() does), so pass the images' own labels when they are known.
   */
  latentSpace(): LatentSpace {
    const L = this.cfg.latent;
    const check = (z: tf.Tensor2D) => {
      if (z.rank !== 2 || z.shape[1] !== L)
        throw new Error(`${this.variational ? 'VAE' : 'AE'} codes have shape [n, ${L}], got [${z.shape.join(', ')}]`);
    };
    return {
      dim: L,
      description: this.variational
        ? `z ~ N(0, I), ${L} dimensions`
        : `code z = enc(x), ${L} dimensions; prior: a diagonal Gaussian fitted to training codes`,
      prior: (n, seed) => this.prior(n, seed),
      decode: (z, opts = {}) => {
        check(z);
        return decodeMean(this.nets, z, sampleConds(this.nets.cond, opts, this.name));
      },
      encode: (x, opts = {}) => encodeMean(this.nets, x, givenConds(this.nets.cond, opts, this.name)),
    };
  }

  /** z [n, L] that sample(n, seed, { first }) decodes (see drawPrior). */
  private prior(n: number, seed: number, first = 0): tf.Tensor2D {
    const stats = this.codeMean && this.codeStd ? { mean: this.codeMean, std: this.codeStd } : undefined;
    return drawPrior(this.nets, n, seed, first, stats);
  }

  /** The name in messages: "this vae" or "this ae". */
  private get name(): string {
    return this.variational ? 'this vae' : 'this ae';
  }

  /** AE only: fit the diagonal Gaussian used for sampling to the codes of some training images. */
  afterTraining(batches: Iterable<EvalBatch>): void {
    if (!this.codeMean || !this.codeStd) return;
    const codes: tf.Tensor2D[] = [];
    for (const b of batches)
      codes.push(tf.tidy(() => this.nets.encode(b.x, this.batchCond(b.x.shape[0], b.y, b.captions)).mu));
    tf.tidy(() => {
      const all = tf.concat(codes, 0);
      const { mean, variance } = tf.moments(all, 0);
      this.codeMean!.assign(mean);
      this.codeStd!.assign(tf.sqrt(tf.add(variance, 1e-8)));
    });
    tf.dispose(codes);
  }

  /**
   * Test-set bounds: -ELBO (one z sample per image) with its recon and KL terms, and the IWAE bound with k samples.
   * For the AE only the reconstruction term is defined. Conditional models use each batch's labels or captions;
   * without them, the null embedding (the bounds of the model's unconditional mode).
   */
  evaluate(batches: Iterable<EvalBatch>, opts: EvalOptions): EvalResult {
    let n = 0;
    let recon = 0;
    let kl = 0;
    let iwae = 0;
    let bi = 0;
    // per image: -ELBO = recon + kl, or -L_k when the IWAE bound is computed (the likelihood figure below)
    const per = new PerImageNats(opts.perImage);
    for (const { x, y, captions } of batches) {
      const B = x.shape[0];
      const c = this.batchCond(B, y, captions);
      const seed = ((opts.seed * 1000003 + bi * 7919) % 2147483646) + 1;
      if (this.variational) {
        const t = elboTerms(this.nets, x, c, seed);
        recon += tf.tidy(() => tf.sum(t.recon).arraySync() as number);
        kl += tf.tidy(() => tf.sum(t.kl).arraySync() as number);
        if (opts.iwaeK <= 0 && per.wanted) per.push(tf.tidy(() => tf.add(t.recon, t.kl).dataSync()));
        tf.dispose([t.recon, t.kl]);
        if (opts.iwaeK > 0) {
          const lk = iwaeBound(this.nets, x, c, opts.iwaeK, seed);
          iwae -= tf.tidy(() => tf.sum(lk).arraySync() as number);
          if (per.wanted) per.push(tf.tidy(() => tf.neg(lk).dataSync()));
          lk.dispose();
        }
      } else {
        recon += tf.tidy(() => (aeLoss(this.nets, x, c).terms.recon.arraySync() as number) * B);
      }
      c?.dispose();
      n += B;
      bi++;
      opts.onBatch?.(n);
    }
    const D = this.nets.D;
    const N = Math.max(1, n);
    // the AE's reconstruction term is no likelihood: its code is a point, not a distribution over x
    if (!this.variational) return { n, terms: { recon: recon / N, reconBitsPerDim: natsToBitsPerDim(recon / N, D) } };
    // a bound on -log P(x) of the 8-bit values only with the discretized (logistic) decoder; bernoulli and gaussian
    // decoders give densities of binarized or continuous values
    const discrete = this.nets.cfg.likelihood === 'logistic';
    const nelbo = likelihoodFigure((recon + kl) / N, D, 'bound', '-ELBO', { discrete });
    const terms = { recon: recon / N, kl: kl / N };
    if (opts.iwaeK <= 0) return withPerImage({ n, likelihood: nelbo, terms }, per);
    const iw = likelihoodFigure(iwae / N, D, 'bound', `IWAE k=${opts.iwaeK}`, { discrete, samples: opts.iwaeK });
    return withPerImage({ n, likelihood: iw, bounds: [nelbo], terms }, per);
  }

  /**
   * Reconstructions (input beside output), an interpolation, a latent traversal and, for a 2-d latent, the manifold.
   * Labels condition a label-conditional model; otherwise a conditional model uses its null embedding.
   */
  pictures(x: tf.Tensor4D, labelsIn: number[] | undefined, seed: number): Picture[] {
    const labels = this.nets.cond?.kind === 'label' ? labelsIn : undefined;
    const out: Picture[] = [];
    const n = Math.min(32, x.shape[0]);
    const L = this.cfg.latent;
    const pairs = tf.tidy(() => {
      const xs = tf.slice(x, 0, n);
      const r = reconstruct(this.nets, xs, labels?.slice(0, n));
      // interleave [x_0, r_0, x_1, r_1, ...] so each input sits beside its reconstruction
      return tf.reshape(tf.stack([xs, r], 1), [2 * n, x.shape[1], x.shape[2], x.shape[3]]) as tf.Tensor4D;
    });
    out.push({
      name: 'reconstructions',
      images: pairs,
      cols: 16,
      caption: 'test images (odd columns) beside their reconstructions (even columns)',
    });
    if (x.shape[0] >= 2) {
      const rows: tf.Tensor4D[] = [];
      const m = Math.min(8, Math.floor(x.shape[0] / 2));
      for (let i = 0; i < m; i++) {
        const a = tf.slice(x, i, 1);
        const b = tf.slice(x, x.shape[0] - 1 - i, 1);
        rows.push(
          interpolate(
            this.nets,
            a,
            b,
            10,
            labels ? ([labels[i], labels[x.shape[0] - 1 - i]] as [number, number]) : undefined,
          ),
        );
        tf.dispose([a, b]);
      }
      out.push({
        name: 'interpolation',
        images: tf.concat(rows, 0),
        cols: 10,
        caption: 'linear interpolation in z between two encoded test images, one pair per row',
      });
      tf.dispose(rows);
    }
    const dims = Array.from({ length: Math.min(L, 10) }, (_, i) => i);
    const values = Array.from({ length: 9 }, (_, i) => -3 + (6 * i) / 8);
    const base = this.codeMean ? (this.codeMean.arraySync() as number[]) : new Array(L).fill(0);
    const spread = this.codeStd ? (this.codeStd.arraySync() as number[]) : new Array(L).fill(1);
    const trav = traverse(this.nets, base, dims, values, labels?.[0], spread);
    out.push({
      name: 'traversal',
      images: trav,
      cols: values.length,
      caption: `latent traversal: row j moves z_j from -3 to +3 (prior std units), others at the prior mean`,
    });
    if (L === 2)
      out.push({
        name: 'manifold',
        images: manifold2d(this.nets, 20, labels?.[0]),
        cols: 20,
        caption: 'decoded 2-d latent manifold at normal quantiles',
      });
    void seed;
    return out;
  }

  networks(): NetworkSpec[] {
    const { height: H, width: W, channels: C } = this.info;
    const { cond } = this.nets;
    const L = this.cfg.latent;
    return [
      ...(cond ? [cond.network()] : []),
      {
        name: 'encode',
        info: { variational: this.variational },
        doc: `q(z|x${cond ? ', c' : ''}): x [B, H, W, C] (NHWC, in [0, 1])${cond ? ', c = cond(...).vec' : ''} -> ${this.variational ? '[mu, logVar] [B, 2L]' : 'the code z [B, L]'}.`,
        example: (B, seed) => {
          const rng = new Rng(seed);
          return { x: tf.randomUniform([B, H, W, C], 0, 1, 'float32', rng.seed()), ...cond?.exampleVec(B, rng.seed()) };
        },
        run: (i) => ({ out: this.nets.encodeRaw(i.x as tf.Tensor4D, (i.c as tf.Tensor2D) ?? null) }),
      },
      {
        name: 'decode',
        doc: `p(x|z${cond ? ', c' : ''}): z [B, L]${cond ? ', c' : ''} -> the ${this.cfg.likelihood} likelihood's parameters [B, H, W, ${this.cfg.likelihood === 'logistic' ? '2C' : 'C'}] (NHWC).`,
        example: (B, seed) => {
          const rng = new Rng(seed);
          return { z: tf.randomNormal([B, L], 0, 1, 'float32', rng.seed()), ...cond?.exampleVec(B, rng.seed()) };
        },
        run: (i) => ({ out: this.nets.decode(i.z as tf.Tensor2D, (i.c as tf.Tensor2D) ?? null) }),
      },
    ];
  }

  dispose(): void {
    this.nets.dispose();
  }
}

const common = {
  modelSchema: vaeModelSchema,
  tinyPreset: { hidden: [32], latent: 4, convChannels: [4, 8], convHidden: 16, cond: { dim: 16, textHeads: 2 } },
  requiredPreprocess: (m: VaeModelConfig) => (m.likelihood === 'logistic' ? ('scale01' as const) : undefined),
  defaults: {
    data: { dataset: 'fashion-mnist', preprocess: 'binarize-dynamic' as const },
    train: { epochs: 10, batchSize: 128, lr: 1e-3 },
  },
};

export const vaeFamily: Family<VaeModelConfig> = defineFamily({
  ...common,
  name: 'vae',
  summary:
    'Variational autoencoder: encoder q(z|x) = N(mu, sigma^2), reparameterised z, decoder p(x|z); loss = recon + beta * KL',
  create: (m, info, seed) => new VaeModel(m, info, true, seed),
});

export const aeFamily: Family<VaeModelConfig> = defineFamily({
  ...common,
  name: 'ae',
  summary:
    'Autoencoder: deterministic code z = enc(x), reconstruction loss only (samples from a Gaussian fitted to codes)',
  create: (m, info, seed) => new VaeModel(m, info, false, seed),
});
