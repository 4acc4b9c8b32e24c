// The Family interface every model family implements, and the model contract the trainer, CLI and tests rely on.
import type * as tf from '@tensorflow/tfjs-core';
import type { z } from 'zod';
import type { DataConfig, TrainConfig } from './config/schema.ts';
import type { EvalResult } from './eval/result.ts';
import type { PlainObject } from './config/overrides.ts';
import type { ParamStore } from './nn/params.ts';
import { condKindOfModel } from './conditioning/config.ts';
import { UserError } from './errors.ts';
import type { LossOutput, OptimizerGroup, StepContext, StepResult } from './train/trainer.ts';

/** What a model needs to know about its data. */
export interface DataInfo {
  height: number;
  width: number;
  channels: number;
  /** 0 when the dataset has no labels. */
  numClasses: number;
  classNames?: string[];
  /** Sorted distinct words of the training captions (text-conditional models tokenize prompts with it). */
  vocabulary?: string[];
  /** BPE merges learned from the training captions, "left right" in merge order (models with cond.tokenizer 'bpe');
   *  kept with the model so that its token ids never depend on how a later version would learn them. */
  merges?: string[];
}

/** The noise scale T of a family that samples z ~ N(0, T^2 I) (flow, GAN): the request's, else the config's; a
 *  negative or non-finite T is a UserError. */
export function sampleTemperature(requested: number | undefined, configured: number): number {
  const T = requested ?? configured;
  if (!(Number.isFinite(T) && T >= 0))
    throw new UserError(
      `temperature must be a number >= 0 (z ~ N(0, T^2 I); 1 = the model's own distribution), got ${T}`,
    );
  return T;
}

export interface SampleOptions {
  /** Index of the first sample in the request (default 0): sample(k, seed, { first: a }) returns samples a .. a+k-1 of
   *  sample(n, seed) for any n >= a + k, since each sample draws from its own stream and labels or prompts are cycled
   *  from index `first` (how sample-chunks.ts splits a large n). */
  first?: number;
  /** One class label per sample (label-conditional models). */
  labels?: number[];
  /** One prompt per sample (text-conditional models). */
  prompts?: string[];
  /** Classifier-free guidance weight w: eps = eps_uncond + w (eps_cond - eps_uncond); 1 = plain conditional. */
  guidance?: number;
  /** Sampler steps (iterative samplers, e.g. diffusion's DDIM). */
  steps?: number;
  /** Sampler name, a key of src/core/diffusion/samplers (diffusion), e.g. 'ddim' or 'ddpm'. */
  sampler?: string;
  /** DDIM's eta (0 = deterministic). */
  eta?: number;
  /** Sampling temperature T of a flow: z ~ N(0, T^2 I) (1 = the model's own distribution). */
  temperature?: number;
  /** Called with the current images [n,H,W,C] in [0,1] as sampling proceeds (animations); the callee must not keep them.
   *  `more` holds what an iterative sampler can show beside them (diffusion: the predicted x_0), see FrameDetail. */
  onFrame?: (images: tf.Tensor4D, step: number, total: number, more?: FrameDetail) => void;
  /** Autoregressive models: called after every drawn value (the playground's pixel-by-pixel view); see PixelStep. */
  onPixel?: (p: PixelStep) => void;
}

/** What a sampler can show beside a frame's images; each part is computed only when called, so a listener that does not
 *  ask pays nothing. The tensors returned are valid during the onFrame call only: the callee must not keep them. */
export interface FrameDetail {
  /** Diffusion: the model's prediction of the final images at this step, x0hat = (x_t - sqrt(1 - alphaBar_t) eps) /
   *  sqrt(alphaBar_t) from the step's x_t and guided eps, clipped to the data range, [n,H,W,C] in [0,1]. */
  x0?: () => tf.Tensor4D;
}

/** One step of autoregressive sampling: the value just drawn at (row, col, channel) and what the model predicted there. */
export interface PixelStep {
  row: number;
  col: number;
  /** The channel drawn, or -1 when the model draws all channels of a pixel at once (image GPT's palette tokens). */
  channel: number;
  /** Sample 0's predicted distribution p(x_i | x_<i, y) over the K values (after guidance), summing to 1. */
  probs: Float32Array;
  /** The display colour of each of the K values, [K * c] in [0, 1]: c = 1 (a channel value) or 3 (a palette colour). */
  colors: Float32Array;
  /** Sample 0's drawn value, an index into probs. */
  drawn: number;
  /** All n images so far [n, H, W, C] in [0, 1], values not yet drawn 0; the callee must not keep it. */
  images: Float32Array;
}

/**
 * A model's latent space (the playground's sliders, reconstructions and interpolations): codes z [n, dim] and the
 * images [n, H, W, C] in [0, 1] they decode to. sample(n, seed, opts) equals decode(prior(n, seed, T), opts).
 */
export interface LatentSpace {
  /** Length of one image's flattened code. */
  dim: number;
  /** What a code is, one line for the page, e.g. "z ~ N(0, I), 32 dimensions". */
  description: string;
  /** The codes sample(n, seed) decodes: n prior draws from the seed, at temperature T where the family has one. */
  prior(n: number, seed: number, temperature?: number): tf.Tensor2D;
  /** Images [n,H,W,C] in [0,1] from codes z [n, dim]; labels or prompts in opts cycled over the rows as sample() does. */
  decode(z: tf.Tensor2D, opts?: SampleOptions): tf.Tensor4D;
  /** Codes [n, dim] of preprocessed images x (as loss() takes them): the VAE's mean mu, the AE's code, the flow's f(x).
   *  A conditional model encodes with opts' labels or prompts (cycled) and, given none, its learned null embedding (so
   *  pass the images' own labels to decode them back). Absent when the model has no encoder (GANs). */
  encode?(x: tf.Tensor4D, opts?: SampleOptions): tf.Tensor2D;
}

export interface GenerativeModel {
  readonly params: ParamStore;
  /** Training loss on a preprocessed batch x [B,H,W,C] with labels y [B] (or null) and captions (text-conditional). */
  loss(x: tf.Tensor4D, y: tf.Tensor1D | null, seed: number, captions?: string[] | null): LossOutput;
  /** n images [n,H,W,C] with values in [0,1]; sample i is a function of (seed, opts.first + i) and the options alone. */
  sample(n: number, seed: number, opts?: SampleOptions): tf.Tensor4D;
  /**
   * sample() for backends that read values back only asynchronously (WebGPU), where sampling reads values as it goes
   * (autoregressive draws) or shows steps live: the same samples, with a turn of the event loop between steps.
   */
  sampleAsync?(n: number, seed: number, opts?: SampleOptions): Promise<tf.Tensor4D>;
  /**
   * Named variable groups, each trained by its own Adam (e.g. a GAN's { D, G }): disjoint subsets of params.vars that
   * together cover every variable that should learn. Comes with trainStep.
   */
  optimizerGroups?(): Record<string, OptimizerGroup>;
  /**
   * The model's own training step on a preprocessed batch (instead of minimising loss() over all variables): it calls
   * ctx.update(group, lossFn) for each optimiser update it wants, e.g. n_critic discriminator updates and then one
   * generator update. Returns plain numbers.
   */
  trainStep?(
    x: tf.Tensor4D,
    y: tf.Tensor1D | null,
    seed: number,
    captions: string[] | null,
    ctx: StepContext,
  ): StepResult;
  /** The variables the EMA averages and sampling swaps in (default params.vars), e.g. only a GAN's generator. */
  emaVars?(): Record<string, tf.Variable>;
  /** Called once after training with preprocessed training batches (e.g. the AE fits its code distribution). */
  afterTraining?(batches: Iterable<EvalBatch>): void;
  /** Teaching pictures built from some preprocessed test images (reconstructions, interpolations, ...), with their
   *  labels (label-conditional models) or captions (text-conditional models, when the caller has them). */
  pictures?(x: tf.Tensor4D, labels: number[] | undefined, seed: number, captions?: string[]): Picture[];
  /** The latent space, for models that decode codes to images (VAE, AE, flow, GAN). */
  latentSpace?(): LatentSpace;
  /** Test-set metrics over preprocessed batches: the likelihood figure where the model has one, its other bounds and
   *  terms (per image unless named otherwise). Zero batches give the same fields (n = 0), so a caller can learn which
   *  figures a model reports without data (evalCapabilities in core/eval/result.ts). */
  evaluate?(batches: Iterable<EvalBatch>, opts: EvalOptions): EvalResult;
  /** The model's networks as functions of named tensors, in the order a caller runs them (e.g. the condition
   *  encoder, then the denoiser), which `deepgen export` traces into PyTorch code (src/core/export). */
  networks?(): NetworkSpec[];
  dispose(): void;
}

/** One network of a model: named tensors in, named tensors out; batch first in every input and output. */
export interface NetworkSpec {
  /** The method's name in the exported model.py, e.g. 'embed', 'denoise', 'encode', 'generate' (verbs: nouns name parameter groups). */
  name: string;
  /** What the network computes, one line (the exported code's docstring). */
  doc: string;
  /** Seeded example inputs for a batch of B (any B >= 1 gives the same graph). */
  example(B: number, seed: number): Record<string, tf.Tensor>;
  run(inputs: Record<string, tf.Tensor>): Record<string, tf.Tensor>;
  /** What the exported train.py and sample.py need beside the config (a noise schedule, a palette), as JSON. */
  info?: Record<string, unknown>;
  /** A text condition encoder's token ids and mask [B * T] for prompts (what `deepgen export --data` stores). */
  tokenize?(prompts: string[]): { ids: Int32Array; mask: Float32Array; T: number };
}

export interface Picture {
  /** File stem, e.g. "reconstructions". */
  name: string;
  /** [N,H,W,C] in [0,1]; disposed by the caller. */
  images: tf.Tensor4D;
  cols: number;
  caption: string;
}

export interface EvalBatch {
  x: tf.Tensor4D;
  y: tf.Tensor1D | null;
  captions?: string[] | null;
}

export interface EvalOptions {
  /** Importance samples for the IWAE bound (0 = skip). */
  iwaeK: number;
  seed: number;
  onBatch?: (done: number) => void;
  /** Also return the likelihood's nats of each image (EvalResult.perImage). */
  perImage?: boolean;
}

/** How a family's sample() proceeds (see Family.generation). */
export type Generation = 'one-pass' | 'steps' | 'pixels';

/** Sampling options beyond n, seed and the condition that a family's sample() honours (the CLI rejects the others). */
export type SamplingOption = 'guidance' | 'steps' | 'sampler' | 'eta' | 'temperature' | 'animate';

export interface Family<M = unknown> {
  name: string;
  summary: string;
  modelSchema: z.ZodType<M>;
  /** Defaults for each config section; the model section is complete, data/train are partial. */
  defaults: { model: PlainObject; data: Partial<DataConfig>; train: Partial<TrainConfig> };
  /** Model overrides for a tiny, fast instance (contract tests, fixtures, playground smoke tests). */
  tinyPreset: PlainObject;
  /** Whether the model needs labels (conditional). */
  needsLabels(model: M): boolean;
  /** The only pixel preprocessing the model works with (e.g. diffusion's [-1, 1]), if it has one; a function when it
   *  depends on the model config (the VAE's logistic decoder needs the 8-bit values as k/255). */
  requiredPreprocess?: DataConfig['preprocess'] | ((model: M) => DataConfig['preprocess'] | undefined);
  /** Which of SampleOptions' guidance / steps / sampler / eta / temperature / onFrame (animate) apply; absent = none. */
  samplingOptions?: readonly SamplingOption[];
  /** What loss() measures, for plots (default 'nats per image'). */
  lossUnit?: string;
  /** sample() ignores the seed: the same condition, the same image (the oneshot baseline). Absent = a seed draws
   *  other samples. */
  deterministic?: boolean;
  /** How sample() proceeds, for progress and for what a viewer shows: 'one-pass' (a network evaluation per batch:
   *  VAE, GAN, flow), 'steps' (an iterative sampler over timesteps, reporting frames: diffusion) or 'pixels' (one value
   *  at a time in raster order, reporting each through onPixel: PixelCNN, image GPT). Absent = 'one-pass'. */
  generation?: Generation;
  /** Whether the model needs captions (text-conditional); absent = never. */
  needsCaptions?(model: M): boolean;
  create(model: M, info: DataInfo, seed: number): GenerativeModel;
}

/** The preprocessing a family's model config requires, or undefined when any is accepted. */
export function requiredPreprocessOf<M>(fam: Family<M>, model: M): DataConfig['preprocess'] | undefined {
  return typeof fam.requiredPreprocess === 'function' ? fam.requiredPreprocess(model) : fam.requiredPreprocess;
}

/** What a family states in defineFamily(): a Family without what is derived (the model defaults, needsLabels/Captions). */
export interface FamilySpec<M> extends Omit<Family<M>, 'defaults' | 'needsLabels' | 'needsCaptions'> {
  /** Defaults for the data and train sections (partial); the model section's are modelSchema.parse({}). */
  defaults: { data: Partial<DataConfig>; train: Partial<TrainConfig> };
  /** Default: the model config's cond.kind is 'label'. */
  needsLabels?(model: M): boolean;
  /** Default: the model config's cond.kind is 'text'. */
  needsCaptions?(model: M): boolean;
}

/**
 * A Family from what differs between families: the model defaults come from the model schema, and a model needs
 * labels (captions) when its `cond.kind` is 'label' ('text'), the shared conditioning section every family has.
 */
export function defineFamily<M>(spec: FamilySpec<M>): Family<M> {
  return {
    needsLabels: (m) => condKindOfModel(m) === 'label',
    needsCaptions: (m) => condKindOfModel(m) === 'text',
    ...spec,
    defaults: { model: spec.modelSchema.parse({}) as PlainObject, ...spec.defaults },
  };
}
