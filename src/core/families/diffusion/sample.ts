// The sampling loop: start from x_T ~ N(0, I) and apply a sampler's step (any entry of src/core/diffusion/samplers)
// per timestep, with classifier-free guidance: f = f_uncond + w (f_cond - f_uncond), both halves in one batch.
import * as tf from '@tensorflow/tfjs-core';
import { concatCondSeq, disposeCondSeq, type CondSeq } from '../../conditioning/conditioner.ts';
import { guide } from '../../conditioning/guidance.ts';
import { epsFromV, x0FromEps } from '../../diffusion/forward.ts';
import type { Schedule } from '../../diffusion/schedules.ts';
import type { Sampler, SamplerState } from '../../diffusion/samplers/index.ts';
import type { FrameDetail } from '../../family.ts';
import { SampleStreams } from '../../tensor/sample-streams.ts';
import { runSync, type Steps } from '../../tensor/steps.ts';

export type Net = (xt: tf.Tensor4D, t: ArrayLike<number>, cond: CondSeq | null) => tf.Tensor4D;

export interface LoopOptions {
  /** The update rule, e.g. samplers.ddim (getSampler(name) checks a user's name). */
  sampler: Sampler;
  /** Sampler steps (DDIM; DDPM always takes T). */
  steps: number;
  eta: number;
  /** Guidance weight w; used when cond and nullCond are given. */
  guidance: number;
  /** Conditions for the n samples and the null condition (or null for an unconditional model). */
  cond: CondSeq | null;
  nullCond: CondSeq | null;
  /** After each step: the new x_t in [0, 1] and, on request (more.x0()), the x0hat that step predicted (FrameDetail). */
  onFrame?: (images: tf.Tensor4D, step: number, total: number, more: FrameDetail) => void;
  /** Index of the first sample in the request: row i draws x_T and every step's noise from sample first + i's stream. */
  first?: number;
}

/** n samples of `shape` [n,H,W,C] in [-1, 1]. */
export function sampleLoop(
  s: Schedule,
  prediction: 'eps' | 'v',
  net: Net,
  shape: [number, number, number, number],
  seed: number,
  o: LoopOptions,
): tf.Tensor4D {
  return runSync(sampleSteps(s, prediction, net, shape, seed, o));
}

/** sampleLoop as steps (tensor/steps.ts): a pause after every denoising step (and its frame). */
export function* sampleSteps(
  s: Schedule,
  prediction: 'eps' | 'v',
  net: Net,
  shape: [number, number, number, number],
  seed: number,
  o: LoopOptions,
): Steps<tf.Tensor4D> {
  const [n, ...image] = shape;
  const streams = new SampleStreams(seed, o.first ?? 0, n);
  const ts = o.sampler.timesteps(s, o.steps);
  const guided = o.cond !== null && o.nullCond !== null && o.guidance !== 1;
  const both = guided ? concatCondSeq(o.cond!, o.nullCond!) : null;
  let x = streams.normal(image) as tf.Tensor4D; // x_T ~ N(0, I)
  let state: SamplerState = o.sampler.init();
  try {
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i];
      const next = tf.tidy(() => {
        let out: tf.Tensor4D;
        if (guided) {
          const tt = new Array(2 * n).fill(t);
          const [c, u] = tf.split(net(tf.concat([x, x], 0) as tf.Tensor4D, tt, both), 2, 0) as tf.Tensor4D[];
          out = guide(u, c, o.guidance) as tf.Tensor4D;
        } else {
          out = net(x, new Array(n).fill(t), o.cond);
        }
        const eps = prediction === 'v' ? epsFromV(s, x, out, t) : out;
        const tPrev = i + 1 < ts.length ? ts[i + 1] : -1;
        const r = o.sampler.step(state, {
          schedule: s,
          t,
          tPrev,
          index: i,
          xt: x,
          eps,
          eta: o.eta,
          noise: () => streams.normal(image) as tf.Tensor4D,
        });
        // tidy keeps the state's tensors, and eps while a frame listener may ask for x0hat
        return { x: r.xPrev, state: r.state, eps: o.onFrame ? eps : null } as unknown as tf.TensorContainer;
      }) as unknown as { x: tf.Tensor4D; state: SamplerState; eps: tf.Tensor4D | null };
      const xt = x;
      // freed after the frame unless the new state keeps them (a solver's history may hold x_t or eps)
      const dropped = [x, state, next.eps];
      x = next.x;
      state = next.state;
      try {
        if (o.onFrame) frame(o.onFrame, s, x, xt, next.eps!, t, i + 1, ts.length);
      } finally {
        disposeDropped(dropped, state);
      }
      yield null;
    }
    disposeDropped(state, null);
    return x;
  } catch (e) {
    x.dispose();
    disposeDropped(state, null);
    throw e;
  } finally {
    disposeCondSeq(both);
  }
}

/** [-1, 1] -> [0, 1], clipped. */
const to01 = (x: tf.Tensor4D) => tf.clipByValue(tf.div(tf.add(x, 1), 2), 0, 1) as tf.Tensor4D;

/**
 * Calls onFrame with x_{t'} (the step's result) and a FrameDetail whose x0() is the x0hat the step predicted from x_t
 * and eps at t: x0hat = (x_t - sqrt(1 - alphaBar_t) eps) / sqrt(alphaBar_t), clipped to [-1, 1]. x0hat is computed only
 * if the listener calls x0(), and freed with the frame when the call returns.
 */
function frame(
  onFrame: NonNullable<LoopOptions['onFrame']>,
  s: Schedule,
  xPrev: tf.Tensor4D,
  xt: tf.Tensor4D,
  eps: tf.Tensor4D,
  t: number,
  step: number,
  total: number,
): void {
  const images = tf.tidy(() => to01(xPrev));
  const made = { x0: null as tf.Tensor4D | null }; // x0hat, once asked for
  const x0 = () => (made.x0 ??= tf.tidy(() => to01(x0FromEps(s, xt, eps, t))));
  try {
    onFrame(images, step, total, { x0 });
  } finally {
    images.dispose();
    made.x0?.dispose();
  }
}

/** Dispose the tensors of a sampler's old state that its new state does not keep. */
function disposeDropped(old: unknown, kept: SamplerState): void {
  const keep = new Set(tensorsIn(kept));
  for (const t of tensorsIn(old)) if (!keep.has(t)) t.dispose();
}

function tensorsIn(c: unknown, out: tf.Tensor[] = []): tf.Tensor[] {
  if (c instanceof tf.Tensor) out.push(c);
  else if (Array.isArray(c)) for (const v of c) tensorsIn(v, out);
  else if (c !== null && typeof c === 'object') for (const v of Object.values(c)) tensorsIn(v, out);
  return out;
}
