// Conditioner: turns y (class labels or text prompts) into an embedding c = embed(y) [B, dim] for any family,
// with a learned null embedding for dropped rows (classifier-free guidance training and unconditional sampling).
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import type { DataInfo } from '../family.ts';
import type { ParamStore } from '../nn/params.ts';
import { Rng } from '../tensor/rng.ts';
import type { CondConfig } from './config.ts';
import { TextEncoder } from './text-encoder.ts';
import { Tokenizer } from './tokenizer.ts';

export interface CondInput {
  /** One class label per row (kind 'label'). */
  labels?: tf.Tensor1D | number[] | null;
  /** One prompt per row (kind 'text'). */
  prompts?: string[] | null;
}

export class Conditioner {
  readonly kind: CondConfig['kind'];
  readonly dim: number;
  readonly tokenizer: Tokenizer | null = null;
  readonly textEncoder: TextEncoder | null = null;
  private readonly table: tf.Variable | null = null; // [numClasses, dim]
  private readonly nullVec: tf.Variable | null = null; // [1, dim]

  constructor(
    readonly cfg: CondConfig,
    readonly info: DataInfo,
    params: ParamStore,
    readonly prefix = 'cond',
  ) {
    this.kind = cfg.kind;
    this.dim = cfg.dim;
    if (cfg.kind === 'none') return;
    if (cfg.kind === 'label') {
      if (!(info.numClasses > 0))
        throw new UserError('model.cond.kind=label needs a labelled dataset (e.g. fashion-mnist or shapes); this one has no class labels');
      this.table = params.param(`${prefix}.label`, [info.numClasses, cfg.dim], { normal: 1 });
    } else {
      if (!info.vocabulary || info.vocabulary.length === 0)
        throw new UserError('model.cond.kind=text needs a dataset with captions (shapes, fashion-mnist, mnist or a folder with class subfolders); this one has no vocabulary');
      if (cfg.dim % cfg.textHeads !== 0) throw new UserError(`model.cond.dim (${cfg.dim}) must be divisible by model.cond.textHeads (${cfg.textHeads})`);
      this.tokenizer = new Tokenizer(info.vocabulary);
      this.textEncoder = new TextEncoder(params, `${prefix}.text`, {
        vocabSize: this.tokenizer.size,
        dim: cfg.dim,
        layers: cfg.textLayers,
        heads: cfg.textHeads,
        maxTokens: cfg.maxTokens,
      });
    }
    this.nullVec = params.param(`${prefix}.null`, [1, cfg.dim], { normal: 1 });
  }

  /** c [B, dim] for labels or prompts; rows with drop[i] get the null embedding. */
  embed(c: CondInput, B: number, drop?: boolean[] | null): tf.Tensor2D {
    if (this.kind === 'none') throw new Error('Conditioner.embed called on an unconditional model (cond.kind = none)');
    if (drop && drop.length !== B) throw new Error(`drop mask has ${drop.length} rows, batch has ${B}`);
    return tf.tidy(() => {
      let e: tf.Tensor2D;
      if (this.kind === 'label') {
        const labels = c.labels;
        if (labels === undefined || labels === null) throw new UserError('this model is label-conditional: pass class labels (--label N or a class name)');
        const n = Array.isArray(labels) ? labels.length : labels.shape[0];
        if (n !== B) throw new Error(`${n} labels for a batch of ${B}`);
        this.checkLabels(Array.isArray(labels) ? labels : Array.from(labels.dataSync()));
        const ids = Array.isArray(labels) ? tf.tensor1d(labels, 'int32') : tf.cast(labels, 'int32');
        // e_i = E[y_i], a row lookup written as onehot(y) E so its gradient needs no scatter kernel
        e = tf.matMul(tf.cast(tf.oneHot(ids as tf.Tensor1D, this.info.numClasses), 'float32') as tf.Tensor2D, this.table!);
      } else {
        const prompts = c.prompts;
        if (!prompts) throw new UserError('this model is text-conditional: pass prompts (--prompt "...")');
        if (prompts.length !== B) throw new Error(`${prompts.length} prompts for a batch of ${B}`);
        const T = this.cfg.maxTokens;
        const { ids, mask } = this.tokenizer!.encode(prompts, T);
        e = this.textEncoder!.encode(tf.tensor2d(ids, [B, T], 'int32'), tf.tensor2d(mask, [B, T]));
      }
      if (!drop) return e;
      // c_i = d_i null + (1 - d_i) e_i; blended even when no row drops, so the null vector always has a
      // (possibly zero) gradient and optimizer state does not appear mid-training
      const d = tf.tensor2d(drop.map((v) => (v ? 1 : 0)), [B, 1]);
      return tf.add(tf.mul(e, tf.sub(1, d)), tf.mul(this.nullVec!, d)) as tf.Tensor2D;
    });
  }

  /** The learned null embedding repeated: [B, dim]. */
  nullEmbed(B: number): tf.Tensor2D {
    if (!this.nullVec) throw new Error('Conditioner.nullEmbed called on an unconditional model (cond.kind = none)');
    return tf.tidy(() => tf.tile(this.nullVec!, [B, 1]) as tf.Tensor2D);
  }

  /** Seeded Bernoulli(dropProb) per row: which rows train the null embedding. */
  dropMask(B: number, seed: number): boolean[] {
    const rng = new Rng(seed);
    const p = this.cfg.dropProb;
    return Array.from({ length: B }, () => rng.uniform() < p);
  }

  /** Validate prompts before any work (CLI): kind, empty or too long prompts, unknown words. */
  checkPrompts(prompts: string[]): void {
    if (this.kind !== 'text') throw new UserError(`this model is not text-conditional (cond.kind = ${this.kind}), so prompts do not apply; train with --set model.cond.kind=text`);
    for (const p of prompts) this.tokenizer!.tokenize(p, this.cfg.maxTokens);
  }

  /** Validate class labels: integers in 0..numClasses-1. */
  checkLabels(labels: ArrayLike<number>): void {
    if (this.kind !== 'label') throw new UserError(`this model is not label-conditional (cond.kind = ${this.kind}), so labels do not apply; train with --conditional`);
    const K = this.info.numClasses;
    for (const y of Array.from(labels)) {
      if (!Number.isInteger(y) || y < 0 || y >= K) {
        const names = this.info.classNames ? `: ${this.info.classNames.map((n, i) => `${i} ${n}`).join(', ')}` : '';
        throw new UserError(`label ${y} is out of range: this model has ${K} classes (0..${K - 1})${names}`);
      }
    }
  }
}
