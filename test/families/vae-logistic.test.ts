// The VAE's discretized logistic decoder: its 256 bin probabilities sum to 1, it matches the logistic CDF by hand,
// it trains (finite gradients, falling loss) on k/255 data, and the config gets scale01 preprocessing by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { discretizedLogisticLogLik } from '../../src/core/math/distributions.ts';
import { VaeModel } from '../../src/core/families/vae/index.ts';
import { vaeModelSchema } from '../../src/core/families/vae/config.ts';
import { vaeLoss } from '../../src/core/families/vae/loss.ts';
import { resolveRunConfig } from '../../src/node/run-config.ts';

const sigmoid = (a: number) => 1 / (1 + Math.exp(-a));

test('the 256 bin probabilities of the discretized logistic sum to 1, for centred, edge, outside and sharp mu/s', () => {
  const ks = Array.from({ length: 256 }, (_, k) => k / 255);
  for (const [mu, logS] of [
    [0.5, -3],
    [0, -4],
    [1, -2],
    [-0.2, -1],
    [1.3, -5],
    [0.37, -7],
    [0.37, -9],
    [0.6, 1],
  ]) {
    const x = tf.tensor2d(ks, [256, 1]);
    const lp = discretizedLogisticLogLik(x, tf.fill([256, 1], mu), tf.fill([256, 1], logS));
    const total = Array.from(lp.dataSync()).reduce((a, v) => a + Math.exp(v), 0);
    assert.ok(Math.abs(total - 1) < 2e-3, `mu ${mu} log s ${logS}: sum ${total}`);
    tf.dispose([x, lp]);
  }
});

test('a bin probability equals the logistic CDF difference computed by hand, edge bins take the tails', () => {
  const mu = 0.42,
    s = Math.exp(-3),
    h = 1 / 510;
  const cdf = (v: number) => sigmoid((v - mu) / s);
  for (const k of [0, 1, 100, 107, 254, 255]) {
    const x = k / 255;
    const want = k === 0 ? cdf(x + h) : k === 255 ? 1 - cdf(x - h) : cdf(x + h) - cdf(x - h);
    const got = Math.exp(
      discretizedLogisticLogLik(tf.tensor2d([[x]]), tf.tensor2d([[mu]]), tf.tensor2d([[-3]])).dataSync()[0],
    );
    assert.ok(Math.abs(got - want) < 1e-5 + 1e-3 * want, `k ${k}: ${got} vs ${want}`);
  }
});

test('a logistic-decoder VAE trains on k/255 data: finite gradients, falling loss, mean images in [0, 1], no leak', () => {
  const info = { height: 4, width: 4, channels: 1, numClasses: 0 };
  const m = new VaeModel(vaeModelSchema.parse({ hidden: [16], latent: 3, likelihood: 'logistic' }), info, true, 5);
  // two 8-bit patterns, as k/255
  const x = tf.tidy(() =>
    tf.div(
      tf.round(
        tf.mul(
          tf.tile(
            tf.tensor4d([0, 255, 128, 30, 255, 0, 64, 200, 12, 99, 250, 3, 77, 180, 0, 255], [1, 4, 4, 1]),
            [8, 1, 1, 1],
          ),
          1,
        ),
      ),
      255,
    ),
  ) as tf.Tensor4D;
  const opt = tf.train.adam(3e-3);
  const vars = Object.values(m.params.vars);
  const losses: number[] = [];
  let after10 = 0;
  for (let i = 0; i < 150; i++) {
    const l = opt.minimize(() => vaeLoss(m.nets, x, null, i + 1, 1).loss, true, vars)!;
    losses.push(l.dataSync()[0]);
    l.dispose();
    if (i === 9) after10 = tf.memory().numTensors; // Adam's moments exist from step 1 on
  }
  assert.equal(tf.memory().numTensors, after10, 'tensors grow across steps');
  assert.ok(losses.every(Number.isFinite), 'non-finite loss');
  const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10,
    last = losses.slice(-10).reduce((a, b) => a + b) / 10;
  assert.ok(last < first - 10, `loss did not fall: ${first} -> ${last}`);
  const mean = m.sample(4, 1);
  const v = Array.from(mean.dataSync());
  assert.deepEqual(mean.shape, [4, 4, 4, 1]);
  assert.ok(
    v.every((a) => a >= 0 && a <= 1),
    'mean image outside [0, 1]',
  );
  tf.dispose([mean, x]);
  opt.dispose();
  m.dispose();
});

test('--likelihood logistic sets data.preprocess=scale01 unless the user chose one (then train names the conflict)', () => {
  assert.equal(resolveRunConfig('vae', [], []).data.preprocess, 'binarize-dynamic');
  assert.equal(resolveRunConfig('vae', [{ model: { likelihood: 'logistic' } }], []).data.preprocess, 'scale01');
  assert.equal(resolveRunConfig('vae', [], ['model.likelihood=logistic']).data.preprocess, 'scale01');
  assert.equal(
    resolveRunConfig('vae', [{ model: { likelihood: 'logistic' }, data: { preprocess: 'dequantize' } }], []).data
      .preprocess,
    'dequantize',
  );
});
