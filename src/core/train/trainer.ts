// The generic trainer: one optimisation step on any model's loss, knowing nothing about the model.
// Adam + lr schedule + global-norm clipping + optional EMA; returns plain numbers; refuses non-finite losses.
// The platform entry (src/node/backend.ts, the web worker) registers tfjs gradients; tfjs-core alone has none.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainConfig } from '../config/schema.ts';
import { Adam } from './adam.ts';
import { Ema } from './ema.ts';
import { learningRate } from './schedules.ts';

export interface LossOutput {
  /** Scalar to minimise (mean over the batch). */
  loss: tf.Scalar;
  /** Named scalar terms to report (e.g. recon, kl). */
  terms: Record<string, tf.Scalar>;
}

export interface StepMetrics {
  step: number;
  loss: number;
  terms: Record<string, number>;
  lr: number;
  gradNorm: number;
}

export class NonFiniteLossError extends Error {
  constructor(readonly step: number, readonly metrics: Record<string, number>) {
    super(
      `Training stopped at step ${step}: the loss is not finite (${Object.entries(metrics)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}). The last good checkpoint is kept; try a lower --lr, gradient clipping (--set train.clipNorm=1) or check the data.`,
    );
    this.name = 'NonFiniteLossError';
  }
}

export class Trainer {
  readonly optimizer: Adam;
  readonly ema: Ema | null;
  /** Steps completed. */
  step = 0;
  private readonly byTfName: Map<string, string>;

  constructor(
    readonly vars: Record<string, tf.Variable>,
    readonly cfg: TrainConfig,
    readonly totalSteps: number,
  ) {
    this.optimizer = new Adam({ beta1: cfg.beta1, beta2: cfg.beta2, weightDecay: cfg.weightDecay });
    this.ema = cfg.ema > 0 ? new Ema(cfg.ema, vars) : null;
    this.byTfName = new Map(Object.entries(vars).map(([k, v]) => [v.name, k]));
  }

  currentLr(): number {
    return learningRate(this.step, this.totalSteps, this.cfg.lr, this.cfg.lrSchedule, this.cfg.warmupSteps);
  }

  /** One step: gradients of lossFn w.r.t. vars, clip, Adam update, EMA. */
  trainStep(lossFn: () => LossOutput): StepMetrics {
    const lr = this.currentLr();
    const names: string[] = [];
    const { grads, packed } = tf.tidy(() => {
      let kept: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.variableGrads(() => {
        const out = lossFn();
        kept = Object.fromEntries(Object.entries(out.terms).map(([k, t]) => [k, tf.keep(t)]));
        return out.loss;
      }, Object.values(this.vars));
      const named: Record<string, tf.Tensor> = {};
      for (const [tfName, g] of Object.entries(grads)) named[this.byTfName.get(tfName)!] = g;
      // global L2 norm of all gradients: sqrt(sum_i ||g_i||^2)
      const sq = Object.values(named).map((g) => tf.sum(tf.square(g)));
      const norm = tf.sqrt(sq.length ? tf.addN(sq) : tf.scalar(0));
      if (this.cfg.clipNorm > 0) {
        const scale = tf.minimum(1, tf.div(this.cfg.clipNorm, tf.add(norm, 1e-12)));
        for (const k of Object.keys(named)) named[k] = tf.mul(named[k], scale);
      }
      for (const k of Object.keys(kept)) names.push(k);
      const packed = tf.stack([value, norm, ...names.map((k) => kept[k])]);
      for (const t of Object.values(kept)) t.dispose();
      return { grads: named, packed };
    });
    const vals = packed.dataSync();
    packed.dispose();
    const terms: Record<string, number> = {};
    names.forEach((k, i) => (terms[k] = vals[2 + i]));
    const metrics: StepMetrics = { step: this.step + 1, loss: vals[0], terms, lr, gradNorm: vals[1] };
    if (!Number.isFinite(metrics.loss) || !Number.isFinite(metrics.gradNorm)) {
      tf.dispose(Object.values(grads));
      throw new NonFiniteLossError(metrics.step, { loss: metrics.loss, gradNorm: metrics.gradNorm, ...terms });
    }
    this.optimizer.apply(this.vars, grads, lr);
    tf.dispose(Object.values(grads));
    this.ema?.update(this.vars, this.step + 1);
    this.step += 1;
    return metrics;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}
