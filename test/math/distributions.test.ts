// The maths of the likelihoods and KL terms against analytic and hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import {
  bernoulliLogLik,
  gaussianKlStandard,
  gaussianLogLik,
  logMeanExp,
  logSumExp,
  standardNormalLogPdf,
} from '../../src/core/math/distributions.ts';
import { bitsPerDimToNats, natsToBitsPerDim } from '../../src/core/math/units.ts';
import { Rng } from '../../src/core/tensor/rng.ts';

const close = (a: number, b: number, tol: number, msg = '') =>
  assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b} (tol ${tol})`);
const arr = (t: tf.Tensor) => Array.from(t.dataSync());

test('KL(N(0,1) || N(0,1)) = 0', () => {
  const kl = gaussianKlStandard(tf.zeros([3, 5]), tf.zeros([3, 5]));
  assert.deepEqual(arr(kl), [0, 0, 0]);
});

test('analytic KL matches the closed form for known values', () => {
  // KL(N(mu, s^2) || N(0,1)) = 0.5 (mu^2 + s^2 - 1 - log s^2) per dim
  const mu = 0.7;
  const s2 = 2.5;
  const kl = gaussianKlStandard(tf.tensor2d([[mu, -mu]]), tf.tensor2d([[Math.log(s2), Math.log(s2)]]));
  close(arr(kl)[0], 2 * 0.5 * (mu * mu + s2 - 1 - Math.log(s2)), 1e-5);
});

test('analytic KL matches a Monte Carlo estimate E_q[log q(z) - log p(z)]', () => {
  const mu = tf.tensor2d([[0.5, -1.2, 0.1]]);
  const logVar = tf.tensor2d([[-0.5, 0.3, -2]]);
  const n = 200000;
  const eps = tf.randomNormal([n, 3], 0, 1, 'float32', 42);
  const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logVar, 0.5)), eps));
  const logQ = gaussianLogLik(z, tf.tile(mu, [n, 1]), tf.tile(logVar, [n, 1]));
  const logP = standardNormalLogPdf(z);
  const mc = tf.mean(tf.sub(logQ, logP)).dataSync()[0];
  close(mc, arr(gaussianKlStandard(mu, logVar))[0], 0.02, 'MC KL');
});

test('bernoulli log-likelihood matches hand-computed cross-entropy', () => {
  const logits = [2, -1, 0, 30, -30];
  const x = [1, 0, 1, 1, 0];
  const sig = (l: number) => 1 / (1 + Math.exp(-l));
  const expect = logits.reduce((s, l, i) => s + (x[i] ? Math.log(sig(l)) : Math.log(1 - sig(l))), 0);
  close(arr(bernoulliLogLik(tf.tensor2d([x]), tf.tensor2d([logits])))[0], expect, 1e-4);
  // continuous targets: x log p + (1-x) log(1-p)
  const xc = 0.3;
  const l = 0.8;
  close(
    arr(bernoulliLogLik(tf.tensor2d([[xc]]), tf.tensor2d([[l]])))[0],
    xc * Math.log(sig(l)) + (1 - xc) * Math.log(1 - sig(l)),
    1e-5,
  );
});

test('gaussian log-likelihood is the MSE with its normaliser', () => {
  const x = [0.2, 0.9];
  const m = [0.5, 0.4];
  const sigma = 0.1;
  const expect = x.reduce(
    (s, xi, i) => s - 0.5 * (Math.log(2 * Math.PI) + Math.log(sigma * sigma) + (xi - m[i]) ** 2 / (sigma * sigma)),
    0,
  );
  close(arr(gaussianLogLik(tf.tensor2d([x]), tf.tensor2d([m]), 2 * Math.log(sigma)))[0], expect, 1e-3);
});

test('standard normal log-pdf at 0 is -D/2 log 2pi', () => {
  close(arr(standardNormalLogPdf(tf.zeros([1, 4])))[0], -2 * Math.log(2 * Math.PI), 1e-5);
});

test('logSumExp and logMeanExp are stable and exact', () => {
  const v = [1000, 1000 + Math.log(3)];
  close(arr(logSumExp(tf.tensor2d([v]), 1))[0], 1000 + Math.log(4), 1e-3);
  close(arr(logMeanExp(tf.tensor2d([[1, 2, 3]]), 1))[0], Math.log((Math.E + Math.E ** 2 + Math.E ** 3) / 3), 1e-5);
  close(arr(logSumExp(tf.tensor2d([[-Infinity, 0]]), 1))[0], 0, 1e-6);
});

test('bits/dim conversion round-trips and uses ln 2', () => {
  close(natsToBitsPerDim(784 * Math.LN2, 784), 1, 1e-12);
  close(bitsPerDimToNats(natsToBitsPerDim(240, 784), 784), 240, 1e-9);
});

test('Rng: same seed same stream, split is independent, state round-trips', () => {
  const a = new Rng(5);
  const b = new Rng(5);
  const xs = Array.from({ length: 5 }, () => a.nextUint32());
  assert.deepEqual(
    xs,
    Array.from({ length: 5 }, () => b.nextUint32()),
  );
  const st = a.getState();
  const u = a.uniform();
  assert.equal(Rng.fromState(st).uniform(), u);
  assert.notDeepEqual(new Rng(5).split().getState(), new Rng(6).split().getState());
  const r = new Rng(1);
  const m = Array.from({ length: 20000 }, () => r.normal());
  close(m.reduce((s, x) => s + x, 0) / m.length, 0, 0.03, 'normal mean');
});
