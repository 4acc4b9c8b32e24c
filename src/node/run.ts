// A training run on disk, as the CLI drives it: a lock on the folder, a progress display, and the three phases in
// ./train/ (prepare, loop, finish); and loading a trained run for sampling and evaluation.
import path from 'node:path';
import { UserError } from '../core/errors.ts';
import type { DataInfo, GenerativeModel } from '../core/family.ts';
import { hasCheckpoint } from './checkpoint-store.ts';
import { readModelFolder } from './load-model.ts';
import { initBackend } from './backend.ts';
import { createProgress, type Progress } from './progress.ts';
import { downloadProgress, isFolderSpec, resolveModelSource, type ModelSourceOptions } from './model-source.ts';
import { removeStaleTemps } from './fs-atomic.ts';
import { acquireRunLock } from './run-lock.ts';
import type { ResolvedRunConfig } from './run-config.ts';
import type { ResetOptions } from './resume-state.ts';
import type { InitModel } from './train/init.ts';
import { prepareRun } from './train/prepare.ts';
import { trainLoop, type TrainStepInfo } from './train/loop.ts';
import { finishTraining, type TrainRunResult } from './train/finish.ts';
import type { CheckpointInfo } from './train/run-state.ts';

export { dataInfoOf, loadSplit } from './train/prepare.ts';
export type { TrainRunResult } from './train/finish.ts';

export interface TrainRunOptions extends ResetOptions {
  config: ResolvedRunConfig;
  out: string;
  backend?: string;
  /** Continue from the checkpoint in `out`. */
  resume?: boolean;
  /** Start a new run from this trained model's weights (see train/init.ts); `config` is laid over its config. */
  init?: InitModel;
  /** No progress display (the log lines stay). */
  quiet?: boolean;
  /** Stop (with a checkpoint) after this many steps in total: for tests of resume and for time budgets. */
  stopAtStep?: number;
  /** Write final pictures and a quick test-set evaluation. Default true. */
  finish?: boolean;
  /** Write the step sample grids (--sample-every) as this GIF when training stops. */
  animate?: string;
  /** Lines for the user (default: stderr). */
  log?: (line: string) => void;
  /** Aborted: stop after the current step, save a checkpoint and resolve with aborted: true; aborted before the first
   *  step: reject with the signal's reason (an AbortError) and save nothing. */
  signal?: AbortSignal;
  /** A line said (through the progress display) when the signal aborts. */
  abortNote?: string;
  /** How to continue the run, said after an abort (default: the deepgen command). */
  resumeCommand?: string;
  /** Replaces the progress display (e.g. a silent one for a library call). */
  progress?: Progress;
  onStep?: (info: TrainStepInfo) => void;
  onCheckpoint?: (c: CheckpointInfo) => void;
}

/** Train (or resume) a run into `out`, the only trainer of that folder while it runs (a lock file). */
export async function trainRun(opts: TrainRunOptions): Promise<TrainRunResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  opts.signal?.throwIfAborted();
  const lock = acquireRunLock(opts.out, { warn: log });
  try {
    for (const dir of [opts.out, path.join(opts.out, 'samples')]) removeStaleTemps(dir); // left by a killed run
    const st = await prepareRun({ ...opts, log });
    try {
      opts.signal?.throwIfAborted(); // aborted while preparing: no step was done, nothing to save
      const stopAt = Math.min(st.totalSteps, opts.stopAtStep ?? st.totalSteps);
      const resumeCommand = opts.resumeCommand ?? `deepgen train --resume --out ${opts.out}`;
      const progress =
        opts.progress ??
        createProgress('train', stopAt, { quiet: opts.quiet, every: st.cfg.train.logEvery, start: st.trainer.step });
      const loop = await trainLoop(st, {
        stopAt,
        progress,
        signal: opts.signal,
        abortNote: opts.abortNote,
        onStep: opts.onStep,
        onCheckpoint: opts.onCheckpoint,
        resumeCommand,
      });
      return await finishTraining(st, loop, {
        finish: opts.finish,
        animate: opts.animate,
        resumeCommand,
        onCheckpoint: opts.onCheckpoint,
        log,
      });
    } finally {
      st.trainer.dispose();
      st.model.dispose();
    }
  } finally {
    lock.release();
  }
}

export interface LoadedRun {
  /** The local run folder the model was read from (for zoo:, URL and hf: specs: the zoo's or the cache's folder). */
  dir: string;
  /** Where outputs go by default: the run folder when the spec was a folder on disk, else the current folder (a zoo
   *  model or a download in the cache is not the user's to write into). */
  outDir: string;
  family: string;
  cfg: ResolvedRunConfig;
  info: DataInfo;
  model: GenerativeModel;
  step: number;
  backend: string;
  usedEma: boolean;
}

/**
 * Load a run for sampling/evaluation (EMA weights when the run kept them, unless useEma=false): a run folder, zoo:NAME,
 * an https URL or hf:OWNER/REPO (see model-source.ts; downloads show progress on stderr unless `source` says otherwise).
 */
export async function loadRun(
  spec: string,
  opts: { backend?: string; useEma?: boolean; warn?: (line: string) => void; source?: ModelSourceOptions } = {},
): Promise<LoadedRun> {
  const dir = await resolveModelSource(spec, opts.source ?? { onProgress: downloadProgress() });
  const outDir = isFolderSpec(spec) ? dir : '.';
  if (!hasCheckpoint(dir))
    throw new UserError(
      `No checkpoint at ${dir}: config.json not found; train one with \`deepgen train vae --out ${dir}\` or pass a run folder`,
    );
  const backend = await initBackend(opts.backend ?? 'auto', {});
  const warn = opts.warn ?? ((l: string) => process.stderr.write(l + '\n'));
  const { built, step } = readModelFolder(dir, opts.useEma ?? true, warn);
  const { cfg, info, model, usedEma } = built;
  return { dir, outDir, family: cfg.family, cfg, info, model, step, backend, usedEma };
}
