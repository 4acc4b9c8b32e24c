// DPM-Solver++(2M) against the exact probability-flow ODE of Gaussian data N(mu, sd^2), whose ideal denoiser is
// closed-form: the solver must converge to the exact map at second order (error / 4 per doubling of the steps) where
// DDIM converges at first order, with eps- and v-prediction, and match the exact map closely at 20 steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { makeSchedule, type Schedule } from '../../src/core/diffusion/schedules.ts';
import { samplers, type Sampler } from '../../src/core/diffusion/samplers/index.ts';
import { dpmTimesteps, dpmSolver2mStep } from '../../src/core/diffusion/samplers/dpm-solver.ts';
import { sampleLoop } from '../../src/core/families/diffusion/sample.ts';

const mu = 0.05,
  sd = 0.2; // the 4096 draws stay inside [-1, 1], where the samplers clip x0hat
const shape: [number, number, number, number] = [16, 16, 16, 1];

/** The exact noise predictor of x_0 ~ N(mu, sd^2): E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) mu) / (ab sd^2 + 1 - ab). */
function exactEps(s: Schedule, xt: tf.Tensor4D, t: number): tf.Tensor4D {
  const ab = s.alphaBar[t];
  return tf.mul(tf.sub(xt, Math.sqrt(ab) * mu), Math.sqrt(1 - ab) / (ab * sd * sd + 1 - ab)) as tf.Tensor4D;
}

/** ... and v = sqrt(ab) eps - sqrt(1 - ab) x0hat, x0hat = (x_t - sqrt(1 - ab) eps) / sqrt(ab). */
function exactV(s: Schedule, xt: tf.Tensor4D, t: number): tf.Tensor4D {
  return tf.tidy(() => {
    const ab = s.alphaBar[t];
    const eps = exactEps(s, xt, t);
    const x0 = tf.div(tf.sub(xt, tf.mul(Math.sqrt(1 - ab), eps)), Math.sqrt(ab));
    return tf.sub(tf.mul(Math.sqrt(ab), eps), tf.mul(Math.sqrt(1 - ab), x0)) as tf.Tensor4D;
  });
}

/** A sampler that leaves x_t as it is: the loop then returns its starting noise x_T (same seed, same streams). */
const still: Sampler<null> = {
  label: 'still',
  summary: 'test',
  timesteps: (s, n) => dpmTimesteps(s, n),
  defaultSteps: 20,
  init: () => null,
  step: (state, { xt }) => ({ xPrev: tf.clone(xt), state }),
};

/** Max |x - exact| where exact = mu + sd (x_start - a mu) / std_start solves the ODE from timestep `start` to 0. */
function run(s: Schedule, name: 'ddim' | 'dpm++2m', steps: number, prediction: 'eps' | 'v' = 'eps'): number {
  const sampler = samplers[name] as Sampler;
  const net = (xt: tf.Tensor4D, t: ArrayLike<number>) =>
    prediction === 'eps' ? exactEps(s, xt, t[0]) : exactV(s, xt, t[0]);
  const o = { steps, eta: 0, guidance: 1, cond: null, nullCond: null };
  const x = sampleLoop(s, prediction, net, shape, 11, { ...o, sampler });
  const xT = sampleLoop(s, prediction, net, shape, 11, { ...o, sampler: still });
  const start = sampler.timesteps(s, steps)[0];
  const ab = s.alphaBar[start];
  const err = tf.tidy(() => {
    // the ODE keeps (x_t - sqrt(ab_t) mu) / std_t constant, std_t^2 = ab_t sd^2 + 1 - ab_t; at the end ab = 1, std = sd
    const exact = tf.add(mu, tf.mul(tf.sub(xT, Math.sqrt(ab) * mu), sd / Math.sqrt(ab * sd * sd + 1 - ab)));
    return tf.max(tf.abs(tf.sub(x, exact))).dataSync()[0];
  });
  tf.dispose([x, xT]);
  return err;
}

test('dpmTimesteps: from T-1 to 0, evenly spaced, and one-line errors for bad counts', () => {
  const s = makeSchedule('linear', 1000);
  for (const n of [2, 10, 20, 50, 200, 1000]) {
    const ts = dpmTimesteps(s, n);
    assert.equal(ts.length, n);
    assert.equal(ts[0], 999);
    assert.equal(ts.at(-1), 0);
    assert.ok(
      ts.every((t, i) => i === 0 || t < ts[i - 1]),
      `not strictly decreasing: ${ts}`,
    );
  }
  // evenly spaced in lambda = log(alpha / sigma) where the integers allow: 10 steps on the linear schedule
  assert.deepEqual(dpmTimesteps(s, 10), [999, 886, 757, 603, 410, 202, 73, 22, 5, 0]);
  assert.deepEqual(dpmTimesteps(s, 1), [999]);
  // a cosine schedule starts where alphaBar >= 1e-5, not at its clipped last steps (alphaBar ~ 1e-9)
  const c = makeSchedule('cosine', 1000);
  const t0 = dpmTimesteps(c, 20)[0];
  assert.ok(c.alphaBar[t0] >= 1e-5 && c.alphaBar[t0 + 1] < 1e-5, `cosine starts at ${t0}`);
  assert.throws(() => dpmTimesteps(s, 0), /steps must be an integer from 1 to 1000/);
  assert.throws(() => dpmTimesteps(s, 1001), /steps must be an integer from 1 to 1000/);
});

for (const schedule of ['linear', 'cosine'] as const) {
  test(`DPM-Solver++(2M) (log-SNR steps) converges at second order to the exact ODE solution, DDIM at first (${schedule} schedule)`, () => {
    const s = makeSchedule(schedule, 1000);
    const before = tf.memory().numTensors;
    const dpm = [20, 40, 80].map((n) => run(s, 'dpm++2m', n));
    const ddim = [20, 40, 80].map((n) => run(s, 'ddim', n));
    const order = (e: number[]) => e.slice(1).map((v, i) => Math.log2(e[i] / v));
    const msg = `max error dpm++2m ${dpm.map((v) => v.toExponential(2))}, ddim ${ddim.map((v) => v.toExponential(2))}`;
    // second order: the error falls ~4x per doubling (log2 ratio ~2); a wrong coefficient in D or in the update
    // leaves a first-order (or constant) error
    for (const p of order(dpm)) assert.ok(p > 1.6, `DPM-Solver++ order ${p.toFixed(2)}, want ~2; ${msg}`);
    for (const p of order(ddim)) assert.ok(p > 0.7 && p < 1.4, `DDIM order ${p.toFixed(2)}, want ~1; ${msg}`);
    assert.ok(dpm[0] < ddim[2] / 2, `dpm++2m at 20 steps should beat DDIM at 80; ${msg}`);
    assert.ok(dpm[0] < 0.03, msg);
    assert.equal(tf.memory().numTensors, before, 'the solver state leaked tensors');
  });
}

test('DPM-Solver++(2M) gives the same samples from a v-prediction model as from the eps model it equals', () => {
  const s = makeSchedule('cosine', 1000);
  const a = run(s, 'dpm++2m', 15, 'eps'),
    b = run(s, 'dpm++2m', 15, 'v');
  assert.ok(Math.abs(a - b) < 1e-4 && a < 0.03, `eps ${a}, v ${b}`);
});

test('the first step is DDIM (first order); later steps extrapolate with r = h_prev / h', () => {
  const s = makeSchedule('linear', 1000);
  tf.tidy(() => {
    const xt = tf.randomNormal([2, 3, 3, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const eps = exactEps(s, xt, 900);
    const first = dpmSolver2mStep(s, 900, 700, xt, eps, null);
    const ddim = tf.tidy(() => {
      const ab = s.alphaBar[900],
        abp = s.alphaBar[700];
      const x0 = tf.clipByValue(tf.div(tf.sub(xt, tf.mul(Math.sqrt(1 - ab), eps)), Math.sqrt(ab)), -1, 1);
      return tf.add(
        tf.mul(Math.sqrt(abp), x0),
        tf.mul(Math.sqrt(1 - abp), tf.div(tf.sub(xt, tf.mul(Math.sqrt(ab), x0)), Math.sqrt(1 - ab))),
      );
    });
    assert.ok(tf.max(tf.abs(tf.sub(first.xPrev, ddim))).dataSync()[0] < 1e-5, 'the first step must equal DDIM');
    // with a previous prediction equal to this one, D = x0hat whatever r: the second-order term vanishes
    const same = dpmSolver2mStep(s, 700, 500, first.xPrev, exactEps(s, first.xPrev, 700), null);
    const again = dpmSolver2mStep(s, 700, 500, first.xPrev, exactEps(s, first.xPrev, 700), {
      x0: same.state.x0,
      h: 0.3,
    });
    assert.ok(tf.max(tf.abs(tf.sub(same.xPrev, again.xPrev))).dataSync()[0] < 1e-5);
    // the final step onto x_0 returns x0hat itself
    const end = dpmSolver2mStep(s, 0, -1, first.xPrev, exactEps(s, first.xPrev, 0), same.state);
    assert.ok(tf.max(tf.abs(tf.sub(end.xPrev, end.state.x0))).dataSync()[0] === 0);
  });
});
