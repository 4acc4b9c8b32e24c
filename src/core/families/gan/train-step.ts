// One GAN training step: n_critic discriminator updates on the real batch and fresh fakes, then one generator update,
// each by its own optimiser over its own variables; the health numbers of the step and the divergence watch.
import * as tf from '@tensorflow/tfjs-core';
import type { CondInput } from '../../conditioning/conditioner.ts';
import { Rng } from '../../tensor/rng.ts';
import { DivergenceError, type LossOutput, type StepContext, type StepResult } from '../../train/trainer.ts';
import { criticSteps, type GanLoss, type GanModelConfig } from './config.ts';
import { drawNoise } from './sample.ts';

/** What the step needs from the model: its config, G's forward on noise, and the two objectives. */
export interface GanPlayers {
  readonly cfg: GanModelConfig;
  readonly watch: DivergenceWatch;
  /** x = G(z, c_G) [B,H,W,C] in [-1, 1], computed without gradients (a detached fake batch for D's update). */
  generate(z: tf.Tensor2D, cond: CondInput, drop: boolean[] | null): tf.Tensor4D;
  /** L_D (+ lambda GP) on the real batch and a fake batch, with the terms lossD, dReal, dFake (and gp, gpGradNorm). */
  discriminatorObjective(
    real: tf.Tensor4D,
    fake: tf.Tensor4D,
    cond: CondInput,
    drop: boolean[] | null,
    seed: number,
  ): LossOutput;
  /** L_G on B fresh fakes G(z) with z from seed, with the term lossG. */
  generatorObjective(B: number, cond: CondInput, drop: boolean[] | null, seed: number): LossOutput;
  dropMask(B: number, seed: number): boolean[] | null;
}

/**
 * The step (each update's gradients are taken w.r.t. its own group's variables only, so the D update leaves G as it
 * was and the G update leaves D):
 *   for k = 1..n_critic:  z_k ~ N(0, I),  fake = G(z_k) (detached),  D <- D - Adam(grad_D L_D(x, fake))
 *   z ~ N(0, I),  G <- G - Adam(grad_G L_G(G(z)))
 * Every critic update sees this step's real batch (one batch per step keeps the data order a function of (seed, step),
 * so --resume is exact); the noise is fresh each time. Reports lossD (mean over the critic updates), lossG, dReal,
 * dFake (D's mean output on the real and fake batch; for ns as probabilities sigmoid(D)), gradNormD, gradNormG (before
 * clipping) and, for wgan-gp, gp (the penalty without lambda) and gpGradNorm (mean ||grad D(x^)||).
 */
export function ganTrainStep(
  m: GanPlayers,
  x: tf.Tensor4D,
  y: tf.Tensor1D | null,
  seed: number,
  captions: string[] | null,
  ctx: StepContext,
): StepResult {
  const B = x.shape[0];
  const rng = new Rng(seed);
  const drop = m.dropMask(B, rng.seed());
  const cond: CondInput = { labels: y, prompts: captions };
  const nCritic = criticSteps(m.cfg);
  const sums: Record<string, number> = {};
  const add = (k: string, v: number) => (sums[k] = (sums[k] ?? 0) + v / nCritic);
  for (let k = 0; k < nCritic; k++) {
    const zSeed = rng.seed(),
      epsSeed = rng.seed();
    const fake = tf.tidy(() => m.generate(drawNoise(B, m.cfg.latent, zSeed), cond, drop));
    try {
      const u = ctx.update('D', () => m.discriminatorObjective(x, fake, cond, drop, epsSeed));
      for (const [name, v] of Object.entries(u.terms)) add(name, v);
      add('gradNormD', u.gradNorm);
    } finally {
      fake.dispose();
    }
  }
  const g = ctx.update('G', () => m.generatorObjective(B, cond, drop, rng.seed()));
  const terms: Record<string, number> = {
    lossD: sums.lossD,
    lossG: g.terms.lossG,
    dReal: sums.dReal,
    dFake: sums.dFake,
    gradNormD: sums.gradNormD,
    gradNormG: g.gradNorm,
  };
  if (g.terms.modeSeeking !== undefined) terms.modeSeeking = g.terms.modeSeeking;
  if (sums.acD !== undefined) terms.acD = sums.acD;
  if (g.terms.acG !== undefined) terms.acG = g.terms.acG;
  if (m.cfg.loss === 'wgan-gp') {
    terms.gp = sums.gp;
    terms.gpGradNorm = sums.gpGradNorm;
  }
  m.watch.observe(ctx.step + 1, terms);
  return { loss: terms.lossD + terms.lossG, terms };
}

/**
 * Stops training when D has won: its loss (ns, hinge) below lossFloor for `steps` consecutive steps. Then D tells real
 * from fake perfectly, its gradient to G vanishes (ns) or is uninformative, and training will not recover by itself.
 * WGAN-GP's critic loss has no floor (it is negative when the critic separates), so only non-finite values stop it.
 */
export class DivergenceWatch {
  private run = 0;

  constructor(
    readonly kind: GanLoss,
    readonly lossFloor: number,
    readonly steps: number,
  ) {}

  /** Steps in a row so far with lossD below the floor. */
  get consecutive(): number {
    return this.run;
  }

  /** Called after step `step` (1-based) with its terms; throws DivergenceError when D has won for too long. */
  observe(step: number, t: Record<string, number>): void {
    if (this.steps <= 0 || this.kind === 'wgan-gp') return;
    this.run = t.lossD < this.lossFloor ? this.run + 1 : 0;
    if (this.run < this.steps) return;
    const fmt = (v: number) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(1));
    const shown = this.kind === 'ns' ? 'sigmoid(D(x))' : 'D(x)';
    throw new DivergenceError(
      step,
      `the discriminator has won: its loss stayed below ${this.lossFloor} for ${this.steps} steps in a row (lossD ${fmt(t.lossD)}, mean ${shown} ${fmt(t.dReal)} on real and ${fmt(t.dFake)} on generated images), so the generator gets no useful gradient. ` +
        `The last good checkpoint is kept; train again with a slower discriminator (model.dLrScale=0.25), another loss (model.loss=hinge or wgan-gp) or a lower train.lr.`,
    );
  }
}
