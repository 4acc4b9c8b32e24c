// The diffusion maths: schedules, the forward process, posterior coefficients against Gaussian conditioning, and the
// samplers with an oracle noise predictor (one that returns the true eps), which must recover x_0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { initBackend } from '../../src/node/backend.ts';
import { makeSchedule, linearBetas, cosineBetas } from '../../src/core/diffusion/schedules.ts';
import { qSample, vTarget, epsFromV, x0FromEps } from '../../src/core/diffusion/forward.ts';
import { ddimStep, ddimTimesteps } from '../../src/core/diffusion/samplers/ddim.ts';
import { ddpmStep } from '../../src/core/diffusion/samplers/ddpm.ts';
import { lossWeights } from '../../src/core/families/diffusion/loss.ts';

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

test('schedules: linear 1e-4..0.02 at T=1000; cosine alphaBar decreasing from ~1 to ~0; betas in (0, 1)', async () => {
  await initBackend('cpu');
  const lin = linearBetas(1000);
  assert.ok(Math.abs(lin[0] - 1e-4) < 1e-12 && Math.abs(lin[999] - 0.02) < 1e-12);
  for (const name of ['linear', 'cosine'] as const) {
    const s = makeSchedule(name, 1000);
    assert.ok(
      s.beta.every((b) => b > 0 && b < 1),
      name,
    );
    for (let t = 1; t < s.T; t++) assert.ok(s.alphaBar[t] < s.alphaBar[t - 1], `${name} alphaBar decreasing at ${t}`);
    assert.ok(
      s.alphaBar[0] > 0.99 && s.alphaBar[999] < 1e-3,
      `${name}: alphaBar from ${s.alphaBar[0]} to ${s.alphaBar[999]}`,
    );
  }
  assert.ok(cosineBetas(1000).every((b) => b <= 0.999));
  assert.throws(() => makeSchedule('linear', 0), /positive integer/);
});

test("q_sample: at t = 0 it is x_0 up to the first step's noise (sqrt(1 - alphaBar_0) = 0.01); matches the formula at any t", async () => {
  await initBackend('cpu');
  const s = makeSchedule('linear', 1000);
  const x0 = tf.randomUniform([3, 4, 4, 1], -1, 1, 'float32', 1) as tf.Tensor4D;
  const eps = tf.randomNormal([3, 4, 4, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
  const x = qSample(s, x0, [0, 0, 0], eps);
  assert.ok(maxAbs(x, x0) < 0.05, `t=0 differs from x0 by ${maxAbs(x, x0)}`);
  // zero noise at t = 0 gives sqrt(alphaBar_0) x0
  const z = qSample(s, x0, [0, 0, 0], tf.zerosLike(eps) as tf.Tensor4D);
  assert.ok(maxAbs(z, tf.mul(x0, Math.sqrt(s.alphaBar[0]))) < 1e-6);
  const t = [10, 500, 999];
  const manual = tf.tidy(() =>
    tf.concat(
      t.map((ti, i) =>
        tf.add(
          tf.mul(Math.sqrt(s.alphaBar[ti]), tf.slice(x0, [i], [1])),
          tf.mul(Math.sqrt(1 - s.alphaBar[ti]), tf.slice(eps, [i], [1])),
        ),
      ),
      0,
    ),
  );
  assert.ok(maxAbs(qSample(s, x0, t, eps), manual) < 1e-5);
  // v <-> eps: eps recovered from v and x_t; x0 recovered from eps and x_t
  const xt = qSample(s, x0, [500, 500, 500], eps),
    v = vTarget(s, x0, [500, 500, 500], eps);
  assert.ok(maxAbs(epsFromV(s, xt, v, 500), eps) < 1e-4);
  assert.ok(maxAbs(x0FromEps(s, xt, eps, 500), x0) < 1e-4);
  tf.dispose([x0, eps, x, z, manual, xt, v]);
});

test('posterior q(x_{t-1} | x_t, x_0): coefficients equal Gaussian conditioning computed independently', () => {
  const s = makeSchedule('cosine', 200);
  for (const t of [1, 7, 100, 199]) {
    // x_{t-1} | x_0 ~ N(sqrt(ab') x0, 1 - ab');  x_t | x_{t-1} ~ N(sqrt(a_t) x_{t-1}, beta_t)
    // posterior precision = 1 / (1 - ab') + a_t / beta_t;  mean = var (sqrt(ab') x0 / (1 - ab') + sqrt(a_t) x_t / beta_t)
    const abPrev = s.alphaBar[t - 1],
      a = 1 - s.beta[t],
      b = s.beta[t];
    const variance = 1 / (1 / (1 - abPrev) + a / b);
    const c1 = (variance * Math.sqrt(abPrev)) / (1 - abPrev),
      c2 = (variance * Math.sqrt(a)) / b;
    assert.ok(Math.abs(s.posteriorVariance[t] - variance) < 1e-10 * Math.max(1, variance), `variance t=${t}`);
    assert.ok(Math.abs(s.posteriorMeanCoef1[t] - c1) < 1e-9, `coef1 t=${t}`);
    assert.ok(Math.abs(s.posteriorMeanCoef2[t] - c2) < 1e-9, `coef2 t=${t}`);
  }
  // at t = 0 the posterior is the data itself: variance 0, mean = x0
  assert.equal(s.posteriorVariance[0], 0);
  assert.ok(Math.abs(s.posteriorMeanCoef1[0] - 1) < 1e-12 && Math.abs(s.posteriorMeanCoef2[0]) < 1e-12);
});

test('DDIM (eta = 0) with an oracle eps recovers x_0 from x_t; DDPM with an oracle lands on x_0 at its last step', async () => {
  await initBackend('cpu');
  const s = makeSchedule('linear', 1000);
  const x0 = tf.randomUniform([2, 5, 5, 3], -0.9, 0.9, 'float32', 3) as tf.Tensor4D;
  const eps = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
  for (const steps of [50, 7, 1000]) {
    const ts = ddimTimesteps(s, steps);
    assert.equal(ts.length, steps);
    assert.equal(ts[ts.length - 1], 0);
    let x = qSample(s, x0, [ts[0], ts[0]], eps);
    // the oracle: the true eps, written in terms of the current x_t
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i];
      const oracle = tf.tidy(
        () => tf.div(tf.sub(x, tf.mul(Math.sqrt(s.alphaBar[t]), x0)), Math.sqrt(1 - s.alphaBar[t])) as tf.Tensor4D,
      );
      const next = ddimStep(s, t, i + 1 < ts.length ? ts[i + 1] : -1, x, oracle, 0, null);
      tf.dispose([x, oracle]);
      x = next;
    }
    assert.ok(maxAbs(x, x0) < 1e-4, `${steps} steps: max error ${maxAbs(x, x0)}`);
    x.dispose();
  }
  assert.throws(() => ddimTimesteps(s, 0), /steps must be/);
  // DDPM: at t = 0 the step returns the posterior mean = predicted x_0 (no noise)
  const x1 = qSample(s, x0, [0, 0], eps);
  const oracle = tf.tidy(
    () => tf.div(tf.sub(x1, tf.mul(Math.sqrt(s.alphaBar[0]), x0)), Math.sqrt(1 - s.alphaBar[0])) as tf.Tensor4D,
  );
  const out = ddpmStep(s, 0, x1, oracle, tf.onesLike(x1) as tf.Tensor4D);
  assert.ok(maxAbs(out, x0) < 1e-4, `ddpm final step error ${maxAbs(out, x0)}`);
  tf.dispose([x0, eps, x1, oracle, out]);
});

test('Min-SNR-gamma loss weights: min(SNR, gamma) / SNR for eps, / (SNR + 1) for v, 1 when uniform; finite at alphaBar = 0', () => {
  const s = makeSchedule('linear', 1000);
  const ts = [0, 10, 100, 300, 500, 999];
  const eps = lossWeights(s, 'eps', { kind: 'min-snr', gamma: 5 }, ts);
  const v = lossWeights(s, 'v', { kind: 'min-snr', gamma: 5 }, ts);
  ts.forEach((t, i) => {
    const snr = s.alphaBar[t] / (1 - s.alphaBar[t]);
    assert.ok(Math.abs(eps[i] - Math.min(snr, 5) / snr) < 1e-6 * Math.max(1, eps[i]), `eps weight at t=${t}`);
    assert.ok(Math.abs(v[i] - Math.min(snr, 5) / (snr + 1)) < 1e-6, `v weight at t=${t}`);
    assert.ok(eps[i] > 0 && eps[i] <= 1 && v[i] > 0 && v[i] <= 1);
  });
  // low noise (t = 0: SNR ~ 1e4) is down-weighted to gamma / SNR; high noise (SNR < gamma) keeps weight 1
  assert.ok(eps[0] < 1e-3 && eps[5] === 1);
  assert.deepEqual(
    Array.from(lossWeights(s, 'eps', { kind: 'uniform', gamma: 5 }, ts)),
    ts.map(() => 1),
  );
  const zero = { ...s, alphaBar: Float64Array.from([0]) };
  assert.equal(lossWeights(zero, 'eps', { kind: 'min-snr', gamma: 5 }, [0])[0], 1);
});
