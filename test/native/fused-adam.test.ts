// The fused Adam kernel that tf.train.adam uses on the native backend matches the stock update on cpu,
// and leaves the other backends on the original code path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/node/backend.ts';
import { loadNativeAddon } from '../../src/node/native/addon.ts';
import { Adam, FUSED_ADAM_KERNEL } from '../../src/core/train/adam.ts';

const load = loadNativeAddon();
if (!load.addon && process.env.DEEPGEN_REQUIRE_NATIVE === '1')
  throw new Error(`DEEPGEN_REQUIRE_NATIVE=1 but ${load.reason}`);

/** Five Adam steps of a small least-squares problem on `backend`; returns the final weights. */
async function run(backend: string): Promise<number[][]> {
  await initBackend(backend);
  const w = tf.variable(tf.randomNormal([17, 5], 0, 1, 'float32', 3), true, `adam-w-${backend}`);
  const b = tf.variable(tf.zeros([5]), true, `adam-b-${backend}`);
  const x = tf.randomNormal([32, 17], 0, 1, 'float32', 4);
  const y = tf.randomNormal([32, 5], 0, 1, 'float32', 5);
  const opt = tf.train.adam(0.01, 0.8, 0.95, 1e-7);
  for (let i = 0; i < 5; i++)
    tf.dispose(
      opt.minimize(() => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))) as tf.Scalar, true, [w, b]) ?? [],
    );
  const out = [Array.from(w.dataSync()), Array.from(b.dataSync())];
  const before = tf.memory().numTensors;
  tf.dispose(
    opt.minimize(() => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))) as tf.Scalar, true, [w, b]) ?? [],
  );
  assert.equal(tf.memory().numTensors, before, `${backend}: Adam step leaked tensors`);
  tf.dispose([w, b, x, y]);
  opt.dispose();
  return out;
}

test(
  'tf.train.adam on native (fused kernel) equals cpu to float tolerance',
  { skip: load.addon ? false : `native addon unavailable: ${load.reason}` },
  async () => {
    const cpu = await run('cpu');
    const nat = await run('native');
    for (let k = 0; k < cpu.length; k++)
      for (let i = 0; i < cpu[k].length; i++)
        assert.ok(Math.abs(cpu[k][i] - nat[k][i]) < 1e-5, `param ${k}[${i}]: ${cpu[k][i]} vs ${nat[k][i]}`);
    // the update did move the weights (the comparison can fail)
    await initBackend('cpu');
    const w0 = Array.from(tf.randomNormal([17, 5], 0, 1, 'float32', 3).dataSync());
    assert.ok(cpu[0].some((v, i) => Math.abs(v - w0[i]) > 1e-3));
  },
);

/** Five steps of the project's own Adam (with weight decay) on `backend`; the fused kernel serves on native. */
async function runOwn(backend: string): Promise<number[]> {
  await initBackend(backend);
  const w = tf.variable(tf.randomNormal([17, 5], 0, 1, 'float32', 3), true, `own-adam-w-${backend}`);
  const x = tf.randomNormal([32, 17], 0, 1, 'float32', 4);
  const opt = new Adam({ beta1: 0.8, beta2: 0.95, eps: 1e-7, weightDecay: 0.1 });
  for (let i = 0; i < 5; i++) {
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.matMul(x, w))) as tf.Scalar, [w]);
    const before = tf.memory().numTensors;
    opt.apply({ w }, { w: grads[w.name] }, 0.05);
    if (i > 0) assert.equal(tf.memory().numTensors, before, `${backend}: Adam.apply leaked tensors`); // step 1 creates m and v
    tf.dispose(Object.values(grads));
  }
  const out = Array.from(w.dataSync());
  opt.dispose();
  tf.dispose([w, x]);
  return out;
}

test(
  "the trainer's Adam (weight decay) uses the fused kernel on native and equals cpu",
  { skip: load.addon ? false : `native addon unavailable: ${load.reason}` },
  async () => {
    await initBackend('native');
    assert.ok(tf.getKernel(FUSED_ADAM_KERNEL, 'native'), 'fused kernel registered on native');
    const cpu = await runOwn('cpu');
    const nat = await runOwn('native');
    for (let i = 0; i < cpu.length; i++) assert.ok(Math.abs(cpu[i] - nat[i]) < 1e-5, `w[${i}]: ${cpu[i]} vs ${nat[i]}`);
    await initBackend('cpu');
    const w0 = Array.from(tf.randomNormal([17, 5], 0, 1, 'float32', 3).dataSync());
    assert.ok(
      cpu.some((v, i) => Math.abs(v - w0[i]) > 1e-3),
      'the weights moved',
    );
  },
);
