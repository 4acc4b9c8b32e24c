// VAE bounds: the IWAE bound with k=1 is the one-sample ELBO estimate, and it rises with k.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { VaeModel } from '../../src/core/families/vae/index.ts';
import { vaeModelSchema } from '../../src/core/families/vae/config.ts';
import { iwaeBound, logPxGivenZ, reparameterise, elboTerms } from '../../src/core/families/vae/loss.ts';
import { gaussianKlStandard, gaussianLogLik, standardNormalLogPdf } from '../../src/core/math/distributions.ts';

const info = { height: 4, width: 4, channels: 1, numClasses: 0 };

function model(over: Record<string, unknown> = {}) {
  return new VaeModel(vaeModelSchema.parse({ hidden: [16], latent: 3, ...over }), info, true, 11);
}

function data(B: number, seed = 3): tf.Tensor4D {
  return tf.cast(tf.greater(tf.randomUniform([B, 4, 4, 1], 0, 1, 'float32', seed), 0.5), 'float32') as tf.Tensor4D;
}

test('IWAE k=1 equals log p(x|z) + log p(z) - log q(z|x) with the same z (the one-sample ELBO estimate)', () => {
  const m = model();
  const x = data(5);
  const seed = 1234;
  const l1 = iwaeBound(m.nets, x, null, 1, seed, 1).dataSync();
  const manual = tf.tidy(() => {
    const { mu, logVar } = m.nets.encode(x, null);
    const z = reparameterise(mu, logVar, seed); // same seed and shape [1*B, L] as the k=1 chunk
    const logW = tf.sub(
      tf.add(logPxGivenZ(m.nets, x, m.nets.decode(z, null)), standardNormalLogPdf(z)),
      gaussianLogLik(z, mu, logVar),
    );
    return logW.dataSync();
  });
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(l1[i] - manual[i]) < 1e-3, `${l1[i]} vs ${manual[i]}`);
  m.dispose();
});

test('IWAE k=1 averages to the analytic-KL ELBO', () => {
  const m = model();
  const x = data(4);
  const reps = 400;
  let iw = 0;
  let el = 0;
  for (let r = 0; r < reps; r++) {
    iw += tf.tidy(() => tf.mean(iwaeBound(m.nets, x, null, 1, 100 + r)).dataSync()[0]);
    el += tf.tidy(() => {
      const t = elboTerms(m.nets, x, null, 5000 + r);
      return -tf.mean(tf.add(t.recon, t.kl)).dataSync()[0];
    });
  }
  assert.ok(Math.abs(iw / reps - el / reps) < 0.25, `mean IWAE_1 ${iw / reps} vs mean ELBO ${el / reps}`);
  m.dispose();
});

test('the IWAE bound rises with k (L_1 <= L_10 <= L_100, averaged)', () => {
  const m = model();
  const x = data(16);
  const L = (k: number) => {
    let s = 0;
    for (let r = 0; r < 5; r++)
      s += tf.tidy(() => tf.mean(iwaeBound(m.nets, x, null, k, 77 + r * 13, 25)).dataSync()[0]);
    return s / 5;
  };
  const l1 = L(1);
  const l10 = L(10);
  const l100 = L(100);
  assert.ok(l1 < l10 && l10 < l100, `L1 ${l1}, L10 ${l10}, L100 ${l100}`);
  m.dispose();
});

test('training loss = recon + beta * KL, with recon the hand-computed cross-entropy', () => {
  const m = model({ beta: 2.5 });
  const x = data(3);
  const seed = 99;
  const { loss, terms } = m.loss(x, null, seed);
  const [l, rc, kl] = [loss, terms.recon, (terms as Record<string, tf.Scalar>).kl].map((t) => t.dataSync()[0]);
  assert.ok(Math.abs(l - (rc + 2.5 * kl)) < 1e-3);
  const hand = tf.tidy(() => {
    const { mu, logVar } = m.nets.encode(x, null);
    const z = reparameterise(mu, logVar, seed);
    const logits = m.nets.decode(z, null).dataSync();
    const xs = x.dataSync();
    let ce = 0;
    for (let i = 0; i < xs.length; i++) {
      const p = 1 / (1 + Math.exp(-logits[i]));
      ce -= xs[i] * Math.log(p) + (1 - xs[i]) * Math.log(1 - p);
    }
    return { ce: ce / 3, kl: tf.mean(gaussianKlStandard(mu, logVar)).dataSync()[0] };
  });
  assert.ok(Math.abs(rc - hand.ce) < 1e-3, `recon ${rc} vs ${hand.ce}`);
  assert.ok(Math.abs(kl - hand.kl) < 1e-5);
  m.dispose();
});

test('gaussian decoder: recon is the scaled MSE plus the normaliser', () => {
  const m = new VaeModel(
    vaeModelSchema.parse({ hidden: [8], latent: 2, likelihood: 'gaussian', sigma: 0.5 }),
    info,
    false,
    5,
  );
  const x = tf.randomUniform([2, 4, 4, 1], 0, 1, 'float32', 8) as tf.Tensor4D;
  const rc = m.loss(x, null, 1).terms.recon.dataSync()[0];
  const mean = tf.tidy(() => m.nets.mean(m.nets.decode(m.nets.encode(x, null).mu, null)).dataSync());
  const xs = x.dataSync();
  let sse = 0;
  for (let i = 0; i < xs.length; i++) sse += (xs[i] - mean[i]) ** 2;
  const expect = (sse / (2 * 0.25) + 16 * 2 * (0.5 * Math.log(2 * Math.PI) + Math.log(0.5))) / 2;
  assert.ok(Math.abs(rc - expect) < 1e-3, `${rc} vs ${expect}`);
  m.dispose();
});
