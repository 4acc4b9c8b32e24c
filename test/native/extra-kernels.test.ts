// The kernels the native backend adds beyond matmul/conv, against the cpu backend: group norm (+ SiLU) and its
// gradient, the nearest-neighbour resize gradient, float one-hot (wrong on tfjs-backend-wasm 4.22), zero-copy clone.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/node/backend.ts';
import { loadNativeAddon } from '../../src/node/native/addon.ts';
import { groupNorm, groupNormOps } from '../../bench/models-unet-pixelcnn.ts';

const load = loadNativeAddon();
if (!load.addon && process.env.DEEPGEN_REQUIRE_NATIVE === '1') throw new Error(`DEEPGEN_REQUIRE_NATIVE=1 but ${load.reason}`);
const skip = load.addon ? false : `native addon unavailable: ${load.reason}`;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs fn on a backend and returns plain arrays. */
async function on(backend: string, fn: () => tf.Tensor[]): Promise<number[][]> {
  await initBackend(backend);
  return tf.tidy(() => fn()).map((t) => {
    const d = Array.from(t.dataSync());
    t.dispose();
    return d;
  });
}

describe('native extra kernels vs cpu', { skip }, () => {
  before(async () => {
    await initBackend('native');
  });

  for (const act of [false, true]) {
    test(`group norm (8 groups${act ? ', SiLU' : ''}): value and gradients`, async () => {
      const run = (useKernel: boolean) => () => {
        const x = tf.randomNormal([3, 5, 4, 16], 0.5, 2, 'float32', 11) as tf.Tensor4D;
        const g = tf.variable(tf.randomNormal([16], 1, 0.3, 'float32', 12));
        const b = tf.variable(tf.randomNormal([16], 0, 0.3, 'float32', 13));
        const dy = tf.randomNormal([3, 5, 4, 16], 0, 1, 'float32', 14);
        const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(useKernel ? groupNorm(xx as tf.Tensor4D, gg as tf.Variable, bb as tf.Variable, act) : groupNormOps(xx as tf.Tensor4D, gg as tf.Variable, bb as tf.Variable, act), dy));
        const y = useKernel ? groupNorm(x, g, b, act) : groupNormOps(x, g, b, act);
        const grads = tf.grads(f)([x, g, b]);
        const out = [y, ...grads];
        g.dispose();
        b.dispose();
        return out;
      };
      const ref = await on('cpu', run(false));
      const nat = await on('native', run(true));
      assert.ok(tf.getKernel('DeepgenGroupNorm', 'native'), 'kernel registered');
      for (let i = 0; i < ref.length; i++) assert.ok(maxAbs(ref[i], nat[i]) < 2e-4, `output ${i} differs by ${maxAbs(ref[i], nat[i])}`);
    });
  }

  test('nearest-neighbour x2 upsampling gradient equals the 2x2 block sums of dy (batch 2, 4 channels)', async () => {
    // compared with a direct computation: tfjs-backend-cpu 4.22's ResizeNearestNeighborGrad is wrong for batch > 1
    const [g, dyv] = await on('native', () => {
      const x = tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 21) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 6, 10, 4], 0, 1, 'float32', 22);
      const f = (xx: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(xx as tf.Tensor4D, [6, 10]), dy));
      return [tf.grad(f)(x), dy];
    });
    const t = new Array(120).fill(0);
    for (let b = 0; b < 2; b++) for (let y = 0; y < 6; y++) for (let x = 0; x < 10; x++) for (let c = 0; c < 4; c++) t[((b * 3 + (y >> 1)) * 5 + (x >> 1)) * 4 + c] += dyv[((b * 6 + y) * 10 + x) * 4 + c];
    assert.ok(maxAbs(g, t) < 1e-5, `differs by ${maxAbs(g, t)}`);
  });

  test('float32 one-hot is 0/1 (tfjs-backend-wasm 4.22 writes int32 bit patterns)', async () => {
    const run = () => [tf.oneHot(tf.tensor1d([0, 3, 2], 'int32'), 4, 1, 0, 'float32')];
    const nat = await on('native', run);
    assert.deepEqual(nat[0], [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0]);
  });

  test('clone and same-dtype cast share data but stay independent tensors', async () => {
    await initBackend('native');
    const a = tf.tensor1d([1, 2, 3]);
    const c = tf.clone(a);
    const d = tf.cast(a, 'float32');
    a.dispose();
    assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3]);
    assert.deepEqual(Array.from(d.dataSync()), [1, 2, 3]);
    const v = tf.variable(c);
    v.assign(tf.tensor1d([7, 8, 9]));
    assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3], 'assigning a variable made from a clone leaves the clone alone');
    tf.dispose([c, d, v]);
  });
});
