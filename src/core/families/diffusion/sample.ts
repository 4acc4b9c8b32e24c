// The sampling loop: start from x_T ~ N(0, I) and apply a scheduler step (DDIM or DDPM, from src/core/diffusion/
// schedulers) per timestep, with classifier-free guidance: f = f_uncond + w (f_cond - f_uncond), both halves in one batch.
import * as tf from '@tensorflow/tfjs-core';
import { concatCondSeq, disposeCondSeq, type CondSeq } from '../../conditioning/conditioner.ts';
import { guide } from '../../conditioning/guidance.ts';
import { epsFromV } from '../../diffusion/forward.ts';
import type { Schedule } from '../../diffusion/schedules.ts';
import { ddimStep, ddimTimesteps } from '../../diffusion/schedulers/ddim.ts';
import { ddpmStep, ddpmTimesteps } from '../../diffusion/schedulers/ddpm.ts';
import { SampleStreams } from '../../tensor/sample-streams.ts';

export type Net = (xt: tf.Tensor4D, t: ArrayLike<number>, cond: CondSeq | null) => tf.Tensor4D;

export interface LoopOptions {
  sampler: 'ddim' | 'ddpm';
  /** DDIM steps (DDPM always takes T). */
  steps: number;
  eta: number;
  /** Guidance weight w; used when cond and nullCond are given. */
  guidance: number;
  /** Conditions for the n samples and the null condition (or null for an unconditional model). */
  cond: CondSeq | null;
  nullCond: CondSeq | null;
  onFrame?: (images: tf.Tensor4D, step: number, total: number) => void;
  /** Index of the first sample in the request: row i draws x_T and every step's noise from sample first + i's stream. */
  first?: number;
}

/** n samples of `shape` [n,H,W,C] in [-1, 1]. */
export function sampleLoop(s: Schedule, prediction: 'eps' | 'v', net: Net, shape: [number, number, number, number], seed: number, o: LoopOptions): tf.Tensor4D {
  const [n, ...image] = shape;
  const streams = new SampleStreams(seed, o.first ?? 0, n);
  const ts = o.sampler === 'ddpm' ? ddpmTimesteps(s) : ddimTimesteps(s, o.steps);
  const guided = o.cond !== null && o.nullCond !== null && o.guidance !== 1;
  const both = guided ? concatCondSeq(o.cond!, o.nullCond!) : null;
  let x = streams.normal(image) as tf.Tensor4D; // x_T ~ N(0, I)
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
        const noise = o.sampler === 'ddpm' || o.eta > 0 ? streams.normal(image) as tf.Tensor4D : null;
        return o.sampler === 'ddpm' ? ddpmStep(s, t, x, eps, noise!) : ddimStep(s, t, i + 1 < ts.length ? ts[i + 1] : -1, x, eps, o.eta, noise);
      });
      x.dispose();
      x = next;
      if (o.onFrame) {
        const frame = tf.tidy(() => tf.clipByValue(tf.div(tf.add(x, 1), 2), 0, 1) as tf.Tensor4D);
        o.onFrame(frame, i + 1, ts.length);
        frame.dispose();
      }
    }
    return x;
  } finally {
    disposeCondSeq(both);
  }
}
