// One training step of any GenerativeModel: the trainer's single-loss step on model.loss(), or the model's own step
// (trainStep with optimizer groups, e.g. a GAN's D and G). The run, the contract tests and benches share it.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainConfig } from '../config/schema.ts';
import type { GenerativeModel } from '../family.ts';
import { Trainer, type StepMetrics } from './trainer.ts';

/** A preprocessed batch: x [B,H,W,C], labels y [B] (or null), captions (or null). */
export interface TrainBatch {
  x: tf.Tensor4D;
  y: tf.Tensor1D | null;
  captions: string[] | null;
}

/** The variables the EMA averages and sampling swaps in: model.emaVars() or all trainable variables. */
export function emaVarsOf(model: GenerativeModel): Record<string, tf.Variable> {
  return model.emaVars?.() ?? model.params.vars;
}

/** A trainer for the model: one Adam over all variables, or one per optimizer group when the model has its own step. */
export function trainerFor(model: GenerativeModel, cfg: TrainConfig, totalSteps: number): Trainer {
  const groups = model.trainStep && model.optimizerGroups ? model.optimizerGroups() : undefined;
  return new Trainer(model.params.vars, cfg, totalSteps, { groups, emaVars: emaVarsOf(model) });
}

/**
 * One step on the batch that makeBatch builds (tensors it makes are freed here). seed drives the step's randomness.
 * A model with trainStep gets the batch and a context for its group updates; any other model's loss is minimised.
 */
export function trainModelStep(
  trainer: Trainer,
  model: GenerativeModel,
  makeBatch: () => TrainBatch,
  seed: number,
): StepMetrics {
  if (!model.trainStep) {
    return trainer.trainStep(() => {
      const b = makeBatch();
      return model.loss(b.x, b.y, seed, b.captions);
    });
  }
  const b = tf.tidy(() => makeBatch() as unknown as tf.TensorContainer) as unknown as TrainBatch;
  try {
    return trainer.customStep((ctx) => model.trainStep!(b.x, b.y, seed, b.captions, ctx));
  } finally {
    tf.dispose([b.x, ...(b.y ? [b.y] : [])]);
  }
}
