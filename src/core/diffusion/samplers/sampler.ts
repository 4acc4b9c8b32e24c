// The Sampler interface: a diffusion sampler is a timestep list and an update rule x_t -> x_{t'} (diffusers'
// scheduler `step(modelOutput, t, sample)`); state is an explicit value passed in and out, so multistep solvers fit.
import type * as tf from '@tensorflow/tfjs-core';
import type { Schedule } from '../schedules.ts';

/** What the sampling loop hands a sampler at each step, all tensors [n, H, W, C]. */
export interface StepInput {
  /** The noise schedule (alphaBar, posterior coefficients, T). */
  schedule: Schedule;
  /** The current timestep. */
  t: number;
  /** The timestep this step lands on: the next entry of timesteps(), or -1 after the last one (alphaBar = 1, x_0). */
  tPrev: number;
  /** Index of this step in timesteps() (0 = the first, from x_T). */
  index: number;
  /** The current sample x_t. */
  xt: tf.Tensor4D;
  /** The model's noise prediction eps(x_t, t), after guidance (a v prediction is converted to eps first). */
  eps: tf.Tensor4D;
  /** DDIM's eta (0 = deterministic); samplers without it ignore it. */
  eta: number;
  /** Fresh N(0, I) noise [n, H, W, C] from each sample's own stream; a call advances the streams, so whether a step
   *  calls it must depend only on the options, not on the values (a seed's images must not depend on batching). */
  noise(): tf.Tensor4D;
}

/** A sampler's state between steps: tensors it keeps (e.g. the previous x_0 prediction of a multistep solver), or null. */
export type SamplerState = tf.TensorContainer | null;

/**
 * A diffusion sampler. The loop calls init() once, then step() for each timestep inside a tf.tidy; it keeps the
 * returned xPrev and the tensors of the returned state, and disposes the old state's tensors that the new one dropped.
 */
export interface Sampler<S extends SamplerState = SamplerState> {
  /** Name for menus, e.g. 'DDIM'. */
  label: string;
  /** One line for help texts. */
  summary: string;
  /** The timesteps visited, descending (the step from the last one lands on x_0), for `steps` requested steps (a
   *  sampler may ignore `steps`, as DDPM visits every t). Throws a UserError for an invalid `steps`. */
  timesteps(schedule: Schedule, steps: number): number[];
  /** Steps taken when neither the request nor the model's config sets them (its quality/speed sweet spot). */
  defaultSteps: number;
  /** The state before the first step. */
  init(): S;
  /** One update x_t -> x_{tPrev} and the next state. */
  step(state: S, input: StepInput): { xPrev: tf.Tensor4D; state: S };
}
