// The last phase of a training run: the model's after-training pass (e.g. fitting a prior), the final checkpoint and,
// when the run is complete, the final pictures, loss curve and a quick test-set evaluation; then the summary.
import path from 'node:path';
import { evalSummary } from '../../core/eval/result.ts';
import { subset } from '../../core/data/batches.ts';
import { mixSeed } from '../../core/tensor/rng.ts';
import type { StepMetrics } from '../../core/train/trainer.ts';
import { formatDuration } from '../progress.ts';
import { writeFileAtomic } from '../fs-atomic.ts';
import { writeLossCurve } from '../loss-curve-file.ts';
import { writeSampleAnimation } from '../sample-animation.ts';
import { evalBatches, evaluateRun, preprocessedSet, writeFamilyPictures } from '../family-tools.ts';
import { saveRun, withSamplingWeights, writeSamples, type CheckpointInfo, type RunState } from './run-state.ts';
import type { LoopResult } from './loop.ts';

export interface FinishOptions {
  /** Write final pictures and a quick test-set evaluation when the run is complete. Default true. */
  finish?: boolean;
  /** Write the step sample grids (train.sampleEvery) as this GIF. */
  animate?: string;
  /** Said after an abort: how to continue the run. */
  resumeCommand: string;
  onCheckpoint?: (c: CheckpointInfo) => void;
  log: (line: string) => void;
}

/** What a training run did. */
export interface TrainRunResult {
  /** The run folder. */
  out: string;
  /** Steps completed (the checkpoint's step). */
  step: number;
  totalSteps: number;
  /** The last step's metrics (none when no step ran). */
  last?: StepMetrics;
  /** Seconds of training in this call (not counting a resumed run's earlier time). */
  seconds: number;
  imagesPerSecond: number;
  /** The compute backend used. */
  backend: string;
  /** Files written: step grids, model.safetensors, final pictures, eval.json, the GIF. */
  files: string[];
  /** Stopped by an AbortSignal (or Ctrl-C) before the end; the checkpoint of `step` resumes it. */
  aborted: boolean;
}

/** Saves the final checkpoint of `st` after the loop, and (when complete) writes the final pictures and evaluation. */
export async function finishTraining(st: RunState, loop: LoopResult, opts: FinishOptions): Promise<TrainRunResult> {
  const { model, trainer, cfg, out, totalSteps, train } = st;
  const log = opts.log;
  const files = [...loop.files];
  const seconds = (performance.now() - loop.t0) / 1000;
  if (loop.aborted) log(`Stopped at step ${trainer.step} of ${totalSteps}; continue with: ${opts.resumeCommand}`);
  if (trainer.step >= totalSteps && model.afterTraining) {
    const part = subset(train, 0, Math.min(train.n, 5000));
    const { x, labels } = preprocessedSet(part, cfg);
    await withSamplingWeights(st, async () =>
      model.afterTraining!(evalBatches(x, labels, st.fam.needsLabels(cfg.model), 500)),
    );
    x.dispose();
  }
  const saved = await saveRun(st, st.elapsedBefore + (performance.now() - loop.t0) / 1000);
  opts.onCheckpoint?.(saved);
  files.push(path.join(out, 'model.safetensors'));
  if (opts.finish !== false && trainer.step >= totalSteps) {
    files.push(...(await finalPictures(st, log)));
  }
  if (opts.animate) {
    const frames = writeSampleAnimation(out, opts.animate);
    if (frames > 0) {
      files.push(opts.animate);
      log(
        `Wrote ${frames} sample grids (one every ${cfg.train.sampleEvery} steps, the same noise each time) to ${opts.animate}`,
      );
    } else
      log(
        `No sample grids to animate in ${path.join(out, 'samples')}: train with --sample-every N (N < ${totalSteps})`,
      );
  }
  const result: TrainRunResult = {
    out,
    step: trainer.step,
    totalSteps,
    last: loop.last,
    seconds,
    imagesPerSecond: loop.imagesDone / Math.max(seconds, 1e-9),
    backend: st.backend,
    files,
    aborted: loop.aborted,
  };
  log(
    `Trained ${trainer.step}/${totalSteps} steps in ${formatDuration(seconds)} (${result.imagesPerSecond.toFixed(0)} images/s); checkpoint in ${out}`,
  );
  return result;
}

/** Final pictures, loss curve and a quick test-set evaluation (written to eval.json). */
async function finalPictures(st: RunState, log: (l: string) => void): Promise<string[]> {
  const files: string[] = [];
  const { cfg, out, test } = st;
  files.push(await writeSamples(st, path.join(out, 'samples.png'), 64, mixSeed(cfg.train.seed, 99)));
  await withSamplingWeights(st, async () => {
    files.push(...(await writeFamilyPictures(st.model, cfg, test, out)));
  });
  const curve = writeLossCurve(
    path.join(out, 'metrics.jsonl'),
    path.join(out, 'loss-curve.svg'),
    cfg.family,
    st.fam.lossUnit,
  );
  if (curve) files.push(curve);
  const evalN = Math.min(test.n, 2000);
  const r = await withSamplingWeights(st, () =>
    evaluateRun(st.model, cfg, subset(test, 0, evalN), { iwaeK: 0, seed: cfg.data.testSeed }),
  );
  if (r) {
    writeFileAtomic(
      path.join(out, 'eval.json'),
      JSON.stringify(
        {
          ...r,
          note: `quick evaluation at the end of training on the first ${evalN} test images; run deepgen eval for the full test set`,
        },
        null,
        2,
      ) + '\n',
    );
    files.push(path.join(out, 'eval.json'));
    log(`Test (${evalN} images): ${evalSummary(r)}`);
  }
  log(`Wrote ${files.map((f) => path.relative(process.cwd(), f) || f).join(', ')}`);
  return files;
}
