// The native backend's Concat, SplitV and Slice (addon.copyStrided) against the cpu backend: axes, ranks, sizes
// (zero-size and size-1 dimensions), float32 and int32, the gradient of tf.concat, and the addon's argument checks.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/node/backend.ts';
import { loadNativeAddon } from '../../src/node/native/addon.ts';
import { compareWithCpu, inputs } from './compare.ts';

const load = loadNativeAddon();
if (!load.addon && process.env.DEEPGEN_REQUIRE_NATIVE === '1')
  throw new Error(`DEEPGEN_REQUIRE_NATIVE=1 but ${load.reason}`);
const skip = load.addon ? false : `native addon unavailable: ${load.reason}`;

type Dtype = 'float32' | 'int32';
/** Inputs as the dtype under test (int32: values in [-1000, 1000)). */
const as = (t: tf.Tensor, dtype: Dtype) => (dtype === 'int32' ? tf.cast(tf.mul(t, 1000), 'int32') : t);

describe('native copy kernels vs cpu', { skip }, () => {
  before(async () => {
    await initBackend('native');
    await initBackend('cpu');
  });

  test('the native backend overrides Concat, SplitV and Slice', () => {
    for (const name of ['Concat', 'SplitV', 'Slice']) {
      assert.notEqual(tf.getKernel(name, 'native')?.kernelFunc, tf.getKernel(name, 'wasm')?.kernelFunc, name);
    }
  });

  const concatCases: [number[][], number][] = [
    [[[5], [3], [1]], 0],
    [
      [
        [2, 3],
        [2, 4],
      ],
      1,
    ],
    [
      [
        [2, 3],
        [1, 3],
        [4, 3],
      ],
      0,
    ],
    [
      [
        [2, 3],
        [2, 3],
      ],
      -1,
    ],
    [
      [
        [3, 1, 4],
        [3, 2, 4],
        [3, 0, 4],
      ],
      1,
    ],
    [
      [
        [2, 3, 4, 5],
        [2, 3, 4, 1],
      ],
      3,
    ],
    [
      [
        [2, 3, 4, 5],
        [2, 1, 4, 5],
      ],
      1,
    ],
    [
      [
        [1, 7, 1, 6],
        [1, 7, 1, 6],
        [1, 7, 1, 6],
      ],
      2,
    ],
    [
      [
        [2, 2, 3, 2, 3],
        [2, 2, 1, 2, 3],
      ],
      2,
    ],
    [
      [
        [0, 4],
        [0, 4],
      ],
      1,
    ],
    [
      [
        [3, 0],
        [3, 5],
      ],
      1,
    ],
    [
      [
        [4, 0],
        [4, 0],
      ],
      1,
    ],
    [[[6, 2]], 1],
    [
      [
        [8, 512, 256],
        [8, 512, 256],
      ],
      2,
    ], // large enough for several threads
  ];
  for (const dtype of ['float32', 'int32'] as Dtype[]) {
    for (const [shapes, axis] of concatCases) {
      test(`Concat ${dtype} ${shapes.map((s) => s.join('x')).join(' + ')} on axis ${axis}`, async () => {
        const ins = inputs(Object.fromEntries(shapes.map((s, i) => [`t${i}`, s])), 3);
        await compareWithCpu(
          'concat',
          ins,
          (t) =>
            tf.concat(
              shapes.map((_, i) => as(t[`t${i}`], dtype)),
              axis,
            ),
          0,
        );
      });
    }

    const splitCases: [number[], number[] | number, number][] = [
      [[10], [3, 7], 0],
      [[10], 5, 0],
      [[4, 6], [1, 2, 3], 1],
      [[4, 6], [2, -1], 0],
      [[3, 5, 4], [2, 0, 3], 1],
      [[2, 3, 4, 6], [1, 5], 3],
      [[2, 3, 4, 6], 2, 0],
      [[1, 3, 1, 6, 2], [1, 1, 1], 1],
      [[2, 0, 3], [0, 0], 1],
      [[256, 64, 64], [32, 32], 1],
    ];
    for (const [shape, splits, axis] of splitCases) {
      test(`SplitV ${dtype} ${shape.join('x')} into ${JSON.stringify(splits)} on axis ${axis}`, async () => {
        await compareWithCpu('split', inputs({ x: shape }, 5), (t) => tf.split(as(t.x, dtype), splits, axis), 0);
      });
    }

    const sliceCases: [number[], number[], number[]][] = [
      [[10], [2], [5]],
      [[10], [0], [-1]],
      [
        [4, 6],
        [1, 2],
        [2, 3],
      ],
      [
        [4, 6],
        [1, 0],
        [2, 6],
      ], // contiguous
      [
        [4, 6],
        [0, 0],
        [4, 6],
      ],
      [
        [3, 5, 4],
        [1, 1, 1],
        [2, 3, 2],
      ],
      [
        [3, 5, 4],
        [0, 2, 0],
        [3, 0, 4],
      ],
      [
        [16, 28, 28, 16],
        [0, 13, 5, 0],
        [16, 1, 1, 16],
      ], // the PixelCNN sampler's slice (fewer channels)
      [
        [2, 3, 4, 5, 6],
        [1, 0, 2, 1, 3],
        [1, 3, 2, 3, 2],
      ],
      [
        [2, 3, 1, 4, 5, 2],
        [0, 1, 0, 1, 2, 0],
        [2, 2, 1, 3, 2, 2],
      ],
      [
        [2, 3, 1, 4, 5, 2],
        [1, 0, 0, 0, 0, 0],
        [1, -1, -1, -1, -1, -1],
      ],
      [
        [1, 1, 1],
        [0, 0, 0],
        [1, 1, 1],
      ],
      [
        [64, 128, 96],
        [3, 10, 7],
        [60, 100, 80],
      ],
    ];
    for (const [shape, begin, size] of sliceCases) {
      test(`Slice ${dtype} ${shape.join('x')} at [${begin}] size [${size}]`, async () => {
        await compareWithCpu('slice', inputs({ x: shape }, 7), (t) => tf.slice(as(t.x, dtype), begin, size), 0);
      });
    }
  }

  test('Slice and Concat of one-element tensors', async () => {
    await compareWithCpu('slice 1-element', inputs({ x: [1] }, 9), (t) => tf.slice(t.x, [0], [1]), 0);
    await compareWithCpu('concat 1-element', inputs({ a: [1], b: [1] }, 9), (t) => tf.concat([t.a, t.b]), 0);
  });

  for (const axis of [0, 1, 3]) {
    test(`gradient of tf.concat on axis ${axis} (SplitV of dy)`, async () => {
      const ins = inputs(
        { a: [2, 3, 4, 5], b: [2, 3, 4, 5], dy: axis === 0 ? [4, 3, 4, 5] : axis === 1 ? [2, 6, 4, 5] : [2, 3, 4, 10] },
        11,
      );
      await compareWithCpu(
        'concat grad',
        ins,
        (t) =>
          tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.concat([tf.mul(a, a), b], axis), t.dy)))([
            t.a,
            t.b,
          ]),
        1e-6,
      );
    });
  }

  test('a Concat whose only non-empty input is shared stays valid after the input is disposed', async () => {
    await initBackend('native');
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2]),
      e = tf.zeros([2, 0]);
    const c = tf.concat([e, a], 1);
    a.dispose();
    assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3, 4]);
    tf.dispose([c, e]);
  });

  test('other dtypes fall back to the wasm kernels', async () => {
    await initBackend('native');
    const b = tf.tensor1d([true, false, true], 'bool');
    const c = tf.concat([b, tf.tensor1d([false], 'bool')]);
    assert.deepEqual(Array.from(c.dataSync()), [1, 0, 1, 0]);
    assert.deepEqual(Array.from(tf.slice(b, [1], [2]).dataSync()), [0, 1]);
    tf.dispose([b, c]);
  });

  test('copyStrided checks its arguments', () => {
    const a = load.addon!;
    const src = new Float32Array([1, 2, 3, 4, 5, 6]),
      dst = new Float32Array(4);
    a.copyStrided(src, 1, dst, 0, [2, 2], [3, 1], [2, 1]);
    assert.deepEqual(Array.from(dst), [2, 3, 5, 6]);
    const ints = new Int32Array(4);
    a.copyStrided(new Int32Array([7, 8, 9, 10]), 0, ints, 0, [2, 2], [1, 2], [2, 1]); // a transpose (non-unit strides)
    assert.deepEqual(Array.from(ints), [7, 9, 8, 10]);
    assert.throws(() => a.copyStrided(src, 2, dst, 0, [2, 2], [3, 1], [2, 1]), /src is too small/);
    assert.throws(() => a.copyStrided(src, 0, dst, 1, [2, 2], [3, 1], [2, 1]), /dst is too small/);
    assert.throws(() => a.copyStrided(src, 0, dst, 0, [2, 2], [3], [2, 1]), /array/);
    assert.throws(
      () => a.copyStrided(src, 0, dst, 0, [1, 1, 1, 1, 1, 1, 1, 1, 1], new Array(9).fill(1), new Array(9).fill(1)),
      /rank/,
    );
    assert.throws(
      () => a.copyStrided(src, 0, new Float64Array(4) as unknown as Float32Array, 0, [2], [1], [1]),
      /Float32Array/,
    );
    assert.throws(() => a.copyStrided(src, -1, dst, 0, [2], [1], [1]), /non-negative/);
    a.copyStrided(src, 6, dst, 9, [0, 3], [1, 1], [1, 1]); // zero-size: nothing to check or copy
  });
});
