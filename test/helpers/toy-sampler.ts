// A toy multistep diffusion sampler for the tests: DDIM with eps averaged with the previous step's, keeping that eps
// and x_t as its state (a solver's history), so the loop must keep those tensors alive and free them afterwards.
import * as tf from '@tensorflow/tfjs-core';
import { ddimStep, ddimTimesteps } from '../../src/core/diffusion/samplers/ddim.ts';
import type { Sampler } from '../../src/core/diffusion/samplers/sampler.ts';

export const averaged: Sampler<{ eps: tf.Tensor4D; x: tf.Tensor4D } | null> = {
  label: 'Averaged (test)',
  summary: 'a test sampler with state',
  timesteps: ddimTimesteps,
  defaultSteps: 50,
  init: () => null,
  step: (state, { schedule, t, tPrev, xt, eps }) => {
    const e = state ? (tf.div(tf.add(eps, state.eps), 2) as tf.Tensor4D) : eps;
    return { xPrev: ddimStep(schedule, t, tPrev, xt, e, 0, null), state: { eps, x: xt } };
  },
};
