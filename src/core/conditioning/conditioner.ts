// Conditioner: turns y (class labels or text prompts) into an embedding c = embed(y) [B, dim] for any family, or a
// sequence form (per-token features + mask) for cross-attention, with a learned null embedding for dropped rows.
import * as tf from '@tensorflow/tfjs-core';
import { UserError, type ErrorHint } from '../errors.ts';
import type { DataInfo, NetworkSpec } from '../family.ts';
import type { ParamStore } from '../nn/params.ts';
import { Rng } from '../tensor/rng.ts';
import type { CondConfig } from './config.ts';
import { TextEncoder } from './text-encoder.ts';
import { BpeTokenizer, learnMerges } from './bpe.ts';
import { Tokenizer, type PromptTokenizer } from './tokenizer.ts';

/**
 * The prompt tokenizer of a text model: cond.tokenizer 'word' over info.vocabulary, or 'bpe' with info.merges (the
 * checkpoint's; when absent, as in a hand-built DataInfo, cond.merges merges learned from info.vocabulary).
 */
export function tokenizerFor(cfg: Pick<CondConfig, 'tokenizer' | 'merges'>, info: DataInfo): PromptTokenizer {
  const vocabulary = info.vocabulary ?? [];
  if (cfg.tokenizer === 'word') return new Tokenizer(vocabulary);
  return new BpeTokenizer(vocabulary, info.merges ?? learnMerges(vocabulary, cfg.merges));
}

export interface CondInput {
  /** One class label per row (kind 'label'). */
  labels?: tf.Tensor1D | number[] | null;
  /** One prompt per row (kind 'text'). */
  prompts?: string[] | null;
}

/** A condition for cross-attention: the pooled vector, a sequence of S feature rows, and which rows are real. */
export interface CondSeq {
  /** c [B, dim]: what embed() returns. */
  vec: tf.Tensor2D;
  /** [B, S, dim]: a text prompt's token features (S = maxTokens), or the label embedding as one row (S = 1). */
  seq: tf.Tensor3D;
  /** [B, S]: 1 for a real row, 0 for padding (attention never looks at padding). */
  mask: tf.Tensor2D;
}

/** Both conditions stacked along the batch (cond rows first), for one guided network call. */
export function concatCondSeq(a: CondSeq, b: CondSeq): CondSeq {
  return tf.tidy(() => ({
    vec: tf.concat([a.vec, b.vec], 0) as tf.Tensor2D,
    seq: tf.concat([a.seq, b.seq], 0) as tf.Tensor3D,
    mask: tf.concat([a.mask, b.mask], 0) as tf.Tensor2D,
  })) as unknown as CondSeq;
}

export function disposeCondSeq(c: CondSeq | null | undefined): void {
  if (c) tf.dispose([c.vec, c.seq, c.mask]);
}

/** One condition per row: a class label or a prompt. */
export type CondValue = number | string;

/**
 * c = embed(y) [B, dim] for a model with conditioner `cond`; the learned null embedding (trained on a cond.dropProb
 * fraction of rows) when y has no labels (label models) or prompts (text models); null for an unconditional model.
 */
export function embedOrNull(
  cond: Conditioner | null,
  y: CondInput,
  B: number,
  drop?: boolean[] | null,
): tf.Tensor2D | null {
  if (!cond) return null;
  const given = cond.kind === 'label' ? y.labels : y.prompts;
  return given ? cond.embed(y, B, drop) : cond.nullEmbed(B);
}

/** c [n, dim] for conditions ys cycled over n rows (none given: the null embedding; null: unconditional model). */
export function embedCycled(
  cond: Conditioner | null,
  ys: readonly CondValue[] | undefined,
  n: number,
): tf.Tensor2D | null {
  if (!cond) return null;
  if (!ys || ys.length === 0) return cond.nullEmbed(n);
  const full = Array.from({ length: n }, (_, i) => ys[i % ys.length]);
  if (full.every((y) => typeof y === 'number')) return embedOrNull(cond, { labels: full as number[] }, n);
  if (full.every((y) => typeof y === 'string')) return embedOrNull(cond, { prompts: full as string[] }, n);
  throw new Error('conditions mix labels and prompts');
}

/** The fix when labels or prompts meet a model that does not take them: a model trained to take them. */
const LABEL_MODEL: ErrorHint = { kind: 'setting', key: 'model.cond.kind', value: 'label' };
const TEXT_MODEL: ErrorHint = { kind: 'setting', key: 'model.cond.kind', value: 'text' };

/**
 * The labels or prompts of `opts`, checked against the model's conditioning (`model` names it in messages, e.g.
 * "this vae"); undefined when none are given.
 */
export function givenConds(cond: Conditioner | null, opts: SampleCondOptions, model: string): CondValue[] | undefined {
  const kind = cond?.kind ?? 'none';
  if (opts.labels?.length && kind !== 'label')
    throw new UserError(`${model} is not label-conditional (cond.kind = ${kind}), so labels do not apply`, LABEL_MODEL);
  if (opts.prompts?.length && kind !== 'text')
    throw new UserError(`${model} is not text-conditional (cond.kind = ${kind}), so prompts do not apply`, TEXT_MODEL);
  if (kind === 'label' && opts.labels?.length) {
    cond!.checkLabels(opts.labels);
    return opts.labels;
  }
  if (kind === 'text' && opts.prompts?.length) {
    cond!.checkPrompts(opts.prompts);
    return opts.prompts;
  }
  return undefined;
}

/**
 * The conditions to sample or decode with, to be cycled from row 0: givenConds, and for a label model given none every
 * class in turn; both rotated by opts.first, so that row i gets the condition of sample first + i.
 */
export function sampleConds(cond: Conditioner | null, opts: SampleCondOptions, model: string): CondValue[] | undefined {
  const ys =
    givenConds(cond, opts, model) ??
    (cond?.kind === 'label' ? Array.from({ length: cond.info.numClasses }, (_, i) => i) : undefined);
  const r = ys ? (opts.first ?? 0) % ys.length : 0;
  return ys && r ? [...ys.slice(r), ...ys.slice(0, r)] : ys;
}

/** What sample() was asked for, per family (only the fields that pick y, and the index of the first sample). */
export interface SampleCondOptions {
  labels?: number[];
  prompts?: string[];
  first?: number;
}

/**
 * y for n samples of a model with conditioner `cond` (null = unconditional model): labels or prompts cycled over the
 * samples from index opts.first, every class in turn for a label model given none, and null (unconditional samples) for a text model given
 * no prompt. Asking for what the model does not take is a UserError that names `model` (e.g. "this diffusion model").
 */
export function sampleCondInput(
  cond: Conditioner | null,
  n: number,
  opts: SampleCondOptions,
  model: string,
): CondInput | null {
  const labels = opts.labels?.length ? opts.labels : null,
    prompts = opts.prompts?.length ? opts.prompts : null;
  if (!cond) {
    if (labels)
      throw new UserError(`${model} is not label-conditional`, { kind: 'option', option: 'label', action: 'drop' });
    if (prompts)
      throw new UserError(`${model} is not text-conditional`, { kind: 'option', option: 'prompt', action: 'drop' });
    return null;
  }
  const first = opts.first ?? 0;
  const cycle = <T>(xs: T[]) => Array.from({ length: n }, (_, i) => xs[(first + i) % xs.length]);
  if (cond.kind === 'label') {
    if (prompts)
      throw new UserError(`${model} is label-conditional`, {
        kind: 'option',
        option: 'label',
        action: 'pass',
        instead: 'prompt',
      });
    return { labels: labels ? cycle(labels) : Array.from({ length: n }, (_, i) => (first + i) % cond.info.numClasses) };
  }
  if (labels)
    throw new UserError(`${model} is text-conditional`, {
      kind: 'option',
      option: 'prompt',
      action: 'pass',
      instead: 'label',
    });
  if (!prompts) return null;
  cond.checkPrompts(prompts);
  return { prompts: cycle(prompts) };
}

export class Conditioner {
  readonly kind: CondConfig['kind'];
  readonly dim: number;
  readonly tokenizer: PromptTokenizer | null = null;
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
        throw new UserError(
          'model.cond.kind=label needs a labelled dataset (e.g. fashion-mnist or shapes); this one has no class labels',
        );
      this.table = params.param(`${prefix}.label`, [info.numClasses, cfg.dim], { normal: 1 });
    } else {
      if (!info.vocabulary || info.vocabulary.length === 0)
        throw new UserError(
          'model.cond.kind=text needs a dataset with captions (shapes, fashion-mnist, mnist or a folder with class subfolders); this one has no vocabulary',
        );
      if (cfg.dim % cfg.textHeads !== 0)
        throw new UserError(`model.cond.dim (${cfg.dim}) must be divisible by model.cond.textHeads (${cfg.textHeads})`);
      this.tokenizer = tokenizerFor(cfg, info);
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

  /** Rows per condition sequence: maxTokens for text, 1 for a label. */
  get seqLen(): number {
    return this.kind === 'text' ? this.cfg.maxTokens : 1;
  }

  /** c [B, dim] for labels or prompts; rows with drop[i] get the null embedding. */
  embed(c: CondInput, B: number, drop?: boolean[] | null): tf.Tensor2D {
    return tf.tidy(() => this.embedSeq(c, B, drop).vec);
  }

  /** The condition as a vector and a sequence (for cross-attention); rows with drop[i] get the null condition. */
  embedSeq(c: CondInput, B: number, drop?: boolean[] | null): CondSeq {
    if (this.kind === 'none') throw new Error('Conditioner.embed called on an unconditional model (cond.kind = none)');
    if (drop && drop.length !== B) throw new Error(`drop mask has ${drop.length} rows, batch has ${B}`);
    return tf.tidy(() => {
      let e: CondSeq;
      if (this.kind === 'label') {
        const labels = c.labels;
        if (labels === undefined || labels === null)
          throw new UserError('this model is label-conditional', { kind: 'option', option: 'label', action: 'pass' });
        const n = Array.isArray(labels) ? labels.length : labels.shape[0];
        if (n !== B) throw new Error(`${n} labels for a batch of ${B}`);
        this.checkLabels(Array.isArray(labels) ? labels : Array.from(labels.dataSync()));
        const ids = Array.isArray(labels) ? tf.tensor1d(labels, 'int32') : tf.cast(labels, 'int32');
        // e_i = E[y_i], a row lookup written as onehot(y) E so its gradient needs no scatter kernel
        const vec = tf.matMul(
          tf.cast(tf.oneHot(ids as tf.Tensor1D, this.info.numClasses), 'float32') as tf.Tensor2D,
          this.table!,
        ) as tf.Tensor2D;
        e = { vec, seq: tf.reshape(vec, [B, 1, this.dim]) as tf.Tensor3D, mask: tf.ones([B, 1]) as tf.Tensor2D };
      } else {
        const prompts = c.prompts;
        if (!prompts)
          throw new UserError('this model is text-conditional', { kind: 'option', option: 'prompt', action: 'pass' });
        if (prompts.length !== B) throw new Error(`${prompts.length} prompts for a batch of ${B}`);
        const T = this.cfg.maxTokens;
        const { ids, mask } = this.tokenizer!.encode(prompts, T);
        const m = tf.tensor2d(mask, [B, T]);
        const { tokens, pooled } = this.textEncoder!.encodeSeq(tf.tensor2d(ids, [B, T], 'int32'), m);
        e = { vec: pooled, seq: tokens, mask: m };
      }
      if (!drop) return e as unknown as tf.TensorContainer;
      // c_i = d_i null + (1 - d_i) c_i for the vector, the sequence and its mask; blended even when no row drops, so
      // the null vector always has a (possibly zero) gradient and optimizer state does not appear mid-training
      const n = this.nullEmbedSeq(B);
      const d = tf.tensor1d(drop.map((v) => (v ? 1 : 0)));
      const mix = <T extends tf.Tensor>(a: T, b: T): T => {
        const dd = tf.reshape(d, [B, ...a.shape.slice(1).map(() => 1)]);
        return tf.add(tf.mul(a, tf.sub(1, dd)), tf.mul(b, dd)) as T;
      };
      return {
        vec: mix(e.vec, n.vec),
        seq: mix(e.seq, n.seq),
        mask: mix(e.mask, n.mask),
      } as unknown as tf.TensorContainer;
    }) as unknown as CondSeq;
  }

  /** The condition encoder as a network (for export): labels [B] int32, or token ids [B, T] int32 and their mask
   *  [B, T] (1 = token, 0 = padding) -> vec [B, dim], seq [B, S, dim], mask [B, S]. */
  network(): NetworkSpec {
    if (this.kind === 'none')
      throw new Error('Conditioner.network called on an unconditional model (cond.kind = none)');
    const label = this.kind === 'label';
    const T = this.seqLen;
    return {
      name: this.prefix === 'cond' ? 'embed' : `embed_${this.prefix.split('.')[0]}`,
      doc: label
        ? 'The label embedding: labels [B] int64 -> vec [B, dim], seq [B, 1, dim], mask [B, 1].'
        : 'The text encoder: token ids [B, T] int64 and mask [B, T] (1 = token) -> vec (pooled) [B, dim], seq [B, T, dim], mask.',
      example: (B, seed): Record<string, tf.Tensor> => {
        const rng = new Rng(seed);
        if (label)
          return {
            labels: tf.tensor1d(
              Array.from({ length: B }, () => rng.int(this.info.numClasses)),
              'int32',
            ),
          };
        const lengths = Array.from({ length: B }, () => 1 + rng.int(T));
        const ids = Array.from({ length: B * T }, () => rng.int(this.tokenizer!.size));
        const mask = Array.from({ length: B * T }, (_, i) => (i % T < lengths[Math.floor(i / T)] ? 1 : 0));
        return { ids: tf.tensor2d(ids, [B, T], 'int32'), mask: tf.tensor2d(mask, [B, T]) };
      },
      ...(label
        ? {}
        : {
            tokenize: (prompts: string[]) => {
              const { ids, mask } = this.tokenizer!.encode(prompts, T);
              return { ids: Int32Array.from(ids), mask: Float32Array.from(mask), T };
            },
          }),
      run: (i) => {
        if (label) {
          const { vec, seq, mask } = this.embedSeq({ labels: i.labels as tf.Tensor1D }, i.labels.shape[0]);
          return { vec, seq, mask };
        }
        const { tokens, pooled } = this.textEncoder!.encodeSeq(i.ids as tf.Tensor2D, i.mask as tf.Tensor2D);
        return { vec: pooled, seq: tokens, mask: i.mask };
      },
    };
  }

  /** A seeded example condition for B rows (export's example inputs): network() run on its own example. */
  exampleSeq(B: number, seed: number): CondSeq {
    const net = this.network();
    return tf.tidy(() => net.run(net.example(B, seed)) as unknown as tf.TensorContainer) as unknown as CondSeq;
  }

  /** { c: exampleSeq(B, seed).vec }, the vector input a network takes beside its own (export's example inputs). */
  exampleVec(B: number, seed: number): { c: tf.Tensor2D } {
    return { c: this.exampleSeq(B, seed).vec };
  }

  /** The null condition as a sequence: the null vector in row 0, padding after it. */
  nullEmbedSeq(B: number): CondSeq {
    if (!this.nullVec) throw new Error('Conditioner.nullEmbed called on an unconditional model (cond.kind = none)');
    const S = this.seqLen;
    return tf.tidy(() => {
      const vec = tf.tile(this.nullVec!, [B, 1]) as tf.Tensor2D;
      const row = tf.reshape(vec, [B, 1, this.dim]);
      const seq = (S === 1 ? row : tf.concat([row, tf.zeros([B, S - 1, this.dim])], 1)) as tf.Tensor3D;
      const mask = tf.tensor2d(
        Array.from({ length: B * S }, (_, i) => (i % S === 0 ? 1 : 0)),
        [B, S],
      );
      return { vec, seq, mask } as unknown as tf.TensorContainer;
    }) as unknown as CondSeq;
  }

  /** The condition of a test batch: embedSeq(c), except that a text model given no prompts (a test set without
   *  captions) gets the null condition, i.e. it is evaluated unconditionally. */
  evalEmbedSeq(c: CondInput, B: number): CondSeq {
    return this.kind === 'text' && !c.prompts ? this.nullEmbedSeq(B) : this.embedSeq(c, B);
  }

  /** The vector form of evalEmbedSeq: [B, dim]. */
  evalEmbed(c: CondInput, B: number): tf.Tensor2D {
    return this.kind === 'text' && !c.prompts ? this.nullEmbed(B) : this.embed(c, B);
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

  /** Validate prompts before any work (CLI): kind, empty or too long prompts, unknown words (word tokenizer). */
  checkPrompts(prompts: string[]): void {
    if (this.kind !== 'text')
      throw new UserError(
        `this model is not text-conditional (cond.kind = ${this.kind}), so prompts do not apply`,
        TEXT_MODEL,
      );
    for (const p of prompts) this.tokenizer!.tokenize(p, this.cfg.maxTokens);
  }

  /** Validate class labels: integers in 0..numClasses-1. */
  checkLabels(labels: ArrayLike<number>): void {
    if (this.kind !== 'label')
      throw new UserError(
        `this model is not label-conditional (cond.kind = ${this.kind}), so labels do not apply`,
        LABEL_MODEL,
      );
    const K = this.info.numClasses;
    for (const y of Array.from(labels)) {
      if (!Number.isInteger(y) || y < 0 || y >= K) {
        const names = this.info.classNames ? `: ${this.info.classNames.map((n, i) => `${i} ${n}`).join(', ')}` : '';
        throw new UserError(`label ${y} is out of range: this model has ${K} classes (0..${K - 1})${names}`);
      }
    }
  }
}
