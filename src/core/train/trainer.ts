// The generic trainer: one optimisation step on any model's loss, knowing nothing about the model; or, for models with
// several players (a GAN's D and G), named variable groups each with its own Adam, updated by the model's own step.
// Adam + lr schedule + global-norm clipping + optional EMA; plain numbers out; non-finite losses refused.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainConfig } from '../config/schema.ts';
import { checkWeights } from '../checkpoint/format.ts';
import { recordToFloat32, type TensorRecord } from '../checkpoint/safetensors.ts';
import { UserError } from '../errors.ts';
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

/** A set of variables optimised by its own Adam (e.g. a GAN's discriminator), at lr * lrScale. */
export interface OptimizerGroup {
  vars: Record<string, tf.Variable>;
  /** Multiplies the scheduled learning rate for this group (default 1). */
  lrScale?: number;
}

/** Where the optimizer state being loaded comes from, for messages. */
export interface OptimizerStateSource {
  /** e.g. "optimizer.safetensors in runs/x". */
  file: string;
  /** e.g. "state.json in runs/x". */
  state: string;
  /** A sentence ending every message: what the user can do. */
  hint: string;
}

/** What one optimiser update of a group returns. */
export interface GroupUpdate {
  loss: number;
  /** Global L2 norm of the group's gradients, before clipping. */
  gradNorm: number;
  terms: Record<string, number>;
}

/** Handed to a model's own step: the schedule's learning rate and one update per call for a named group. */
export interface StepContext {
  /** Index of this step (0-based): steps completed before it. */
  step: number;
  /** The scheduled learning rate of this step (before a group's lrScale). */
  lr: number;
  /** Gradients of lossFn w.r.t. the group's variables only (the variable list is passed explicitly), clipped, applied
   *  by the group's Adam. Throws NonFiniteLossError (the group's variables untouched) on a non-finite loss or gradient. */
  update(group: string, lossFn: () => LossOutput): GroupUpdate;
}

/** What a model's own step reports: the headline loss and named terms. */
export interface StepResult {
  loss: number;
  terms: Record<string, number>;
}

export interface TrainerOptions {
  /** Named variable groups, each with its own Adam; required for customStep. Groups must not share variables. */
  groups?: Record<string, OptimizerGroup>;
  /** Variables the EMA averages (default: all of `vars`), e.g. only a GAN's generator. */
  emaVars?: Record<string, tf.Variable>;
}

export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly metrics: Record<string, number>,
  ) {
    super(
      `Training stopped at step ${step}: the loss is not finite (${Object.entries(metrics)
        .map(([k, v]) => `${k}=${v}`)
        .join(
          ', ',
        )}). The last good checkpoint is kept; try a lower train.lr, gradient clipping (train.clipNorm=1) or check the data.`,
    );
    this.name = 'NonFiniteLossError';
  }
}

/** Training was stopped because it went wrong in a way the model recognises (e.g. a GAN's discriminator won). */
export class DivergenceError extends Error {
  constructor(
    readonly step: number,
    reason: string,
  ) {
    super(`Training stopped at step ${step}: ${reason}`);
    this.name = 'DivergenceError';
  }
}

export class Trainer {
  /** The optimiser of the single-loss step (trainStep). */
  readonly optimizer: Adam;
  /** One optimiser per named group (customStep); empty without groups. */
  readonly groupOptimizers: Record<string, Adam> = {};
  readonly ema: Ema | null;
  /** Steps completed. */
  step = 0;
  private readonly groups: Record<string, OptimizerGroup>;
  private readonly emaVars: Record<string, tf.Variable>;
  /** Per variable set (all vars, each group's): tf's variable name -> our key, to name the gradients. */
  private readonly keyOfTfName = new Map<Record<string, tf.Variable>, Map<string, string>>();

  constructor(
    readonly vars: Record<string, tf.Variable>,
    readonly cfg: TrainConfig,
    readonly totalSteps: number,
    opts: TrainerOptions = {},
  ) {
    const adam = () => new Adam({ beta1: cfg.beta1, beta2: cfg.beta2, weightDecay: cfg.weightDecay });
    this.optimizer = adam();
    this.groups = opts.groups ?? {};
    const owner = new Map<tf.Variable, string>();
    for (const [g, { vars: gv }] of Object.entries(this.groups)) {
      if (g.includes('/')) throw new Error(`optimizer group name ${g} must not contain '/'`);
      for (const [k, v] of Object.entries(gv)) {
        if (owner.has(v))
          throw new Error(`variable ${k} is in optimizer groups ${owner.get(v)} and ${g}; groups must be disjoint`);
        owner.set(v, g);
      }
      this.groupOptimizers[g] = adam();
    }
    for (const set of [vars, ...Object.values(this.groups).map((g) => g.vars)])
      this.keyOfTfName.set(set, new Map(Object.entries(set).map(([k, v]) => [v.name, k])));
    this.emaVars = opts.emaVars ?? vars;
    this.ema = cfg.ema > 0 ? new Ema(cfg.ema, this.emaVars) : null;
  }

  currentLr(): number {
    return learningRate(this.step, this.totalSteps, this.cfg.lr, this.cfg.lrSchedule, this.cfg.warmupSteps);
  }

  /** One step: gradients of lossFn w.r.t. vars, clip, Adam update, EMA. */
  trainStep(lossFn: () => LossOutput): StepMetrics {
    const lr = this.currentLr();
    const u = this.update(this.vars, this.optimizer, lossFn, lr, this.step + 1);
    this.ema?.update(this.emaVars, this.step + 1);
    this.step += 1;
    return { step: this.step, loss: u.loss, terms: u.terms, lr, gradNorm: u.gradNorm };
  }

  /**
   * One step run by the model itself (e.g. n_critic discriminator updates, then a generator update): fn calls
   * ctx.update(group, lossFn) as often as it needs; then the EMA is updated and the step counted. gradNorm is the global
   * norm over the last update of every group.
   */
  customStep(fn: (ctx: StepContext) => StepResult): StepMetrics {
    if (Object.keys(this.groups).length === 0)
      throw new Error('Trainer.customStep needs optimizer groups (new Trainer(vars, cfg, steps, { groups }))');
    const lr = this.currentLr();
    const lastNorm: Record<string, number> = {};
    const ctx: StepContext = {
      step: this.step,
      lr,
      update: (group, lossFn) => {
        const g = this.groups[group];
        if (!g)
          throw new Error(`unknown optimizer group ${group}; the trainer has ${Object.keys(this.groups).join(', ')}`);
        const u = this.update(g.vars, this.groupOptimizers[group], lossFn, lr * (g.lrScale ?? 1), this.step + 1, group);
        lastNorm[group] = u.gradNorm;
        return u;
      },
    };
    const r = fn(ctx);
    this.ema?.update(this.emaVars, this.step + 1);
    this.step += 1;
    const gradNorm = Math.sqrt(Object.values(lastNorm).reduce((s, n) => s + n * n, 0));
    return { step: this.step, loss: r.loss, terms: r.terms, lr, gradNorm };
  }

  /** Gradients of lossFn w.r.t. `vars` only, global-norm clip, Adam update of those vars; numbers out. */
  private update(
    vars: Record<string, tf.Variable>,
    opt: Adam,
    lossFn: () => LossOutput,
    lr: number,
    stepNo: number,
    group?: string,
  ): GroupUpdate {
    const byTfName = this.keyOfTfName.get(vars)!;
    const names: string[] = [];
    const { grads, packed } = tf.tidy(() => {
      let kept: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.variableGrads(() => {
        const out = lossFn();
        kept = Object.fromEntries(Object.entries(out.terms).map(([k, t]) => [k, tf.keep(t)]));
        return out.loss;
      }, Object.values(vars));
      const named: Record<string, tf.Tensor> = {};
      for (const [tfName, g] of Object.entries(grads)) named[byTfName.get(tfName)!] = g;
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
    const u: GroupUpdate = { loss: vals[0], gradNorm: vals[1], terms };
    if (!Number.isFinite(u.loss) || !Number.isFinite(u.gradNorm)) {
      tf.dispose(Object.values(grads));
      const tag = group ? `${group}.` : '';
      throw new NonFiniteLossError(stepNo, {
        [`${tag}loss`]: u.loss,
        [`${tag}gradNorm`]: u.gradNorm,
        ...Object.fromEntries(Object.entries(terms).map(([k, v]) => [tag + k, v])),
      });
    }
    opt.apply(vars, grads, lr);
    tf.dispose(Object.values(grads));
    return u;
  }

  /**
   * Every optimiser's state for optimizer.safetensors: "<param>.m" / "<param>.v" for the single optimiser, or
   * "<group>/<param>.m" per group; `steps` is Adam's t (a number, or one per group).
   */
  optimizerState(): { tensors: Record<string, tf.Tensor>; steps: number | Record<string, number> } {
    const names = Object.keys(this.groupOptimizers);
    if (names.length === 0) return { tensors: this.optimizer.stateTensors(), steps: this.optimizer.t };
    const tensors: Record<string, tf.Tensor> = {};
    const steps: Record<string, number> = {};
    for (const g of names) {
      for (const [k, t] of Object.entries(this.groupOptimizers[g].stateTensors())) tensors[`${g}/${k}`] = t;
      steps[g] = this.groupOptimizers[g].t;
    }
    return { tensors, steps };
  }

  /**
   * Restores what optimizerState() gave, after checking it against this trainer's variables: `steps` is Adam's t
   * (state.json's optimizerStep: a number, or one per group; undefined means `this.step`, as in early checkpoints) and
   * `tensors` the records of optimizer.safetensors (null when the file is absent). Anything missing, unexpected,
   * mis-shaped or non-finite is one UserError naming it, so no optimizer state is ever dropped silently.
   */
  loadOptimizerState(steps: unknown, tensors: Record<string, TensorRecord> | null, src: OptimizerStateSource): void {
    const sets = this.optimizerSets();
    const ts = this.parseOptimizerSteps(steps, src);
    const fail = (problem: string) => new UserError(`${problem}. ${src.hint}`);
    const updates = sets.map((s, i) => (s.group ? `${s.group} ${ts[i]}` : String(ts[i]))).join(', ');
    // after t > 0 updates Adam has both moments of every variable it optimises (Adam.apply creates them all)
    const expected: Record<string, number[]> = {};
    sets.forEach((s, i) => {
      if (ts[i] > 0)
        for (const [k, v] of Object.entries(s.vars))
          expected[`${s.prefix}${k}.m`] = expected[`${s.prefix}${k}.v`] = v.shape;
    });
    if (!tensors) {
      if (Object.keys(expected).length)
        throw fail(`${src.file} not found, but ${src.state} says Adam made ${updates} updates`);
    } else {
      const keys = Object.keys(tensors);
      const empty = sets.filter((s, i) => ts[i] > 0 && !keys.some((k) => k.startsWith(s.prefix)));
      if (empty.length) {
        const which = empty[0].group ? ` for optimizer group ${empty.map((s) => s.group).join(', ')}` : '';
        throw fail(`${src.file} has no Adam moments${which}, but ${src.state} says Adam made ${updates} updates`);
      }
      checkWeights(expected, tensors, src.file, src.hint);
    }
    const floats: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const key of Object.keys(expected)) {
      const data = recordToFloat32(tensors![key]);
      // a NaN moment, or a negative second moment (sqrt), would only show later as a NaN loss
      if (!data.every((x) => Number.isFinite(x) && (x >= 0 || key.endsWith('.m')))) {
        throw fail(`${src.file}: ${key} holds ${key.endsWith('.v') ? 'negative or ' : ''}non-finite values`);
      }
      floats[key] = { shape: tensors![key].shape, data };
    }
    sets.forEach((s, i) => {
      const own = Object.fromEntries(
        Object.entries(floats)
          .filter(([k]) => k.startsWith(s.prefix))
          .map(([k, r]) => [k.slice(s.prefix.length), r]),
      );
      s.opt.loadState(ts[i], own, s.vars);
    });
  }

  /** The optimisers whose state is saved, with their key prefix in optimizer.safetensors ("D/" per group, or ""). */
  private optimizerSets(): { group?: string; prefix: string; opt: Adam; vars: Record<string, tf.Variable> }[] {
    const names = Object.keys(this.groupOptimizers);
    if (names.length === 0) return [{ prefix: '', opt: this.optimizer, vars: this.vars }];
    return names.map((g) => ({ group: g, prefix: `${g}/`, opt: this.groupOptimizers[g], vars: this.groups[g].vars }));
  }

  /** Adam's t of each optimizerSets() entry from state.json's optimizerStep (format-checked by parseCheckpointState). */
  private parseOptimizerSteps(steps: unknown, src: OptimizerStateSource): number[] {
    const names = Object.keys(this.groupOptimizers);
    const count = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
    const bad = (why: string) =>
      new UserError(`${src.state} has optimizerStep ${JSON.stringify(steps)}, ${why}. ${src.hint}`);
    if (names.length === 0) {
      if (steps === undefined) return [this.step];
      if (!count(steps)) throw bad('but this model has one optimizer, whose step is a non-negative integer');
      return [steps as number];
    }
    const per =
      steps !== null && typeof steps === 'object' && !Array.isArray(steps) ? (steps as Record<string, unknown>) : null;
    if (!per) throw bad(`but this model has one optimizer per group (${names.join(', ')}), each with its own step`);
    const missing = names.filter((g) => !count(per[g]));
    if (missing.length) throw bad(`with no valid step for optimizer group ${missing.join(', ')}`);
    const extra = Object.keys(per).filter((g) => !names.includes(g));
    if (extra.length)
      throw bad(
        `naming optimizer group ${extra.join(', ')}, which this model does not have (it has ${names.join(', ')})`,
      );
    return names.map((g) => per[g] as number);
  }

  dispose(): void {
    this.optimizer.dispose();
    for (const o of Object.values(this.groupOptimizers)) o.dispose();
    this.ema?.dispose();
  }
}
