// Model: the public face of a trained model. Sampling, encoding, decoding and likelihoods on plain pixel arrays, with
// what a model can do (conditioning, latent space, likelihood, sampler options) read from its capabilities, never
// from its family's name. Memory stays one chunk's whatever n: sampling goes through sampleChunks.
import { getSampler, samplerNames } from '../diffusion/samplers/index.ts';
import { condKindOf, type CondKind } from '../conditioning/config.ts';
import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedRunConfig } from '../config/run-config.ts';
import { preprocessBatch, type Preprocess } from '../data/preprocess.ts';
import { UserError } from '../errors.ts';
import { evalCapabilities, type LikelihoodKind } from '../eval/result.ts';
import type {
  DataInfo,
  EvalBatch,
  GenerativeModel,
  LatentSpace,
  Generation,
  SampleOptions,
  SamplingOption,
} from '../family.ts';
import { getFamily } from '../registry.ts';
import { DEFAULT_SAMPLE_CHUNK, sampleChunks } from '../sample-chunks.ts';
import { mixSeed } from '../tensor/rng.ts';
import {
  checkCodes,
  checkImages,
  imagesToTensor255,
  sliceImages,
  tensorToImages,
  type Codes,
  type Images,
} from './images.ts';
import { labelIndex } from './labels.ts';

/** How a model is conditioned: not at all, on a class label, or on a text prompt. */
export type Conditioning = CondKind;

/** What a model can do; each Model method and option that depends on it is present or accepted only when it is. */
export interface ModelCapabilities {
  conditioning: Conditioning;
  /** A latent space: decode() exists (VAE, AE, flow, GAN). */
  latent: boolean;
  /** An encoder into the latent space: encode() exists (VAE, AE, flow). */
  encoder: boolean;
  /** A likelihood: logProb() exists (exact for autoregressive models, a bound for VAE, flow and diffusion). */
  likelihood: boolean;
  /** The sampling options sample() accepts beyond n, seed, label and prompt. */
  samplingOptions: readonly SamplingOption[];
  /** How sampling proceeds: 'one-pass' (fast), 'steps' (an iterative sampler) or 'pixels' (one value at a time). */
  generation: Generation;
  /** Class names of a label-conditional model (labels may be given by name). */
  classNames?: string[];
}

/** Options of Model.sample. */
export interface SampleRequest {
  /** Number of images. */
  n: number;
  /** Seed (default 0): the same seed and options give the same bytes, whatever batchSize. */
  seed?: number;
  /** Label-conditional models: a class index or name, or one per image (cycled); default every class in turn. */
  label?: number | string | readonly (number | string)[];
  /** Text-conditional models: a prompt, or one per image (cycled); default unconditional. */
  prompt?: string | readonly string[];
  /** Classifier-free guidance weight w: eps_uncond + w (eps_cond - eps_uncond); 1 = plain conditional. */
  guidance?: number;
  /** Sampler steps (diffusion). */
  steps?: number;
  /** Sampler name, e.g. 'ddim' or 'ddpm' (diffusion). */
  sampler?: string;
  /** DDIM's eta: 0 deterministic, 1 like DDPM. */
  eta?: number;
  /** Sampling temperature T, z ~ N(0, T^2 I) (flow). */
  temperature?: number;
  /** Images drawn per forward pass (default 64): memory grows with it, not with n. */
  batchSize?: number;
  /** Called after each batch with the images done so far. */
  onStep?: (p: { done: number; total: number }) => void;
}

/** Conditions of encode, decode and logProb: the images' labels or prompts (cycled); none = the null condition. */
export interface ConditionOptions {
  label?: number | string | readonly (number | string)[];
  prompt?: string | readonly string[];
}

/** -log p(x) of each image. */
export interface LogProb {
  /** -log p(x) in nats of each image (or the bound on it). */
  nats: Float64Array;
  /** Mean bits per dimension over the images: mean(nats) / (H W C ln 2). */
  bitsPerDim: number;
  kind: LikelihoodKind;
  /** What the figure is: 'exact', '-ELBO', 'VLB', 'dequantization'. */
  name: string;
  /** True when nats is -log P of the 8-bit values (or a bound on it); false for a density of continuous or binarized
   *  values (a VAE's bernoulli or gaussian decoder). */
  discrete: boolean;
}

/** The parts of a loaded checkpoint a Model is made of (see modelFromCheckpoint). */
export interface ModelParts {
  cfg: ResolvedRunConfig;
  info: DataInfo;
  model: GenerativeModel;
  usedEma: boolean;
}

const SAMPLING_KEYS = [
  'guidance',
  'steps',
  'sampler',
  'eta',
  'temperature',
] as const satisfies readonly SamplingOption[];
/** Images per evaluate batch in logProb, as `deepgen eval` batches the test set (so seeded bounds agree). */
const EVAL_BATCH = 500;

/** A trained model on pixel arrays; free its weights with dispose(). Build one with loadModel. */
export class Model {
  /** The family's name, e.g. 'vae' (for display: choose by `capabilities`). */
  readonly family: string;
  readonly config: ResolvedRunConfig;
  /** The image shape and classes the model was trained on. */
  readonly info: DataInfo;
  readonly capabilities: ModelCapabilities;
  /** Whether the EMA weights were loaded. */
  readonly usedEma: boolean;
  /** Codes of images (present when the model has an encoder). */
  readonly encode?: (images: Images, opts?: ConditionOptions & { seed?: number }) => Promise<Codes>;
  /** Images from codes (present when the model has a latent space). */
  readonly decode?: (codes: Codes, opts?: ConditionOptions & { batchSize?: number }) => Promise<{ images: Images }>;
  /** -log p(x) of each image (present when the model has a likelihood). */
  readonly logProb?: (images: Images, opts?: ConditionOptions & { seed?: number }) => Promise<LogProb>;
  private readonly model: GenerativeModel;
  private readonly latentSpace: LatentSpace | undefined;
  private disposed = false;

  /** Wraps a model rebuilt from a checkpoint; the Model owns it from now on. */
  constructor(parts: ModelParts) {
    this.family = parts.cfg.family;
    this.config = parts.cfg;
    this.info = parts.info;
    this.usedEma = parts.usedEma;
    this.model = parts.model;
    this.latentSpace = parts.model.latentSpace?.();
    const cond: Conditioning = condKindOf(parts.cfg);
    const likelihood = evalCapabilities(parts.model).likelihood !== null;
    this.capabilities = {
      conditioning: cond,
      latent: !!this.latentSpace,
      encoder: !!this.latentSpace?.encode,
      likelihood,
      samplingOptions: [...(getFamily(parts.cfg.family).samplingOptions ?? [])],
      generation: getFamily(parts.cfg.family).generation ?? 'one-pass',
      ...(cond === 'label'
        ? { classNames: parts.info.classNames ?? Array.from({ length: parts.info.numClasses }, (_, i) => String(i)) }
        : {}),
    };
    if (this.capabilities.encoder) this.encode = (images, opts) => this.encodeImages(images, opts);
    if (this.capabilities.latent) this.decode = (codes, opts) => this.decodeCodes(codes, opts);
    if (likelihood) this.logProb = (images, opts) => this.logProbOf(images, opts);
  }

  /** n images drawn from the model: { images } 8-bit NHWC, the same bytes for the same seed and options. */
  async sample(opts: SampleRequest): Promise<{ images: Images }> {
    this.live();
    const { n } = opts;
    if (!(Number.isSafeInteger(n) && n > 0)) throw new UserError(`n must be a positive integer, got ${n}`);
    const seed = seedOf(opts.seed);
    const chunk = opts.batchSize ?? DEFAULT_SAMPLE_CHUNK;
    if (!(Number.isSafeInteger(chunk) && chunk > 0))
      throw new UserError(`batchSize must be a positive integer, got ${chunk}`);
    const base: SampleOptions = { ...this.conditions(opts, true), ...this.samplingOptions(opts) };
    const { height: H, width: W, channels: C } = this.info;
    const data = new Uint8Array(n * H * W * C);
    for (const { first, images } of sampleChunks(this.model, n, seed, base, chunk)) {
      data.set((await tensorToImages(images)).data, first * H * W * C);
      opts.onStep?.({ done: first + images.shape[0], total: n });
    }
    return { images: { n, height: H, width: W, channels: C, data } };
  }

  /** Frees the weights; the model cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }

  private live(): void {
    if (this.disposed) throw new UserError(`this ${this.family} model was disposed; load it again`);
  }

  /** Labels (as indices) and prompts of a request, checked against the model's conditioning. */
  private conditions(o: ConditionOptions, everyClassByDefault: boolean): Pick<SampleOptions, 'labels' | 'prompts'> {
    const cond = this.capabilities.conditioning;
    const out: Pick<SampleOptions, 'labels' | 'prompts'> = {};
    if (o.label !== undefined) {
      if (cond !== 'label')
        throw new UserError(`this ${this.family} model is not label-conditional, so a label does not apply`);
      const list = Array.isArray(o.label) ? o.label : [o.label as number | string];
      if (list.length === 0) throw new UserError('label must be a class or a non-empty list of classes');
      out.labels = list.map((l) => labelIndex(l, this.info.classNames, this.info.numClasses));
    } else if (cond === 'label' && everyClassByDefault) {
      out.labels = Array.from({ length: this.info.numClasses }, (_, i) => i);
    }
    if (o.prompt !== undefined) {
      if (cond !== 'text')
        throw new UserError(`this ${this.family} model is not text-conditional, so a prompt does not apply`);
      const list = typeof o.prompt === 'string' ? [o.prompt] : [...o.prompt];
      if (list.length === 0 || list.some((p) => typeof p !== 'string'))
        throw new UserError('prompt must be a string or a non-empty list of strings');
      out.prompts = list;
    }
    return out;
  }

  /** The sampler settings of a request, each checked against the options the model accepts and its range. */
  private samplingOptions(o: SampleRequest): SampleOptions {
    const out: SampleOptions = {};
    const accepted = this.capabilities.samplingOptions;
    for (const key of SAMPLING_KEYS) {
      const v = o[key];
      if (v === undefined) continue;
      if (!accepted.includes(key)) {
        const which = accepted.filter((k) => k !== 'animate');
        throw new UserError(
          `${key} does not apply to this ${this.family} model; it takes ${which.length ? which.join(', ') : 'no sampler options'}`,
        );
      }
      const bad = (want: string) => new UserError(`${key} must be ${want}, got ${JSON.stringify(v)}`);
      if (key === 'sampler') {
        if (typeof v !== 'string' || v === '') throw bad(`a sampler name: ${samplerNames().join(', ')}`);
        getSampler(v); // an unknown name: one line listing the registry's samplers
      } else if (typeof v !== 'number' || !Number.isFinite(v)) throw bad('a finite number');
      else if (key === 'steps' && !(Number.isSafeInteger(v) && v > 0)) throw bad('a positive integer');
      else if ((key === 'guidance' || key === 'eta') && v < 0) throw bad('at least 0');
      else if (key === 'temperature' && v <= 0) throw bad('above 0');
      (out as Record<string, unknown>)[key] = v;
    }
    return out;
  }

  /** Images preprocessed as the model was trained (binarized, dequantized, [-1, 1]...), [n,H,W,C]. */
  private preprocess(images: Images, seed: number): tf.Tensor4D {
    return tf.tidy(() => preprocessBatch(imagesToTensor255(images), this.config.data.preprocess as Preprocess, seed));
  }

  /** The labels or prompts of rows first .. first+k-1 of a request (cycled over the list), or undefined. */
  private rows<T>(list: T[] | undefined, first: number, k: number): T[] | undefined {
    return list ? Array.from({ length: k }, (_, i) => list[(first + i) % list.length]) : undefined;
  }

  private async encodeImages(images: Images, opts: ConditionOptions & { seed?: number } = {}): Promise<Codes> {
    this.live();
    checkImages(images, this.info);
    const ls = this.latentSpace!;
    const c = this.conditions(opts, false);
    const data = new Float32Array(images.n * ls.dim);
    const seed = seedOf(opts.seed);
    for (let first = 0; first < images.n; first += DEFAULT_SAMPLE_CHUNK) {
      const k = Math.min(DEFAULT_SAMPLE_CHUNK, images.n - first);
      const x = this.preprocess(sliceImages(images, first, k), mixSeed(seed, first));
      const z = tf.tidy(() =>
        ls.encode!(x, { labels: this.rows(c.labels, first, k), prompts: this.rows(c.prompts, first, k) }),
      );
      try {
        data.set(await z.data(), first * ls.dim);
      } finally {
        tf.dispose([x, z]);
      }
    }
    return { n: images.n, dim: ls.dim, data };
  }

  private async decodeCodes(
    codes: Codes,
    opts: ConditionOptions & { batchSize?: number } = {},
  ): Promise<{ images: Images }> {
    this.live();
    const ls = this.latentSpace!;
    checkCodes(codes, ls.dim);
    const c = this.conditions(opts, false);
    const chunk = opts.batchSize ?? DEFAULT_SAMPLE_CHUNK;
    if (!(Number.isSafeInteger(chunk) && chunk > 0))
      throw new UserError(`batchSize must be a positive integer, got ${chunk}`);
    const { height: H, width: W, channels: C } = this.info;
    const data = new Uint8Array(codes.n * H * W * C);
    for (let first = 0; first < codes.n; first += chunk) {
      const k = Math.min(chunk, codes.n - first);
      const x = tf.tidy(() => {
        const z = tf.tensor2d(codes.data.subarray(first * ls.dim, (first + k) * ls.dim), [k, ls.dim]);
        return ls.decode(z, { labels: this.rows(c.labels, first, k), prompts: this.rows(c.prompts, first, k) });
      });
      try {
        data.set((await tensorToImages(x)).data, first * H * W * C);
      } finally {
        x.dispose();
      }
    }
    return { images: { n: codes.n, height: H, width: W, channels: C, data } };
  }

  /**
   * -log p(x) per image through the model's evaluate, as `deepgen eval` computes it: the images preprocessed with the
   * run's fixed test seed, in batches of 500, the given seed for the bound's random draws (so the same test images
   * and seed give eval's figure as the mean).
   */
  private async logProbOf(images: Images, opts: ConditionOptions & { seed?: number } = {}): Promise<LogProb> {
    this.live();
    checkImages(images, this.info);
    const c = this.conditions(opts, false);
    const x = this.preprocess(images, mixSeed(this.config.data.testSeed, 7));
    const rows = <T>(all: T[] | undefined, first: number, k: number) => this.rows(all, first, k);
    function* batches(): Generator<EvalBatch> {
      for (let first = 0; first < images.n; first += EVAL_BATCH) {
        const k = Math.min(EVAL_BATCH, images.n - first);
        const xb = tf.slice(x, first, k);
        const labels = rows(c.labels, first, k);
        const y = labels ? tf.tensor1d(labels, 'int32') : null;
        try {
          yield { x: xb, y, captions: rows(c.prompts, first, k) ?? null };
        } finally {
          tf.dispose([xb, ...(y ? [y] : [])]);
        }
      }
    }
    try {
      const r = this.model.evaluate!(batches(), { iwaeK: 0, seed: seedOf(opts.seed), perImage: true });
      const l = r.likelihood!;
      return { nats: r.perImage!, bitsPerDim: l.bitsPerDim, kind: l.kind, name: l.name, discrete: l.discrete };
    } finally {
      x.dispose();
    }
  }
}

function seedOf(seed: number | undefined): number {
  const s = seed ?? 0;
  if (!(Number.isSafeInteger(s) && s >= 0)) throw new UserError(`seed must be a non-negative integer, got ${seed}`);
  return s;
}
