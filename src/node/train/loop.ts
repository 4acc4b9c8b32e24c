// The second phase of a training run: the steps. Each step's data order and randomness is a pure function of
// (seed, step), so a resumed run matches an uninterrupted one. Writes metrics.jsonl, step sample grids and periodic
// checkpoints; stops at stopAt, or after the current step when the signal is aborted.
import * as tf from '@tensorflow/tfjs-core';
import { batches, batchToTensor, epochOrder } from '../../core/data/batches.ts';
import { preprocessBatch, type Preprocess } from '../../core/data/preprocess.ts';
import { mixSeed } from '../../core/tensor/rng.ts';
import { DivergenceError, NonFiniteLossError, type StepMetrics } from '../../core/train/trainer.ts';
import { trainModelStep } from '../../core/train/model-step.ts';
import { UserError } from '../../core/errors.ts';
import { hasCheckpoint } from '../checkpoint-store.ts';
import type { Progress } from '../progress.ts';
import { appendMetrics } from '../metrics-file.ts';
import { fmt, round, saveRun, stepGridPath, writeSamples, type CheckpointInfo, type RunState } from './run-state.ts';

/** One training step's figures, as `train()`'s onStep receives them (and metrics.jsonl records them). */
export interface TrainStepInfo {
  /** Steps completed, counting those before a resume: 1 after the first step. */
  step: number;
  /** The run's total steps (train.steps, or train.epochs worth of batches). */
  total: number;
  /** Epochs completed, fractional: step / steps per epoch. */
  epoch: number;
  /** The family's loss of this step's batch (its lossUnit, e.g. nats per image). */
  loss: number;
  /** The loss's named terms (e.g. recon, kl; a GAN's lossD, lossG). */
  terms: Record<string, number>;
  /** The scheduled learning rate of the step. */
  lr: number;
  /** Global L2 norm of the gradients, before clipping. */
  gradNorm: number;
  /** Training throughput over the last 2 s or so. */
  imagesPerSecond: number;
  /** Training seconds of the run so far, counting those before a resume. */
  seconds: number;
}

export interface LoopOptions {
  /** Stop (with a checkpoint, by the finish) after this many steps in total. */
  stopAt: number;
  progress: Progress;
  /** Aborted: stop after the current step. */
  signal?: AbortSignal;
  /** A line said through the progress display when the signal aborts (the CLI's "Interrupted: ..."). */
  abortNote?: string;
  onStep?: (info: TrainStepInfo) => void;
  onCheckpoint?: (c: CheckpointInfo) => void;
  /** Said when metrics.jsonl cannot be written (a full disk): how to resume from the last checkpoint. */
  resumeCommand: string;
}

export interface LoopResult {
  last?: StepMetrics;
  imagesDone: number;
  /** performance.now() when the loop started; the run's time counts from there. */
  t0: number;
  /** Stopped by the signal before stopAt. */
  aborted: boolean;
  /** The step sample grids written. */
  files: string[];
}

/** Trains `st` from its current step up to opts.stopAt (or an abort); the caller saves the final checkpoint. */
export async function trainLoop(st: RunState, opts: LoopOptions): Promise<LoopResult> {
  const { model, trainer, cfg, train, out, stepsPerEpoch, totalSteps } = st;
  const { stopAt, progress, signal } = opts;
  const mode = cfg.data.preprocess as Preprocess;
  const labelled = st.fam.needsLabels(cfg.model);
  const captioned = st.fam.needsCaptions?.(cfg.model) ?? false;
  const files: string[] = [];
  const t0 = performance.now();
  let imagesDone = 0;
  let last: StepMetrics | undefined;
  let window: { t: number; images: number } = { t: t0, images: 0 };
  let rate = 0;
  let savedStep = st.resumedStep;
  // said when metrics.jsonl cannot be written (a full disk): no checkpoint is attempted then, the last one stays
  const resumeHint = () =>
    savedStep === null
      ? 'no checkpoint was written yet: free space, then train again'
      : `the checkpoint of step ${savedStep} in ${out} is intact: free space, then \`${opts.resumeCommand}\``;
  const onAbort = () => {
    if (opts.abortNote) progress.log(opts.abortNote);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    while (trainer.step < stopAt && !signal?.aborted) {
      const epoch = Math.floor(trainer.step / stepsPerEpoch);
      const startBatch = trainer.step % stepsPerEpoch;
      const order = epochOrder(train.n, cfg.train.seed, epoch);
      for (const batch of batches(train, { batchSize: cfg.train.batchSize, order, start: startBatch })) {
        if (trainer.step >= stopAt || signal?.aborted) break;
        const step = trainer.step;
        // the batch's tensors are freed by trainModelStep
        const m = trainModelStep(
          trainer,
          model,
          () => {
            const xU8 = batchToTensor(batch, train);
            const x = preprocessBatch(xU8, mode, mixSeed(cfg.train.seed, step, 2));
            const y = labelled && batch.labels ? tf.tensor1d(batch.labels, 'int32') : null;
            return { x, y, captions: captioned ? (batch.captions ?? null) : null };
          },
          mixSeed(cfg.train.seed, step, 3),
        );
        last = m;
        await new Promise((r) => setImmediate(r)); // let signals (Ctrl-C) and abort events through
        imagesDone += batch.size;
        window.images += batch.size;
        const now = performance.now();
        if (now - window.t > 2000) {
          rate = window.images / ((now - window.t) / 1000);
          window = { t: now, images: 0 };
        } else if (rate === 0) rate = imagesDone / Math.max(1e-3, (now - t0) / 1000);
        const ep = trainer.step / stepsPerEpoch;
        const seconds = st.elapsedBefore + (now - t0) / 1000;
        if (trainer.step % cfg.train.logEvery === 0 || trainer.step === stopAt) {
          appendMetrics(
            st.metricsPath,
            {
              step: trainer.step,
              epoch: round(ep, 4),
              loss: m.loss,
              ...m.terms,
              lr: m.lr,
              gradNorm: m.gradNorm,
              imagesPerSec: round(rate, 1),
              time: round(seconds, 2),
            },
            resumeHint,
          );
        }
        progress.update(
          trainer.step,
          `epoch ${ep.toFixed(2)} loss ${fmt(m.loss)} ${Object.entries(m.terms)
            .map(([k, v]) => `${k} ${fmt(v)}`)
            .join(' ')} | ${rate.toFixed(0)} img/s`,
        );
        opts.onStep?.({
          step: trainer.step,
          total: totalSteps,
          epoch: ep,
          loss: m.loss,
          terms: { ...m.terms },
          lr: m.lr,
          gradNorm: m.gradNorm,
          imagesPerSecond: rate,
          seconds,
        });
        if (cfg.train.sampleEvery > 0 && trainer.step % cfg.train.sampleEvery === 0) {
          files.push(await writeSamples(st, stepGridPath(out, trainer.step), 64, mixSeed(cfg.train.seed, 99)));
        }
        if (cfg.train.checkpointEvery > 0 && trainer.step % cfg.train.checkpointEvery === 0 && trainer.step < stopAt) {
          const c = await saveRun(st, st.elapsedBefore + (performance.now() - t0) / 1000);
          savedStep = c.step;
          opts.onCheckpoint?.(c);
        }
      }
    }
  } catch (e) {
    if (e instanceof NonFiniteLossError || e instanceof DivergenceError) {
      throw new UserError(
        e.message + (hasCheckpoint(out) ? ` Last good checkpoint: ${out}.` : ' No checkpoint was written yet.'),
      );
    }
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    progress.stop();
  }
  return { last, imagesDone, t0, aborted: trainer.step < stopAt && Boolean(signal?.aborted), files };
}
