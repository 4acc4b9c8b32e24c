// The first phase of a training run: check the folder (new or resumed), start the backend, load and check the data,
// build the model and trainer, and restore the checkpoint's weights, Adam state, EMA and step on resume (or, with --init,
// load a trained model's weights into the new run).
import fs from 'node:fs';
import path from 'node:path';
import { numBatches } from '../../core/data/batches.ts';
import type { ImageDataset } from '../../core/data/types.ts';
import { requiredPreprocessOf, type DataInfo } from '../../core/family.ts';
import { getFamily } from '../../core/registry.ts';
import { mixSeed } from '../../core/tensor/rng.ts';
import { trainerFor } from '../../core/train/model-step.ts';
import { assignRecords, type Checkpoint } from '../../core/checkpoint/format.ts';
import { UserError } from '../../core/errors.ts';
import { words } from '../../core/conditioning/tokenizer.ts';
import { learnMerges } from '../../core/conditioning/bpe.ts';
import { condKindOfModel, condTokenizerOfModel } from '../../core/conditioning/config.ts';
import { parseDataInfo } from '../../core/checkpoint/data-info.ts';
import { hasCheckpoint, loadCheckpoint } from '../checkpoint-store.ts';
import { checkSameImageShape, loadDataset } from '../data/datasets.ts';
import { initBackend } from '../backend.ts';
import type { ResolvedRunConfig } from '../run-config.ts';
import { truncateMetrics } from '../metrics-file.ts';
import { restoreTrainerState, type ResetOptions } from '../resume-state.ts';
import { initDataInfo, initRecordOf, loadInitWeights, type InitModel } from './init.ts';
import type { RunState } from './run-state.ts';

/** What a dataset tells a model: image shape, classes and the caption vocabulary; for a text model with
 *  cond.tokenizer 'bpe' (`model`: the run's model config section) also the BPE merges learned from the captions. */
export function dataInfoOf(ds: ImageDataset, model?: unknown): DataInfo {
  const info: DataInfo = {
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    numClasses: ds.classNames?.length ?? 0,
    classNames: ds.classNames,
  };
  if (ds.captions) info.vocabulary = [...new Set(ds.captions.flatMap(words))].sort(); // split as the tokenizer splits prompts
  const tok = condTokenizerOfModel(model);
  if (info.vocabulary && condKindOfModel(model) === 'text' && tok.tokenizer === 'bpe')
    info.merges = learnMerges(info.vocabulary, tok.merges);
  return info;
}

/** A resumed run's data info: the data's, with the BPE merges and vocabulary (its token ids) the checkpoint was
 *  trained with, so that the ids stay what they were even if this version would learn other merges. */
function resumedDataInfo(info: DataInfo, ck: Checkpoint, out: string): DataInfo {
  const saved = parseDataInfo(ck.config.dataInfo, `config.json in ${out}`);
  return info.merges && saved.merges ? { ...info, vocabulary: saved.vocabulary, merges: saved.merges } : info;
}

/** The run's train or test split, as its config describes it (size, first n images, held-out pairs). */
export function loadSplit(cfg: ResolvedRunConfig, split: 'train' | 'test'): ImageDataset {
  const d = cfg.data;
  const n = split === 'train' ? d.trainN : d.testN;
  return loadDataset(d.dataset, {
    split,
    dataDir: d.dataDir,
    size: d.size,
    n: n > 0 ? n : undefined,
    seed: cfg.train.seed,
    holdOut: d.holdOut,
    skinTones: d.skinTones,
    maxImagePixels: d.maxImagePixels,
    channels: d.channels,
  });
}

export interface PrepareOptions extends ResetOptions {
  config: ResolvedRunConfig;
  out: string;
  backend?: string;
  /** Continue from the checkpoint in `out`. */
  resume?: boolean;
  /** Start a new run from this trained model's weights (fine-tuning); `config` is already laid over its config. */
  init?: InitModel;
  log: (line: string) => void;
}

/** Builds a run for `opts.out` (whose lock the caller holds); the caller disposes its model and trainer. */
export async function prepareRun(opts: PrepareOptions): Promise<RunState> {
  const { out, log } = opts;
  const cfg = opts.config;
  let ck: Checkpoint | null = null;
  if (!opts.resume && (opts.resetOptimizer || opts.resetEma))
    throw new UserError('--reset-optimizer and --reset-ema apply to --resume only; drop them to start a new run');
  if (opts.resume && opts.init)
    throw new UserError(
      '--init starts a new run from a trained model and --resume continues the run in --out; drop one of them',
    );
  if (opts.resume) {
    if (!hasCheckpoint(out))
      throw new UserError(`Cannot resume: no checkpoint in ${out}; start a new run without --resume`);
    ck = loadCheckpoint(out);
    if (ck.config.family !== cfg.family)
      throw new UserError(`Cannot resume: ${out} holds a ${ck.config.family} run, not ${cfg.family}`);
  } else if (hasCheckpoint(out)) {
    throw new UserError(`${out} already holds a checkpoint; pass --resume to continue it, or choose another --out`);
  }
  const fam = getFamily(cfg.family);
  const modelCfg = cfg.model;
  const backend = await initBackend(opts.backend ?? 'auto', {
    convTraining: (modelCfg as { arch?: string }).arch === 'conv',
  });
  const train = loadSplit(cfg, 'train');
  // the test split serves after training (pictures, eval): loaded and checked now, not found wanting after the work
  const test = loadSplit(cfg, 'test');
  checkSameImageShape(train, test);
  if (fam.needsLabels(modelCfg) && !train.labels)
    throw new UserError(
      `This ${cfg.family} is conditional but dataset ${cfg.data.dataset} has no labels; drop --conditional`,
    );
  const required = requiredPreprocessOf(fam, modelCfg);
  if (required && cfg.data.preprocess !== required) {
    throw new UserError(
      `This ${cfg.family} model works on data.preprocess=${required}, not ${cfg.data.preprocess}; drop --preprocess or pass --preprocess ${required}`,
    );
  }
  if ((fam.needsCaptions?.(modelCfg) ?? false) && !train.captions) {
    throw new UserError(
      `${cfg.family} with text conditioning needs a dataset with captions (shapes, fashion-mnist, mnist or a folder with class subfolders); ${train.name} has none`,
    );
  }
  const fresh = dataInfoOf(train, modelCfg);
  const info = opts.init
    ? initDataInfo(opts.init, fresh, cfg, train.name)
    : ck
      ? resumedDataInfo(fresh, ck, out)
      : fresh;
  const stepsPerEpoch = numBatches(train.n, cfg.train.batchSize);
  const totalSteps = cfg.train.steps > 0 ? cfg.train.steps : Math.max(1, Math.ceil(cfg.train.epochs * stepsPerEpoch));
  const model = fam.create(modelCfg, info, mixSeed(cfg.train.seed, 1));
  let trainer: RunState['trainer'] | undefined;
  try {
    if (opts.init) loadInitWeights(model, opts.init, log); // before the trainer: its EMA starts from these weights
    trainer = trainerFor(model, cfg.train, totalSteps);
    let elapsedBefore = 0;
    if (ck) {
      assignRecords(model.params.all(), ck.weights, `model.safetensors in ${out}`);
      trainer.step = ck.state.step;
      restoreTrainerState(trainer, model, ck, out, opts, log);
      elapsedBefore = Number(ck.state.elapsedSeconds ?? 0);
      log(`Resuming ${cfg.family} from step ${trainer.step} of ${totalSteps} in ${out}`);
    }
    fs.mkdirSync(out, { recursive: true });
    const metricsPath = path.join(out, 'metrics.jsonl');
    truncateMetrics(metricsPath, trainer.step, log);
    log(
      `Training ${cfg.family} (${(model.params.numParams() / 1e6).toFixed(2)}M params) on ${train.name}: ${train.n} images ${train.height}x${train.width}x${train.channels}, ` +
        `${totalSteps} steps (${(totalSteps / stepsPerEpoch).toFixed(2)} epochs of ${stepsPerEpoch}), batch ${cfg.train.batchSize}, backend ${backend}`,
    );
    return {
      out,
      cfg,
      fam,
      model,
      trainer,
      info,
      train,
      test,
      stepsPerEpoch,
      totalSteps,
      backend,
      resumedStep: ck ? ck.state.step : null,
      init: ck ? initRecordOf(ck.config) : opts.init && { spec: opts.init.spec, step: opts.init.step },
      elapsedBefore,
      metricsPath,
    };
  } catch (e) {
    trainer?.dispose();
    model.dispose();
    throw e;
  }
}
