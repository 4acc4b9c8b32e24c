// Config of the GAN family: the networks (DCGAN conv or MLP), the loss (non-saturating, hinge, WGAN-GP), the critic
// schedule, the discriminator's conditioning (projection or concatenation), and the divergence watch.
import { z } from 'zod';
import { condSchema } from '../../conditioning/config.ts';
import { UserError } from '../../errors.ts';
import type { DataInfo } from '../../family.ts';

export const GAN_LOSSES = ['ns', 'hinge', 'wgan-gp'] as const;
export type GanLoss = (typeof GAN_LOSSES)[number];

export const ganModelSchema = z
  .object({
    /** 'conv' (DCGAN: transposed convs with batch norm in G, strided convs with leaky ReLU in D) or 'mlp' (dense
     *  layers; no conv op, so it also trains on the wasm backend). */
    arch: z.enum(['conv', 'mlp']).default('conv'),
    /** 'ns' (non-saturating, Goodfellow et al. 2014), 'hinge' (Lim & Ye 2017; Miyato et al. 2018) or 'wgan-gp'
     *  (Gulrajani et al. 2017: a critic, with a gradient penalty on interpolates). */
    loss: z.enum(GAN_LOSSES).default('ns'),
    /** Size of the noise z ~ N(0, I). */
    latent: z.number().int().positive().default(64),
    /** conv: channels of G's last hidden layer and D's first; each stage doubles them towards the lowest resolution
     *  (stages 2: G 7x7x128 -> 14x14x64 -> 28x28xC, D 28x28xC -> 14x14x64 -> 7x7x128). */
    channels: z.number().int().positive().default(64),
    /** conv: stride-2 stages in G (upsampling) and D (downsampling); H and W must be divisible by 2^stages. */
    stages: z.number().int().min(1).max(5).default(2),
    /** mlp: hidden units of the two hidden layers of G and of D. */
    hidden: z.number().int().positive().default(256),
    /** Batch norm after G's hidden layers ('batch', DCGAN) or none. D never has batch norm (WGAN-GP's penalty needs
     *  D(x_i) to depend on x_i alone). */
    gNorm: z.enum(['batch', 'none']).default('batch'),
    /** Noise rows whose batch statistics normalise G's batch norm when sampling (a fixed, seeded reference batch:
     *  samples then depend neither on n nor on each other, and match whichever weights, raw or EMA, are loaded). */
    statsBatch: z.number().int().min(2).default(128),
    /** How G reads its condition c: 'input' (c / sqrt(dim) concatenated to z, the classic cGAN) or 'cbn' (that, and
     *  conditional batch norm, as in SNGAN and BigGAN (Miyato & Koyama 2018; Brock et al. 2019): every batch norm's
     *  output is modulated per image, y = BN(h) (1 + c' W_gamma) + c' W_beta with c' = c / sqrt(dim) and W zero at
     *  initialisation, so the class sets every layer's features, not only the first). 'cbn' needs gNorm=batch. */
    gCond: z.enum(['input', 'cbn']).default('input'),
    /** D's weights: as they are ('none'), or spectrally normalised, W / sigma(W) (SNGAN, Miyato et al. 2018), so that
     *  every layer of D is 1-Lipschitz and its gradient to G stays smooth. sigma(W), the largest singular value of W
     *  as a [fan-in, out] matrix, is estimated by `snIters` power iterations from a fixed vector in each forward
     *  pass (no state to checkpoint), with u and v held constant in the gradient, as in the paper. */
    dNorm: z.enum(['none', 'spectral']).default('none'),
    /** Power iterations per forward pass for dNorm=spectral. */
    snIters: z.number().int().min(1).max(50).default(8),
    /** Slope of D's leaky ReLU for x < 0. */
    leak: z.number().min(0).max(1).default(0.2),
    /** conv: minibatch standard deviation (Karras et al. 2018, ProGAN): D's last feature map gets one more channel,
     *  the standard deviation of each feature over a group of this many images, averaged to one number per group.
     *  D then sees how varied a batch is, and a G that draws one image (per class) is told apart. 0 = off. */
    mbstd: z.number().int().min(0).max(64).default(0),
    /** Sampling: the condition's embedding pushed away from the null one, c = c_null + w (c_y - c_null), as
     *  classifier-free guidance pushes a diffusion model's prediction (G saw c_null on cond.dropProb of its training
     *  rows). w = 1 is the plain conditional G; w > 1 draws images more typical of their class. */
    guidance: z.number().min(0).default(1),
    /** Sampling: z ~ N(0, T^2 I), the truncation trick of BigGAN (Brock et al. 2019) as a scale of the noise: T < 1
     *  keeps G near the middle of its noise, where its images are cleaner and more typical of their class, at the cost
     *  of variety (recall); 1 = the noise G was trained on. */
    temperature: z.number().min(0).default(1),
    /** lambda_ac of the auxiliary classifier (AC-GAN, Odena et al. 2017) for label-conditional models: D gets a head
     *  q(y | x) on its pooled features, trained on real images, L_D + lambda_ac CE(q(. | x), y); G gets + lambda_ac
     *  CE(q(. | G(z, y)), y), paid for images D's head reads as the class asked for. 0 = off. */
    acWeight: z.number().min(0).default(0),
    /** lambda of the mode-seeking term of MSGAN (Mao et al. 2019) in G's loss, for conditional models: G's batch is
     *  made of pairs (z1, c), (z2, c) and L_G gets + lambda / (mean|G(z1,c) - G(z2,c)| / mean|z1 - z2| + 1e-5), so G
     *  is paid for drawing different images from different noise under one condition. 0 = off. */
    modeSeeking: z.number().min(0).default(0),
    /** Discriminator (critic) updates per generator update; 0 = the loss's usual: 5 for wgan-gp, 1 otherwise. */
    nCritic: z.number().int().min(0).max(20).default(0),
    /** lambda of the gradient penalty lambda E[(||grad D(x^)||_2 - 1)^2] (wgan-gp). */
    gpWeight: z.number().min(0).default(10),
    /** D's learning rate is train.lr times this (G's is train.lr); 0 = the loss's usual: 0.5 for ns and hinge (with
     *  the default train.lr 4e-4, D learns at DCGAN's 2e-4 and G twice as fast: in 3 epochs on Fashion-MNIST that took
     *  the DCGAN's FID from 237.7 to 154.0 and the conditional GAN's from 102.7 to 70.9; docs/gan.md), 1 for wgan-gp. */
    dLrScale: z.number().min(0).default(0),
    /** How a conditional D sees y: 'projection' (Miyato & Koyama 2018: D(x, y) = psi(phi(x)) + <V c, pool(phi(x))>)
     *  or 'concat' (c mapped to one extra input channel, the classic cGAN), or 'both' (the channel, and the projection
     *  term on c scaled by dCondScale). G always takes [z, c]. */
    /** 'both' is the default: with the projection alone, G drew about one image per class (Fashion-MNIST, 3 epochs:
     *  recall 0.004, FID 256.6; concat: recall 0.444, FID 102.7); the unit-scaled projection beside the channel adds
     *  about 2 points of class accuracy at every guidance (docs/gan.md). */
    dCond: z.enum(['projection', 'concat', 'both']).default('both'),
    /** How D scales its embedding c of y: 'raw' (c as the conditioner gives it) or 'unit' (c / sqrt(dim), as G does).
     *  'unit' slows D's class evidence ~sqrt(dim) times under Adam, the default, for dCond=both: there the projection
     *  is a light class term beside the channel (raw, it would pull G towards one image per class again). With the
     *  projection alone, 'unit' samples were recognised 82.4% of the time against 98.3% with 'raw' (Fashion-MNIST, 5
     *  epochs, before the collapse was found). (G always scales: see Generator.) */
    dCondScale: z.enum(['raw', 'unit']).default('unit'),
    /** Stop training when D's loss (ns, hinge) stays below lossFloor for `steps` consecutive steps: D has won and G
     *  learns nothing. steps 0 = never. */
    divergence: z
      .object({
        lossFloor: z.number().min(0).default(1e-3),
        steps: z.number().int().min(0).default(200),
      })
      .strict()
      .prefault({}),
    /** Conditioning y: kind none | label | text; G and D each embed y with their own conditioner. */
    cond: condSchema.prefault({}),
  })
  .strict();

export type GanModelConfig = z.infer<typeof ganModelSchema>;

/** D's learning rate over G's: dLrScale, or the loss's usual (1 for wgan-gp, 0.5 otherwise) when it is 0. */
export function dLrScaleOf(cfg: GanModelConfig): number {
  return cfg.dLrScale > 0 ? cfg.dLrScale : cfg.loss === 'wgan-gp' ? 1 : 0.5;
}

/** Critic updates per step: nCritic, or the loss's usual (5 for wgan-gp, 1 otherwise) when it is 0. */
export function criticSteps(cfg: GanModelConfig): number {
  return cfg.nCritic > 0 ? cfg.nCritic : cfg.loss === 'wgan-gp' ? 5 : 1;
}

/** The problem with a config for this data (one line: what is wrong and the fix), or null. */
export function ganConfigProblem(cfg: GanModelConfig, info: Pick<DataInfo, 'height' | 'width'>): string | null {
  if (cfg.acWeight > 0 && cfg.cond.kind !== 'label')
    return `model.acWeight trains a class head on labels, and this model's conditioning is ${cfg.cond.kind}; set model.acWeight=0 or model.cond.kind=label`;
  if (cfg.gCond === 'cbn' && cfg.gNorm !== 'batch')
    return `model.gCond=cbn modulates G's batch norm, and model.gNorm=${cfg.gNorm}; set model.gNorm=batch or model.gCond=input`;
  if (cfg.mbstd > 0 && cfg.arch !== 'conv') return `model.mbstd applies to model.arch=conv; set model.mbstd=0`;
  // the gradient penalty needs each D(x_i) to depend on x_i alone, which a batch statistic breaks
  if (cfg.mbstd > 0 && cfg.loss === 'wgan-gp')
    return `model.mbstd mixes the images of a group inside D, which WGAN-GP's per-image gradient penalty forbids; set model.mbstd=0 or model.loss=ns`;
  if (cfg.arch !== 'conv') return null;
  const { height: H, width: W } = info;
  const f = 2 ** cfg.stages;
  if (H % f === 0 && W % f === 0) return null;
  let fits = 0;
  while (fits < 5 && H % 2 ** (fits + 1) === 0 && W % 2 ** (fits + 1) === 0) fits++;
  const fix =
    fits >= 1
      ? `set model.stages=${fits}`
      : `resize the images to even sides (e.g. data.size=${Math.ceil(H / 2) * 2}) or model.arch=mlp`;
  return `model.stages=${cfg.stages} halves the image ${cfg.stages} times in D (and doubles it as often in G), so its height and width must be divisible by ${f}, got ${H}x${W}; ${fix}`;
}

export function checkGanConfig(cfg: GanModelConfig, info: Pick<DataInfo, 'height' | 'width'>): void {
  const problem = ganConfigProblem(cfg, info);
  if (problem) throw new UserError(problem);
}
