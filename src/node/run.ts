// A training run on disk: data, model, trainer, progress, metrics.jsonl, sample grids, checkpoints, resume.
// Every step's data order and randomness is a pure function of (seed, step), so a resumed run matches an uninterrupted one.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { batches, batchToTensor, epochOrder, numBatches, subset } from '../core/data/batches.ts';
import { preprocessBatch, type Preprocess } from '../core/data/preprocess.ts';
import type { ImageDataset } from '../core/data/types.ts';
import { requiredPreprocessOf, type DataInfo, type GenerativeModel } from '../core/family.ts';
import { getFamily } from '../core/registry.ts';
import { Rng, mixSeed } from '../core/tensor/rng.ts';
import { DivergenceError, NonFiniteLossError, Trainer, type StepMetrics } from '../core/train/trainer.ts';
import { emaVarsOf, trainModelStep, trainerFor } from '../core/train/model-step.ts';
import { CHECKPOINT_FORMAT_VERSION, assignRecords, variablesToRecords, type Checkpoint } from '../core/checkpoint/format.ts';
import { UserError } from '../core/errors.ts';
import { modelFromCheckpoint } from '../core/checkpoint/load-model.ts';
import { words } from '../core/conditioning/tokenizer.ts';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint-store.ts';
import { checkSameImageShape, loadDataset } from './data/datasets.ts';
import { initBackend } from './backend.ts';
import { createProgress, formatDuration } from './progress.ts';
import { removeStaleTemps, writeFileAtomic } from './fs-atomic.ts';
import { acquireRunLock } from './run-lock.ts';
import type { ResolvedRunConfig } from './run-config.ts';
import { writeImageGrid } from './pictures.ts';
import { writeLossCurve } from './loss-curve-file.ts';
import { appendMetrics, truncateMetrics } from './metrics-file.ts';
import { restoreTrainerState, type ResetOptions } from './resume-state.ts';
import { writeSampleAnimation } from './sample-animation.ts';
import { evalBatches, evaluateRun, preprocessedSet, writeFamilyPictures } from './family-tools.ts';
import { condKindOf } from '../core/conditioning/config.ts';

export function dataInfoOf(ds: ImageDataset): DataInfo {
  const info: DataInfo = { height: ds.height, width: ds.width, channels: ds.channels, numClasses: ds.classNames?.length ?? 0, classNames: ds.classNames };
  if (ds.captions) info.vocabulary = [...new Set(ds.captions.flatMap(words))].sort(); // split as the tokenizer splits prompts
  return info;
}

export function loadSplit(cfg: ResolvedRunConfig, split: 'train' | 'test'): ImageDataset {
  const d = cfg.data;
  const n = split === 'train' ? d.trainN : d.testN;
  return loadDataset(d.dataset, { split, dataDir: d.dataDir, size: d.size, n: n > 0 ? n : undefined, seed: cfg.train.seed, holdOut: d.holdOut, maxImagePixels: d.maxImagePixels });
}

export interface TrainRunOptions extends ResetOptions {
  config: ResolvedRunConfig;
  out: string;
  backend?: string;
  /** Continue from the checkpoint in `out`. */
  resume?: boolean;
  quiet?: boolean;
  /** Stop (with a checkpoint) after this many steps in total: for tests of resume and for time budgets. */
  stopAtStep?: number;
  /** Write final pictures and a quick test-set evaluation. Default true. */
  finish?: boolean;
  /** Write the step sample grids (--sample-every) as this GIF when training stops. */
  animate?: string;
  log?: (line: string) => void;
}

export interface TrainRunResult {
  out: string;
  step: number;
  totalSteps: number;
  last?: StepMetrics;
  seconds: number;
  imagesPerSecond: number;
  backend: string;
  files: string[];
}

interface RunState {
  model: GenerativeModel;
  trainer: Trainer;
  cfg: ResolvedRunConfig;
  info: DataInfo;
  stepsPerEpoch: number;
}

/** Train (or resume) a run into `out`, the only trainer of that folder while it runs (a lock file). */
export async function trainRun(opts: TrainRunOptions): Promise<TrainRunResult> {
  const lock = acquireRunLock(opts.out, { warn: opts.log ?? ((l: string) => process.stderr.write(l + '\n')) });
  try {
    for (const dir of [opts.out, path.join(opts.out, 'samples')]) removeStaleTemps(dir); // left by a killed run
    return await trainLockedRun(opts);
  } finally {
    lock.release();
  }
}

async function trainLockedRun(opts: TrainRunOptions): Promise<TrainRunResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const out = opts.out;
  let cfg = opts.config;
  let ck: Checkpoint | null = null;
  if (!opts.resume && (opts.resetOptimizer || opts.resetEma)) throw new UserError('--reset-optimizer and --reset-ema apply to --resume only; drop them to start a new run');
  if (opts.resume) {
    if (!hasCheckpoint(out)) throw new UserError(`Cannot resume: no checkpoint in ${out}; start a new run without --resume`);
    ck = loadCheckpoint(out);
    if (ck.config.family !== cfg.family) throw new UserError(`Cannot resume: ${out} holds a ${ck.config.family} run, not ${cfg.family}`);
  } else if (hasCheckpoint(out)) {
    throw new UserError(`${out} already holds a checkpoint; pass --resume to continue it, or choose another --out`);
  }
  const fam = getFamily(cfg.family);
  const modelCfg = cfg.model;
  const backend = await initBackend(opts.backend ?? 'auto', { convTraining: (modelCfg as { arch?: string }).arch === 'conv' });
  const train = loadSplit(cfg, 'train');
  // the test split serves after training (pictures, eval): loaded and checked now, not found wanting after the work
  const test = loadSplit(cfg, 'test');
  checkSameImageShape(train, test);
  if (fam.needsLabels(modelCfg) && !train.labels) throw new UserError(`This ${cfg.family} is conditional but dataset ${cfg.data.dataset} has no labels; drop --conditional`);
  const info = dataInfoOf(train);
  const model = fam.create(modelCfg, info, mixSeed(cfg.train.seed, 1));
  const stepsPerEpoch = numBatches(train.n, cfg.train.batchSize);
  const totalSteps = cfg.train.steps > 0 ? cfg.train.steps : Math.max(1, Math.ceil(cfg.train.epochs * stepsPerEpoch));
  const trainer = trainerFor(model, cfg.train, totalSteps);
  let elapsedBefore = 0;
  if (ck) {
    assignRecords(model.params.all(), ck.weights, `model.safetensors in ${out}`);
    trainer.step = ck.state.step;
    restoreTrainerState(trainer, model, ck, out, opts, log);
    elapsedBefore = Number(ck.state.elapsedSeconds ?? 0);
    log(`Resuming ${cfg.family} from step ${trainer.step} of ${totalSteps} in ${out}`);
  }
  fs.mkdirSync(out, { recursive: true });
  const st: RunState = { model, trainer, cfg, info, stepsPerEpoch };
  const files: string[] = [];
  const metricsPath = path.join(out, 'metrics.jsonl');
  truncateMetrics(metricsPath, trainer.step, log);
  const stopAt = Math.min(totalSteps, opts.stopAtStep ?? totalSteps);
  const mode = cfg.data.preprocess as Preprocess;
  const required = requiredPreprocessOf(fam, modelCfg);
  if (required && cfg.data.preprocess !== required) {
    throw new UserError(`This ${cfg.family} model works on data.preprocess=${required}, not ${cfg.data.preprocess}; drop --preprocess or pass --preprocess ${required}`);
  }
  const labelled = fam.needsLabels(modelCfg);
  const captioned = fam.needsCaptions?.(modelCfg) ?? false;
  if (captioned && !train.captions) throw new UserError(`${cfg.family} with text conditioning needs a dataset with captions (shapes, fashion-mnist, mnist or a folder with class subfolders); ${train.name} has none`);
  log(
    `Training ${cfg.family} (${(model.params.numParams() / 1e6).toFixed(2)}M params) on ${train.name}: ${train.n} images ${train.height}x${train.width}x${train.channels}, ` +
      `${totalSteps} steps (${(totalSteps / stepsPerEpoch).toFixed(2)} epochs of ${stepsPerEpoch}), batch ${cfg.train.batchSize}, backend ${backend}`,
  );
  const progress = createProgress('train', stopAt, { quiet: opts.quiet, every: cfg.train.logEvery, start: trainer.step });
  const t0 = performance.now();
  let imagesDone = 0;
  let last: StepMetrics | undefined;
  let window: { t: number; images: number } = { t: t0, images: 0 };
  let rate = 0;
  let savedStep = ck ? ck.state.step : null;
  const saveNow = async () => {
    await save(st, out, elapsedBefore + (performance.now() - t0) / 1000);
    savedStep = trainer.step;
  };
  // said when metrics.jsonl cannot be written (a full disk): no checkpoint is attempted then, the last one stays
  const resumeHint = () =>
    savedStep === null ? 'no checkpoint was written yet: free space, then train again' : `the checkpoint of step ${savedStep} in ${out} is intact: free space, then \`deepgen train --resume --out ${out}\``;
  // Ctrl-C: finish the current step, save, and say how to resume
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress.log('Interrupted: saving a checkpoint after this step (press Ctrl-C again to quit without saving)...');
  };
  process.on('SIGINT', onSigint);
  try {
    while (trainer.step < stopAt && !interrupted) {
      const epoch = Math.floor(trainer.step / stepsPerEpoch);
      const startBatch = trainer.step % stepsPerEpoch;
      const order = epochOrder(train.n, cfg.train.seed, epoch);
      for (const batch of batches(train, { batchSize: cfg.train.batchSize, order, start: startBatch })) {
        if (trainer.step >= stopAt || interrupted) break;
        const step = trainer.step;
        // the batch's tensors are freed by trainModelStep
        const m = trainModelStep(
          trainer,
          model,
          () => {
            const xU8 = batchToTensor(batch, train);
            const x = preprocessBatch(xU8, mode, mixSeed(cfg.train.seed, step, 2));
            const y = labelled && batch.labels ? tf.tensor1d(batch.labels, 'int32') : null;
            return { x, y, captions: captioned ? batch.captions ?? null : null };
          },
          mixSeed(cfg.train.seed, step, 3),
        );
        last = m;
        await new Promise((r) => setImmediate(r)); // let signals (Ctrl-C) through
        imagesDone += batch.size;
        window.images += batch.size;
        const now = performance.now();
        if (now - window.t > 2000) {
          rate = window.images / ((now - window.t) / 1000);
          window = { t: now, images: 0 };
        } else if (rate === 0) rate = imagesDone / Math.max(1e-3, (now - t0) / 1000);
        const ep = trainer.step / stepsPerEpoch;
        if (trainer.step % cfg.train.logEvery === 0 || trainer.step === stopAt) {
          appendMetrics(metricsPath, { step: trainer.step, epoch: round(ep, 4), loss: m.loss, ...m.terms, lr: m.lr, gradNorm: m.gradNorm, imagesPerSec: round(rate, 1), time: round(elapsedBefore + (now - t0) / 1000, 2) }, resumeHint);
        }
        progress.update(trainer.step, `epoch ${ep.toFixed(2)} loss ${fmt(m.loss)} ${Object.entries(m.terms).map(([k, v]) => `${k} ${fmt(v)}`).join(' ')} | ${rate.toFixed(0)} img/s`);
        if (cfg.train.sampleEvery > 0 && trainer.step % cfg.train.sampleEvery === 0) {
          files.push(await writeSamples(st, path.join(out, 'samples', `step-${String(trainer.step).padStart(7, '0')}.png`), 64, mixSeed(cfg.train.seed, 99)));
        }
        if (cfg.train.checkpointEvery > 0 && trainer.step % cfg.train.checkpointEvery === 0 && trainer.step < stopAt) await saveNow();
      }
    }
  } catch (e) {
    process.off('SIGINT', onSigint);
    progress.stop();
    if (e instanceof NonFiniteLossError || e instanceof DivergenceError) {
      trainer.dispose();
      model.dispose();
      throw new UserError(e.message + (hasCheckpoint(out) ? ` Last good checkpoint: ${out}.` : ' No checkpoint was written yet.'));
    }
    throw e;
  }
  process.off('SIGINT', onSigint);
  progress.stop();
  const seconds = (performance.now() - t0) / 1000;
  if (interrupted) log(`Stopped at step ${trainer.step} of ${totalSteps}; continue with: deepgen train --resume --out ${out}`);
  if (trainer.step >= totalSteps && model.afterTraining) {
    const part = subset(train, 0, Math.min(train.n, 5000));
    const { x, labels } = preprocessedSet(part, cfg);
    await withSamplingWeights(st, async () => model.afterTraining!(evalBatches(x, labels, labelled, 500)));
    x.dispose();
  }
  await saveNow();
  files.push(path.join(out, 'model.safetensors'));
  if (opts.finish !== false && trainer.step >= totalSteps) {
    files.push(...(await finishRun(st, out, log, test)));
  }
  if (opts.animate) {
    const frames = writeSampleAnimation(out, opts.animate);
    if (frames > 0) {
      files.push(opts.animate);
      log(`Wrote ${frames} sample grids (one every ${cfg.train.sampleEvery} steps, the same noise each time) to ${opts.animate}`);
    } else log(`No sample grids to animate in ${path.join(out, 'samples')}: train with --sample-every N (N < ${totalSteps})`);
  }
  const result: TrainRunResult = { out, step: trainer.step, totalSteps, last, seconds, imagesPerSecond: imagesDone / Math.max(seconds, 1e-9), backend, files };
  log(`Trained ${trainer.step}/${totalSteps} steps in ${formatDuration(seconds)} (${result.imagesPerSecond.toFixed(0)} images/s); checkpoint in ${out}`);
  trainer.dispose();
  model.dispose();
  return result;
}

function round(x: number, d: number): number {
  const p = 10 ** d;
  return Math.round(x * p) / p;
}

function fmt(x: number): string {
  return Math.abs(x) >= 100 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(3) : x.toPrecision(3);
}

async function save(st: RunState, out: string, elapsedSeconds: number): Promise<void> {
  const { model, trainer, cfg, info } = st;
  const step = trainer.step;
  const opt = trainer.optimizerState();
  saveCheckpoint(out, {
    config: { family: cfg.family, formatVersion: CHECKPOINT_FORMAT_VERSION, createdBy: 'deepgen', config: cfg, dataInfo: info, params: model.params.numParams() },
    weights: await variablesToRecords(model.params.all()),
    optimizer: await variablesToRecords(opt.tensors),
    ema: trainer.ema ? await variablesToRecords(trainer.ema.shadow) : undefined,
    state: { step, epoch: round(step / st.stepsPerEpoch, 4), rng: new Rng(cfg.train.seed).getState(), optimizerStep: opt.steps, elapsedSeconds: round(elapsedSeconds, 2) },
  });
}


async function withSamplingWeights<T>(st: { model: GenerativeModel; trainer?: Trainer }, fn: () => Promise<T>): Promise<T> {
  const ema = st.trainer?.ema;
  return ema ? ema.withWeights(emaVarsOf(st.model), fn) : fn();
}

async function writeSamples(st: RunState, file: string, n: number, seed: number): Promise<string> {
  return withSamplingWeights(st, async () => {
    // label-conditional: one column per class; text-conditional: the class names that are prompts in the vocabulary
    const kind = condKindOf(st.cfg);
    const labels = kind === 'label' && st.info.numClasses > 0 ? Array.from({ length: n }, (_, i) => i % st.info.numClasses) : undefined;
    const vocab = new Set((st.info.vocabulary ?? []).flatMap(words));
    const prompts = kind === 'text' ? (st.info.classNames ?? []).filter((c) => words(c).length > 0 && words(c).every((w) => vocab.has(w))) : [];
    const x = st.model.sample(n, seed, { labels, prompts: prompts.length ? prompts : undefined });
    await writeImageGrid(file, x, { cols: labels ? st.info.numClasses : prompts.length ? prompts.length : Math.ceil(Math.sqrt(n)) });
    x.dispose();
    return file;
  });
}

/** Final pictures, loss curve and a quick test-set evaluation (written to eval.json). */
async function finishRun(st: RunState, out: string, log: (l: string) => void, test: ImageDataset): Promise<string[]> {
  const files: string[] = [];
  const { cfg } = st;
  files.push(await writeSamples(st, path.join(out, 'samples.png'), 64, mixSeed(cfg.train.seed, 99)));
  await withSamplingWeights(st, async () => {
    files.push(...(await writeFamilyPictures(st.model, cfg, test, out)));
  });
  const curve = writeLossCurve(path.join(out, 'metrics.jsonl'), path.join(out, 'loss-curve.svg'), cfg.family, getFamily(cfg.family).lossUnit);
  if (curve) files.push(curve);
  const evalN = Math.min(test.n, 2000);
  const r = await withSamplingWeights(st, () => evaluateRun(st.model, cfg, subset(test, 0, evalN), { iwaeK: 0, seed: cfg.data.testSeed }));
  if (r) {
    writeFileAtomic(path.join(out, 'eval.json'), JSON.stringify({ ...r, note: `quick evaluation at the end of training on the first ${evalN} test images; run deepgen eval for the full test set` }, null, 2) + '\n');
    files.push(path.join(out, 'eval.json'));
    log(`Test (${evalN} images): ${Object.entries(r).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${fmt(v as number)}`).join(', ')}`);
  }
  log(`Wrote ${files.map((f) => path.relative(process.cwd(), f) || f).join(', ')}`);
  return files;
}

export interface LoadedRun {
  dir: string;
  family: string;
  cfg: ResolvedRunConfig;
  info: DataInfo;
  model: GenerativeModel;
  step: number;
  backend: string;
  usedEma: boolean;
}

/** Load a run folder for sampling/evaluation (EMA weights when the run kept them, unless useEma=false). */
export async function loadRun(dir: string, opts: { backend?: string; useEma?: boolean } = {}): Promise<LoadedRun> {
  if (!hasCheckpoint(dir)) throw new UserError(`No checkpoint at ${dir}: config.json not found; train one with \`deepgen train vae --out ${dir}\` or pass a run folder`);
  const ck = loadCheckpoint(dir);
  const backend = await initBackend(opts.backend ?? 'auto', {});
  const { cfg, info, model, usedEma } = modelFromCheckpoint(ck.config, ck.weights, ck.ema, dir, opts.useEma ?? true);
  return { dir, family: cfg.family, cfg, info, model, step: ck.state.step, backend, usedEma };
}

