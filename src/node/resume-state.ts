// On --resume: the optimizer state and the EMA of the weights come back from the checkpoint exactly, or the run stops
// with one line naming what is missing or mismatched; --reset-optimizer / --reset-ema start them afresh, with a warning.
import type { Checkpoint } from '../core/checkpoint/format.ts';
import { assignRecords, CHECKPOINT_FILES } from '../core/checkpoint/format.ts';
import { UserError } from '../core/errors.ts';
import type { GenerativeModel } from '../core/family.ts';
import { emaVarsOf } from '../core/train/model-step.ts';
import type { Trainer } from '../core/train/trainer.ts';

export interface ResetOptions {
  /** Do not load optimizer.safetensors: Adam restarts from zero moments. */
  resetOptimizer?: boolean;
  /** Do not load ema.safetensors: the average restarts from the current weights. */
  resetEma?: boolean;
}

/** Loads Adam's state and the EMA of `ck` (a checkpoint in `out`) into `trainer`, whose step and weights are restored. */
export function restoreTrainerState(
  trainer: Trainer,
  model: GenerativeModel,
  ck: Checkpoint,
  out: string,
  opts: ResetOptions,
  log: (line: string) => void,
): void {
  const step = ck.state.step;
  const optimizerFile = `${CHECKPOINT_FILES.optimizer} in ${out}`;
  const differs = 'so the run no longer matches an uninterrupted one';
  if (opts.resetOptimizer) {
    log(
      `deepgen: warning: --reset-optimizer: Adam restarts from zero moments at step ${step} (${optimizerFile} is not used), ${differs}`,
    );
  } else {
    trainer.loadOptimizerState(ck.state.optimizerStep, ck.optimizer ?? null, {
      file: optimizerFile,
      state: `${CHECKPOINT_FILES.state} in ${out}`,
      hint: `Restore the run folder from a backup, or pass --reset-optimizer to restart Adam from zero moments (${differs}).`,
    });
  }
  const emaFile = `${CHECKPOINT_FILES.ema} in ${out}`;
  const ema = trainer.ema;
  if (!ema) {
    if (ck.ema)
      log(
        `deepgen: warning: ${emaFile} is not used: train.ema is 0 now, so the next checkpoint keeps no average of the weights`,
      );
    return;
  }
  const emaHint = `Restore the run folder from a backup, or pass --reset-ema to restart the average from the current weights (${differs}).`;
  const savedDecay = Number((ck.config.config as { train?: { ema?: unknown } } | null)?.train?.ema ?? 0);
  if (opts.resetEma) {
    ema.restart(emaVarsOf(model));
    log(
      `deepgen: warning: --reset-ema: the average of the weights restarts from the weights of step ${step} (${emaFile} is not used), ${differs}`,
    );
  } else if (ck.ema) {
    assignRecords(ema.shadow, ck.ema, emaFile, emaHint);
  } else if (savedDecay > 0) {
    throw new UserError(
      `${CHECKPOINT_FILES.ema} not found in ${out}, but the run keeps an average of its weights (train.ema ${savedDecay}). ${emaHint}`,
    );
  } else {
    // the EMA was switched on at this resume: it starts from the trained weights, not from the initial ones
    ema.restart(emaVarsOf(model));
    log(`The average of the weights (train.ema ${ema.decay}) starts at step ${step} from the current weights`);
  }
}
