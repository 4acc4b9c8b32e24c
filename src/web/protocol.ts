// The messages between the playground page (main.ts) and its Web Worker (worker.ts), which holds the model and does
// all tensor work so the page stays responsive. Images travel as 8-bit [n, H, W, C] arrays, quantised as the CLI does.

import type { SampleOptions } from '../core/family.ts';

/** One model as /api/runs lists it (src/node/serve.ts). */
export interface RunListing {
  id: string;
  /** The run folder relative to the folder `deepgen serve` was started in (../ when outside it; never absolute). */
  dir: string;
  family: string;
  /** How its family samples (ModelInfo.generation), known before the model loads. */
  generation: 'one-pass' | 'steps' | 'pixels';
  dataset: string | null;
  conditioning: string | null;
  params: number | null;
  steps: number | null;
  likelihood: { bitsPerDim: number | null; kind: string; note?: string };
  sampleQuality: { fid: number | null; kid?: number | null; n?: number } | null;
  condAccuracy: { overall: number } | null;
  files: string[];
}

/** Conditions and sampler settings, as `deepgen sample` takes them (SampleOptions without the callbacks). */
export type SampleSettings = Pick<
  SampleOptions,
  'labels' | 'prompts' | 'guidance' | 'steps' | 'sampler' | 'eta' | 'temperature'
>;

export type Request =
  /** backend: auto or one of backends.ts PAGE_BACKENDS; threads: the wasm backend's thread count (default: every
   *  logical core where the page allows threads; 1 keeps it on one thread). */
  | { type: 'load'; run: string; files: string[]; backend: string; threads?: number }
  /** model.sample(n, seed, settings) of a loaded run; `live` streams frames (diffusion steps, autoregressive pixels). */
  | { type: 'sample'; run: string; n: number; seed: number; settings: SampleSettings; live: boolean }
  /** Codes z [n, dim] of the prior, as sample(n, seed) draws them. */
  | { type: 'prior'; run: string; n: number; seed: number; temperature?: number }
  | { type: 'decode'; run: string; z: Float32Array; n: number; settings: SampleSettings }
  /** images: n 8-bit images at the model's size; the worker preprocesses them as training did. */
  | { type: 'encode'; run: string; images: Uint8Array; n: number; settings: SampleSettings }
  /** The model's outputs on this worker's backend, to compare backends (test/web/webgpu.test.ts): see Outputs. */
  | { type: 'outputs'; run: string; n: number; seed: number; settings: SampleSettings };

export type Envelope = Request & { id: number };

export interface ModelInfo {
  run: string;
  family: string;
  height: number;
  width: number;
  channels: number;
  classNames: string[];
  /** The training captions' words (text models). */
  vocabulary: string[];
  /** Prompts to suggest for a text model (its data set's examples; empty otherwise). */
  examplePrompts: string[];
  /** How a text model splits prompts: 'word' (only vocabulary words) or 'bpe' (subword pieces; any word). */
  tokenizer: 'word' | 'bpe';
  /** A bpe model's merges ("left right", in merge order; empty for word models), as its dataInfo holds them. */
  merges: string[];
  cond: 'none' | 'label' | 'text';
  /** Which of guidance / steps / sampler / eta / temperature / animate the family's sample() honours. */
  samplingOptions: string[];
  /** The resolved model config (defaults for guidance, steps, temperature, ...). */
  model: Record<string, unknown>;
  latent: { dim: number; description: string; encode: boolean } | null;
  /** sample() ignores the seed (the one-shot baseline). */
  deterministic: boolean;
  /** How sample() proceeds: 'one-pass', 'steps' (frames) or 'pixels' (a value at a time, with its distribution). */
  generation: 'one-pass' | 'steps' | 'pixels';
  backend: string;
  usedEma: boolean;
  params: number;
  loadMs: number;
}

/**
 * What a backend computes for one model, in float32 before any rounding: the training loss and its terms on a seeded
 * batch of n random images (labels 0, 1, ...; the example prompts), and either the seeded samples (families that draw
 * in one pass or in steps) or, for those that draw a value at a time, sample 0's first distribution p(x_1 | y) (later
 * values depend on the values drawn, which a tiny float difference may flip; the loss covers every p(x_i | x_<i)).
 */
export interface Outputs {
  loss: Record<string, number>;
  samples: Float32Array | null;
  shape: number[];
  firstProbs: Float32Array | null;
}

export interface Images {
  images: Uint8Array;
  shape: [number, number, number, number];
}

export type Reply =
  | { id: number; type: 'loaded'; model: ModelInfo }
  | ({ id: number; type: 'images'; ms: number } & Images)
  /** Sampling step `step` of `total` of the chunk of samples first .. first + count - 1 (the others as drawn so far);
   *  x0: the first chunk's x0hat [count, H, W, C], the x_0 the model predicts at this step (models sampled in 'steps'). */
  | ({ id: number; type: 'frame'; step: number; total: number; first: number; count: number; x0?: Uint8Array } & Images)
  | ({
      id: number;
      type: 'pixel';
      row: number;
      col: number;
      channel: number;
      probs: Float32Array;
      colors: Float32Array;
      drawn: number;
    } & Images)
  | { id: number; type: 'codes'; z: Float32Array; n: number; dim: number }
  | ({ id: number; type: 'outputs' } & Outputs)
  | { id: number; type: 'error'; message: string };
