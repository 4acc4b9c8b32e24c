// train(config, opts): the library's way to train a model into a run folder. Quiet by default (no output, no signal
// handlers); progress comes through onStep/onCheckpoint, stopping through an AbortSignal. The CLI adds Ctrl-C and output.
// With `init`, a new run starts from a trained model's weights (fine-tuning, see train/init.ts).
import type { PlainObject } from '../core/config/overrides.ts';
import type { DataConfig, TrainConfig } from '../core/config/schema.ts';
import { UserError } from '../core/errors.ts';
import { getFamily, type FamilyName } from '../core/registry.ts';
import { hasCheckpoint, readCheckpointConfig } from './checkpoint-store.ts';
import { choosesPreprocess, resolveRunConfig, type ResolvedRunConfig } from './run-config.ts';
import { trainRun } from './run.ts';
import { initConfigLayer, readInitModel, type InitModel } from './train/init.ts';
import type { BackendName } from './backend.ts';
import type { Progress } from './progress.ts';
import type { TrainRunResult } from './train/finish.ts';
import type { TrainStepInfo } from './train/loop.ts';
import type { CheckpointInfo } from './train/run-state.ts';

export type { TrainStepInfo } from './train/loop.ts';
export type { CheckpointInfo } from './train/run-state.ts';
export type { TrainRunResult } from './train/finish.ts';

/** A run config as a caller writes it: the family and any of its sections, in part; the rest comes from the family's
 *  defaults. Unknown keys are an error. */
export interface RunConfigInput {
  family: FamilyName;
  /** The family's model settings (see its README), e.g. { latent: 16, cond: { kind: 'label' } } for a VAE. */
  model?: Record<string, unknown>;
  data?: Partial<DataConfig>;
  train?: Partial<TrainConfig>;
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** The run folder: checkpoints, metrics.jsonl, pictures. */
  out: string;
  /** Continue the checkpoint in `out`: its saved config is the base, `config` is laid over it (e.g. more train.steps). */
  resume?: boolean;
  /**
   * Start a new run from a trained model (fine-tuning): a run folder, `zoo:NAME`, an https folder URL or
   * `hf:OWNER/REPO[/SUBFOLDER][@REVISION]` (downloaded into the cache). Its config is the base that `config` is laid
   * over (`config.family` may then be omitted; if given it must be the model's), its weights (the EMA ones when kept)
   * are the starting point, and training starts at step 0 with a fresh Adam. The new data must have the model's image
   * shape (and classes, or caption words). The run's config.json records it as `init: { spec, step }`. Not with `resume`.
   */
  init?: string;
  /** Compute backend (default 'auto': native, else wasm, else cpu). */
  backend?: BackendName;
  /** Aborted: training stops after the current step, saves a checkpoint and resolves with `aborted: true`
   *  (`resume: true` continues it exactly). Aborted before the first step (or already aborted): rejects with the
   *  signal's reason (an AbortError) and saves nothing. */
  signal?: AbortSignal;
  /** Called after every step, with its figures. */
  onStep?: (info: TrainStepInfo) => void;
  /** Called after each checkpoint is saved (train.checkpointEvery, and the last one). */
  onCheckpoint?: (c: CheckpointInfo) => void;
  /** Human-readable lines (what is trained, warnings, the summary); default: none. */
  log?: (line: string) => void;
  /** Write the final pictures (samples, reconstructions...), loss curve and a quick evaluation. Default true. */
  finish?: boolean;
  /** With resume: restart Adam (when optimizer.safetensors is lost); the run then differs from an uninterrupted one. */
  resetOptimizer?: boolean;
  /** With resume: restart the EMA of the weights from the checkpoint's weights. */
  resetEma?: boolean;
}

/** What {@link train} did, and the full config it trained with. */
export interface TrainResult extends TrainRunResult {
  config: ResolvedRunConfig;
}

/**
 * Trains (or, with `resume`, continues; with `init`, fine-tunes) a model into the run folder `opts.out`.
 *
 * @example
 * const run = await train({ family: 'vae', data: { dataset: 'shapes', size: 16 }, train: { steps: 200 } }, { out: 'runs/vae', onStep: (s) => console.log(s.step, s.loss) });
 * // fine-tuning: a trained model's config and weights, on your images
 * await train({ data: { dataset: 'folder:my-pics' }, train: { steps: 300, lr: 2e-4 } }, { out: 'runs/mine', init: 'zoo:vae' });
 */
export async function train(
  config: RunConfigInput | (Omit<RunConfigInput, 'family'> & { family?: FamilyName }),
  opts: TrainOptions,
): Promise<TrainResult> {
  opts.signal?.throwIfAborted();
  if (opts?.init !== undefined && opts.resume)
    throw new UserError(
      'train(): init starts a new run from a trained model and resume continues one; drop one of them',
    );
  const init = opts?.init !== undefined ? await readInitModel(opts.init) : undefined;
  const cfg = resolveTrainConfig(config as RunConfigInput, opts, init);
  const log = opts.log ?? (() => {});
  const silent: Progress = { update() {}, log, stop() {} };
  const r = await trainRun({
    config: cfg,
    out: opts.out,
    backend: opts.backend,
    resume: opts.resume,
    init,
    resetOptimizer: opts.resetOptimizer,
    resetEma: opts.resetEma,
    finish: opts.finish,
    log,
    progress: silent,
    signal: opts.signal,
    abortNote: 'Aborted: saving a checkpoint after this step',
    resumeCommand: `train(config, { out: ${JSON.stringify(opts.out)}, resume: true })`,
    onStep: opts.onStep,
    onCheckpoint: opts.onCheckpoint,
  });
  return { ...r, config: cfg };
}

/** The full config of a train() call: family defaults < the saved config (resume) or the init model's < `config`,
 *  strictly checked. */
function resolveTrainConfig(config: RunConfigInput, opts: TrainOptions, init?: InitModel): ResolvedRunConfig {
  if (init && typeof config === 'object' && config !== null && config.family === undefined)
    config = { ...config, family: init.config.family as FamilyName };
  if (typeof config !== 'object' || config === null || typeof config.family !== 'string') {
    throw new UserError('train(config): config must be an object with a family, e.g. { family: "vae" }');
  }
  if (typeof opts?.out !== 'string' || opts.out === '')
    throw new UserError('train(config, opts): opts.out must name the run folder, e.g. "runs/vae"');
  const family = config.family;
  const fam = getFamily(family);
  const input = config as unknown as PlainObject;
  const layers: PlainObject[] = [];
  if (init) {
    layers.push(initConfigLayer(init, family, [input], []));
  } else if (opts.resume && hasCheckpoint(opts.out)) {
    const saved = readCheckpointConfig(opts.out);
    if (saved.family !== family)
      throw new UserError(`Cannot resume: ${opts.out} holds a ${saved.family} run, not ${family}`);
    layers.push(saved.config as PlainObject);
  } else if (!choosesPreprocess([input], []) && (fam.defaults.data.preprocess ?? '').startsWith('binarize')) {
    // as the CLI does: binarization (the family default, right for MNIST-like data) would wreck colour images
    const ds = (input.data as PlainObject | undefined)?.dataset;
    if (typeof ds === 'string' && !/mnist/.test(ds)) layers.push({ data: { preprocess: 'scale01' } });
  }
  layers.push(input);
  return resolveRunConfig(family, layers, [], 'train() config');
}
