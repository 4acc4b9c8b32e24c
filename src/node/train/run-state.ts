// A training run being driven: the model, trainer, config and data of one run folder, and what every phase does with
// them (save a checkpoint, sample with the EMA weights, write a grid). prepare.ts builds it; loop.ts and finish.ts use it.
import { condKindOf, condTokenizerOfModel } from '../../core/conditioning/config.ts';
import { tokenizerFor } from '../../core/conditioning/conditioner.ts';
import path from 'node:path';
import type { ImageDataset } from '../../core/data/types.ts';
import type { DataInfo, Family, GenerativeModel } from '../../core/family.ts';
import { Rng } from '../../core/tensor/rng.ts';
import type { Trainer } from '../../core/train/trainer.ts';
import { emaVarsOf } from '../../core/train/model-step.ts';
import { CHECKPOINT_FORMAT_VERSION, variablesToRecords } from '../../core/checkpoint/format.ts';
import { words } from '../../core/conditioning/tokenizer.ts';
import { saveCheckpoint } from '../checkpoint-store.ts';
import { writeImageGrid } from '../pictures.ts';
import type { ResolvedRunConfig } from '../run-config.ts';
import type { InitRecord } from './init.ts';

/** A prepared run: everything the loop and the finish need, owned by the caller until it disposes model and trainer. */
export interface RunState {
  out: string;
  cfg: ResolvedRunConfig;
  fam: Family<unknown>;
  model: GenerativeModel;
  trainer: Trainer;
  info: DataInfo;
  train: ImageDataset;
  /** Loaded (and checked) at the start, used after training (pictures, eval). */
  test: ImageDataset;
  stepsPerEpoch: number;
  totalSteps: number;
  backend: string;
  /** Step of the checkpoint the run resumed from (null for a new run). */
  resumedStep: number | null;
  /** The trained model the run started from (--init), kept in every checkpoint's config.json as "init". */
  init?: InitRecord;
  /** Training seconds of the run before this process (from the checkpoint). */
  elapsedBefore: number;
  metricsPath: string;
}

/** Where and when a checkpoint was saved; given to `onCheckpoint`. */
export interface CheckpointInfo {
  step: number;
  dir: string;
}

export function round(x: number, d: number): number {
  const p = 10 ** d;
  return Math.round(x * p) / p;
}

/** A loss for a progress line: 4 significant figures or so. */
export function fmt(x: number): string {
  return Math.abs(x) >= 100 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(3) : x.toPrecision(3);
}

/** Saves the run's checkpoint (weights, Adam, EMA, step, RNG) atomically into its folder. */
export async function saveRun(st: RunState, elapsedSeconds: number): Promise<CheckpointInfo> {
  const { model, trainer, cfg, info } = st;
  const step = trainer.step;
  const opt = trainer.optimizerState();
  saveCheckpoint(st.out, {
    config: {
      family: cfg.family,
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      createdBy: 'deepgen',
      config: cfg,
      dataInfo: info,
      params: model.params.numParams(),
      ...(st.init ? { init: st.init } : {}),
    },
    weights: await variablesToRecords(model.params.all()),
    optimizer: await variablesToRecords(opt.tensors),
    ema: trainer.ema ? await variablesToRecords(trainer.ema.shadow) : undefined,
    state: {
      step,
      epoch: round(step / st.stepsPerEpoch, 4),
      rng: new Rng(cfg.train.seed).getState(),
      optimizerStep: opt.steps,
      elapsedSeconds: round(elapsedSeconds, 2),
    },
  });
  return { step, dir: st.out };
}

/** Runs fn with the EMA weights in the model when the run keeps an EMA (sampling, pictures, eval), else as is. */
export async function withSamplingWeights<T>(
  st: { model: GenerativeModel; trainer?: Trainer },
  fn: () => Promise<T>,
): Promise<T> {
  const ema = st.trainer?.ema;
  return ema ? ema.withWeights(emaVarsOf(st.model), fn) : fn();
}

/** Writes a grid of n samples (seeded) to file, and returns file. */
export async function writeSamples(st: RunState, file: string, n: number, seed: number): Promise<string> {
  return withSamplingWeights(st, async () => {
    // label-conditional: one column per class; text-conditional: the class names the tokenizer knows every word of
    const kind = condKindOf(st.cfg);
    const labels =
      kind === 'label' && st.info.numClasses > 0
        ? Array.from({ length: n }, (_, i) => i % st.info.numClasses)
        : undefined;
    const tok = kind === 'text' ? tokenizerFor(condTokenizerOfModel(st.cfg.model), st.info) : null;
    const prompts = tok
      ? (st.info.classNames ?? []).filter((c) => words(c).length > 0 && words(c).every((w) => tok.knows(w)))
      : [];
    const x = st.model.sample(n, seed, { labels, prompts: prompts.length ? prompts : undefined });
    await writeImageGrid(file, x, {
      cols: labels ? st.info.numClasses : prompts.length ? prompts.length : Math.ceil(Math.sqrt(n)),
    });
    x.dispose();
    return file;
  });
}

/** The path of the step grid written every train.sampleEvery steps. */
export function stepGridPath(out: string, step: number): string {
  return path.join(out, 'samples', `step-${String(step).padStart(7, '0')}.png`);
}
