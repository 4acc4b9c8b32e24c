// The EMA of weights with its warm-up: d_t = min(decay, (1 + t) / (10 + t)), so the first updates follow the weights
// closely (a zero-initialised layer is not averaged with its zeros for thousands of steps).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { initBackend } from '../../src/node/backend.ts';
import { Ema } from '../../src/core/train/ema.ts';

test('EMA warm-up: decay (1 + t) / (10 + t) capped at the configured decay, applied per update', async () => {
  await initBackend('cpu');
  const w = tf.variable(tf.zeros([3]));
  const ema = new Ema(0.999, { w });
  assert.equal(ema.decayAt(1), 2 / 11);
  assert.equal(ema.decayAt(100), 101 / 110);
  assert.equal(ema.decayAt(1e6), 0.999);
  // weights jump to 1 and stay: shadow_t = 1 - prod_{s<=t} d_s
  w.assign(tf.ones([3]));
  let prod = 1;
  for (let t = 1; t <= 50; t++) {
    ema.update({ w }, t);
    prod *= ema.decayAt(t);
  }
  const got = ema.shadow.w.dataSync();
  for (const v of got) assert.ok(Math.abs(v - (1 - prod)) < 1e-5, `${v} vs ${1 - prod}`);
  assert.ok(got[0] > 0.95, 'after 50 updates the average has nearly forgotten the zeros');
  ema.dispose();
  w.dispose();
});
