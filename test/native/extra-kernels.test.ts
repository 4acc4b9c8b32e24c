// The kernels the native backend adds beyond matmul/conv, against the cpu backend: group norm (+ SiLU) and its
// gradient (the addon's, vs composed tfjs ops), the nearest-neighbour resize gradient, float one-hot (wrong on
// tfjs-backend-wasm 4.22), zero-copy clone.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/node/backend.ts';
import { loadNativeAddon } from '../../src/node/native/addon.ts';
import { groupNorm, groupNormOps } from '../../src/core/nn/group-norm.ts';
import { compareWithCpu, inputs } from './compare.ts';

const load = loadNativeAddon();
if (!load.addon && process.env.DEEPGEN_REQUIRE_NATIVE === '1')
  throw new Error(`DEEPGEN_REQUIRE_NATIVE=1 but ${load.reason}`);
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
  return tf
    .tidy(() => fn())
    .map((t) => {
      const d = Array.from(t.dataSync());
      t.dispose();
      return d;
    });
}

describe('native extra kernels vs cpu', { skip }, () => {
  before(async () => {
    await initBackend('native');
  });

  // The fused kernels (C++, native/src/norm.cc) against the composed tfjs ops on cpu: value and gradients of x, gamma, beta.
  const gnCases: [number[], number][] = [
    [[1, 5, 3, 32], 8],
    [[5, 7, 9, 6], 3],
    [[5, 28, 28, 32], 8],
    [[5, 1, 1, 16], 4],
    [[3, 13, 11, 64], 32],
    [[2, 4, 4, 5], 1],
  ];
  for (const [shape, groups] of gnCases) {
    for (const act of [false, true]) {
      test(`group norm ${shape.join('x')}, ${groups} groups${act ? ', SiLU' : ''}: value and gradients`, async () => {
        assert.ok(
          tf.getKernel('DeepgenGroupNorm', 'native') && tf.getKernel('DeepgenGroupNormGrad', 'native'),
          'kernels registered',
        );
        const C = shape[3];
        const ins = inputs(
          { x: shape, g: [C], b: [C], dy: shape },
          shape.reduce((a, b) => a + b, groups),
        );
        const run = (gn: typeof groupNorm) => (t: Record<string, tf.Tensor>) => {
          const x = tf.add(tf.mul(t.x, 2), 0.5) as tf.Tensor4D; // mean 0.5, so centring matters
          const g = tf.add(tf.mul(t.g, 0.5), 1),
            b = tf.mul(t.b, 0.5);
          const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
            tf.sum(tf.mul(gn(xx as tf.Tensor4D, gg, bb, act, groups), t.dy));
          return [gn(x, g, b, act, groups), ...tf.grads(f)([x, g, b])];
        };
        await compareWithCpu(`group norm ${shape}`, ins, run(groupNorm), 2e-5, run(groupNormOps));
      });
    }
  }

  // gamma and beta per image [B, C] (AdaGN's scale and shift folded into the norm): value and gradients of all three
  for (const [shape, groups] of [
    [[3, 5, 4, 16], 4],
    [[4, 8, 8, 32], 8],
    [[1, 3, 3, 8], 2],
  ] as [number[], number][]) {
    test(`group norm ${shape.join('x')} with per-image gamma and beta [B, C], SiLU: value and gradients`, async () => {
      const [B, , , C] = shape;
      const ins = inputs(
        { x: shape, g: [B, C], b: [B, C], dy: shape },
        shape.reduce((a, b) => a + b, 7 * groups),
      );
      const run = (gn: typeof groupNorm) => (t: Record<string, tf.Tensor>) => {
        const x = tf.add(tf.mul(t.x, 2), 0.5) as tf.Tensor4D;
        const g = tf.add(tf.mul(t.g, 0.5), 1),
          b = tf.mul(t.b, 0.5);
        const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(gn(xx as tf.Tensor4D, gg, bb, true, groups), t.dy));
        return [gn(x, g, b, true, groups), ...tf.grads(f)([x, g, b])];
      };
      await compareWithCpu(`group norm per image ${shape}`, ins, run(groupNorm), 2e-5, run(groupNormOps));
    });
  }

  test('fused group norm with its gradient leaves no tensors behind', async () => {
    await initBackend('native');
    const x = tf.randomNormal([2, 6, 6, 16], 0, 1, 'float32', 31) as tf.Tensor4D;
    const g = tf.variable(tf.ones([16])),
      b = tf.variable(tf.zeros([16]));
    const step = () => {
      const y = groupNorm(x, g, b, true, 4);
      const grads = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(groupNorm(xx as tf.Tensor4D, gg, bb, true, 4)),
      )([x, g, b]);
      tf.dispose([y, ...grads]);
      const { value, grads: vg } = tf.variableGrads(() => tf.sum(groupNorm(x, g, b, false, 4)) as tf.Scalar, [g, b]);
      tf.dispose([value, ...Object.values(vg)]);
    };
    step();
    const before = tf.memory().numTensors,
      ids = tf.backend().numDataIds();
    for (let i = 0; i < 5; i++) step();
    assert.equal(tf.memory().numTensors, before, 'tensor count grew');
    assert.equal(tf.backend().numDataIds(), ids, 'backend data grew');
    tf.dispose([x, g, b]);
  });

  test('group norm addon calls with wrong sizes throw', () => {
    const a = load.addon!;
    const f = (n: number) => new Float32Array(n);
    // B=2, P=3, C=4, 2 groups: x/y 24, gamma/beta 4, mean/rstd 4
    assert.doesNotThrow(() => a.groupNorm(f(24), f(4), f(4), f(24), f(4), f(4), 2, 3, 4, 2, 1e-5, true));
    assert.throws(() => a.groupNorm(f(24), f(4), f(4), f(23), f(4), f(4), 2, 3, 4, 2, 1e-5, true), /too small/);
    assert.throws(() => a.groupNorm(f(24), f(4), f(4), f(24), f(3), f(4), 2, 3, 4, 2, 1e-5, false), /too small/);
    assert.throws(() => a.groupNorm(f(24), f(4), f(4), f(24), f(4), f(4), 2, 3, 4, 3, 1e-5, false), /groups/);
    assert.throws(() => a.groupNorm(f(24), f(4), f(4), f(24), f(4), f(4), 2, 3, 4, 0, 1e-5, false), /groups/);
    assert.throws(
      () =>
        a.groupNorm(
          f(24),
          f(4),
          new Int32Array(4) as unknown as Float32Array,
          f(24),
          f(4),
          f(4),
          2,
          3,
          4,
          2,
          1e-5,
          false,
        ),
      /Float32Array/,
    );
    // per-image gamma/beta: B * C = 8 elements; other lengths, or gamma and beta of different lengths, are errors
    assert.doesNotThrow(() => a.groupNorm(f(24), f(8), f(8), f(24), f(4), f(4), 2, 3, 4, 2, 1e-5, true));
    assert.throws(() => a.groupNorm(f(24), f(6), f(6), f(24), f(4), f(4), 2, 3, 4, 2, 1e-5, true), /C or B \* C/);
    assert.throws(() => a.groupNorm(f(24), f(8), f(4), f(24), f(4), f(4), 2, 3, 4, 2, 1e-5, true), /same length/);
    assert.doesNotThrow(() =>
      a.groupNormGrad(f(24), f(24), f(8), f(8), f(4), f(4), f(24), f(8), f(8), 2, 3, 4, 2, true),
    );
    assert.throws(
      () => a.groupNormGrad(f(24), f(24), f(8), f(8), f(4), f(4), f(24), f(4), f(8), 2, 3, 4, 2, true),
      /dgamma is too small/,
    );
    assert.doesNotThrow(() =>
      a.groupNormGrad(f(24), f(24), f(4), f(4), f(4), f(4), f(24), f(4), f(4), 2, 3, 4, 2, true),
    );
    assert.throws(
      () => a.groupNormGrad(f(24), f(24), f(4), f(4), f(4), f(4), f(24), f(3), f(4), 2, 3, 4, 2, true),
      /dgamma is too small/,
    );
    assert.throws(
      () => a.groupNormGrad(f(24), f(20), f(4), f(4), f(4), f(4), f(24), f(4), f(4), 2, 3, 4, 2, false),
      /x is too small/,
    );
    assert.throws(
      () => a.groupNormGrad(f(24), f(24), f(4), f(4), f(4), f(4), f(24), f(4), f(4), -2, 3, 4, 2, false),
      /non-negative/,
    );
  });

  test('nearest-neighbour x2 upsampling gradient equals the 2x2 block sums of dy (batch 2, 4 channels)', async () => {
    // compared with a direct computation: tfjs-backend-cpu 4.22's ResizeNearestNeighborGrad is wrong for batch > 1
    const [g, dyv] = await on('native', () => {
      const x = tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 21) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 6, 10, 4], 0, 1, 'float32', 22);
      const f = (xx: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(xx as tf.Tensor4D, [6, 10]), dy));
      return [tf.grad(f)(x), dy];
    });
    const t = new Array(120).fill(0);
    for (let b = 0; b < 2; b++)
      for (let y = 0; y < 6; y++)
        for (let x = 0; x < 10; x++)
          for (let c = 0; c < 4; c++)
            t[((b * 3 + (y >> 1)) * 5 + (x >> 1)) * 4 + c] += dyv[((b * 6 + y) * 10 + x) * 4 + c];
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
    assert.deepEqual(
      Array.from(c.dataSync()),
      [1, 2, 3],
      'assigning a variable made from a clone leaves the clone alone',
    );
    tf.dispose([c, d, v]);
  });
});
