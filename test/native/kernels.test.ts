// Every native kernel against the cpu backend on seeded random inputs: matmul (all transposes, batch broadcasting,
// fused bias + activations), conv2d (strides, paddings, dilation, odd sizes), conv2dTranspose, and the gradients.
// DEEPGEN_REQUIRE_NATIVE=1 (CI) turns a missing addon into a failure instead of a skip.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/node/backend.ts';
import { loadNativeAddon } from '../../src/node/native/addon.ts';
import { assertClose, compareWithCpu, inputs, randomArray } from './compare.ts';

const load = loadNativeAddon();
if (!load.addon && process.env.DEEPGEN_REQUIRE_NATIVE === '1')
  throw new Error(`DEEPGEN_REQUIRE_NATIVE=1 but ${load.reason}`);
const skip = load.addon ? false : `native addon unavailable: ${load.reason}`;

describe('native backend kernels vs cpu', { skip }, () => {
  before(async () => {
    assert.equal(await initBackend('native'), 'native');
    await initBackend('cpu');
  });

  test('addon info names the BLAS, threads and SIMD level', () => {
    const info = load.addon!.info();
    assert.ok(info.blas.length > 0 && info.threads >= 1 && info.simd.length > 0, JSON.stringify(info));
  });

  test('sgemm (BLAS and built-in) with transposes, leading dimensions, alpha and beta', () => {
    const addon = load.addon!;
    for (const [M, N, K] of [
      [7, 5, 3],
      [33, 70, 129],
      [130, 17, 300],
    ]) {
      for (const tA of [false, true])
        for (const tB of [false, true]) {
          const lda = (tA ? M : K) + 3,
            ldb = (tB ? K : N) + 1,
            ldc = N + 2;
          const A = randomArray((tA ? K : M) * lda, 1),
            B = randomArray((tB ? N : K) * ldb, 2),
            C0 = randomArray(M * ldc, 3);
          const ref = C0.slice();
          for (let i = 0; i < M; i++)
            for (let j = 0; j < N; j++) {
              let s = 0;
              for (let k = 0; k < K; k++)
                s += (tA ? A[k * lda + i] : A[i * lda + k]) * (tB ? B[j * ldb + k] : B[k * ldb + j]);
              ref[i * ldc + j] = 0.5 * s + 0.25 * C0[i * ldc + j];
            }
          for (const builtin of [false, true]) {
            const C = C0.slice();
            addon.sgemm(tA, tB, M, N, K, 0.5, A, lda, B, ldb, 0.25, C, ldc, builtin);
            assertClose(
              [{ shape: [C.length], values: C }],
              [{ shape: [ref.length], values: ref }],
              `sgemm ${M}x${N}x${K} tA=${tA} tB=${tB} builtin=${builtin}`,
            );
          }
        }
    }
    assert.throws(
      () =>
        addon.sgemm(
          false,
          false,
          4,
          4,
          4,
          1,
          new Float32Array(15),
          4,
          new Float32Array(16),
          4,
          0,
          new Float32Array(16),
          4,
        ),
      /too small/,
    );
  });

  test('matMul, all transposes, odd and larger sizes', async () => {
    for (const [M, K, N] of [
      [7, 5, 3],
      [64, 130, 33],
      [1, 9, 1],
    ]) {
      for (const tA of [false, true])
        for (const tB of [false, true]) {
          const ins = inputs({ a: tA ? [K, M] : [M, K], b: tB ? [N, K] : [K, N] });
          await compareWithCpu(`matMul ${M}x${K}x${N} ${tA} ${tB}`, ins, (t) => tf.matMul(t.a, t.b, tA, tB));
        }
    }
  });

  test('batched matMul with batch broadcasting', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[4, 7, 5], [4, 5, 3], false, false],
      [[2, 1, 7, 5], [3, 5, 4], false, false],
      [[4, 5, 7], [5, 3], true, false],
      [[1, 7, 5], [3, 2, 5], false, true],
      [[3, 1, 5, 7], [1, 2, 4, 5], true, true],
    ];
    for (const [as, bs, tA, tB] of cases) {
      // Reference: broadcast explicitly first (tfjs cpu/wasm index broadcast batches modulo the flattened batch size,
      // which is wrong for e.g. [2,1] x [3]; native follows numpy semantics).
      const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(as.slice(0, -2), bs.slice(0, -2));
      const reference = (t: Record<string, tf.Tensor>) =>
        tf.matMul(
          tf.broadcastTo(t.a, [...outBatch, ...as.slice(-2)]),
          tf.broadcastTo(t.b, [...outBatch, ...bs.slice(-2)]),
          tA,
          tB,
        );
      await compareWithCpu(
        `batchMatMul ${as} ${bs} ${tA} ${tB}`,
        inputs({ a: as, b: bs }),
        (t) => tf.matMul(t.a, t.b, tA, tB),
        1e-4,
        reference,
      );
    }
  });

  test('fused matMul with bias and every activation', async () => {
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'prelu'] as const) {
      for (const biasShape of [[6], [1], [5, 1]]) {
        const ins = inputs({ a: [5, 9], b: [9, 6], bias: biasShape, alpha: biasShape[0] === 5 ? [5, 1] : [6] });
        // scale so relu6 saturates somewhere
        await compareWithCpu(`fused matMul ${activation} bias ${biasShape}`, ins, (t) =>
          tf.fused.matMul({
            a: tf.mul(t.a, 4),
            b: t.b,
            bias: t.bias,
            activation,
            leakyreluAlpha: 0.1,
            preluActivationWeights: activation === 'prelu' ? t.alpha : undefined,
          }),
        );
      }
    }
    await compareWithCpu('fused matMul transposed, no bias', inputs({ a: [9, 5], b: [6, 9] }), (t) =>
      tf.fused.matMul({ a: t.a, b: t.b, transposeA: true, transposeB: true, activation: 'relu' }),
    );
  });

  test('sum over leading axes (native) and other axes (wasm)', async () => {
    const cases: [number[], number[], boolean][] = [
      [[2, 7, 5, 3], [0, 1, 2], false],
      [[300, 17], [0], true],
      [[600, 7, 33], [0, 1], false],
      [[4, 6], [0, 1], false],
      [[2, 7, 5, 3], [1, 0], true],
      [[2, 7, 5, 3], [3], false],
      [[2, 7, 5, 3], [0, 2], false],
      [[9], [-1], false],
    ];
    for (const [shape, axis, keepDims] of cases) {
      await compareWithCpu(`sum ${shape} axis ${axis} keepDims ${keepDims}`, inputs({ x: shape }), (t) =>
        tf.sum(t.x, axis, keepDims),
      );
    }
  });

  test('conv2d: strides 1/2, same/valid/explicit padding, dilation 2, odd sizes, pointwise', async () => {
    const pads = [
      'same',
      'valid',
      [
        [0, 0],
        [1, 2],
        [2, 0],
        [0, 0],
      ],
    ] as const;
    for (const [xs, fs] of [
      [
        [2, 7, 5, 3],
        [3, 3, 3, 4],
      ],
      [
        [1, 9, 8, 2],
        [2, 3, 2, 5],
      ],
      [
        [3, 6, 6, 4],
        [1, 1, 4, 6],
      ],
    ] as const) {
      for (const stride of [1, 2])
        for (const pad of pads)
          for (const dilation of [1, 2]) {
            if (stride > 1 && dilation > 1) continue; // tfjs requires one of them to be 1
            await compareWithCpu(
              `conv2d x${xs} f${fs} s${stride} ${JSON.stringify(pad)} d${dilation}`,
              inputs({ x: [...xs], f: [...fs] }),
              (t) => tf.conv2d(t.x as tf.Tensor4D, t.f as tf.Tensor4D, stride, pad as 'same', 'NHWC', dilation),
            );
          }
    }
  });

  test('conv2d and its gradients with both algorithms (direct kernels and im2col): wide, narrow and odd channel counts', async () => {
    const addon = load.addon!;
    const cases = [
      // [x, filter, stride, pad, dilation]: 70 output channels = vector blocks of 4 and 1 with a partial one;
      // 1-3 outputs from 20-40 inputs use the narrow (dot product) kernel, with an input-channel tail; C = 1 inputs
      [[2, 9, 30, 20], [3, 3, 20, 70], 1, 'same', 1],
      [[3, 7, 7, 33], [3, 3, 33, 1], 1, 'same', 1],
      [[2, 11, 9, 40], [5, 5, 40, 3], 2, 'valid', 1],
      [[2, 10, 12, 24], [3, 3, 24, 2], 1, 'same', 2],
      [[2, 13, 17, 1], [7, 7, 1, 64], 1, 'same', 1],
      [
        [1, 5, 31, 17],
        [3, 3, 17, 32],
        1,
        [
          [0, 0],
          [2, 1],
          [0, 3],
          [0, 0],
        ],
        1,
      ],
    ] as const;
    const before = addon.convAlgo();
    try {
      for (const algo of [1, 2]) {
        addon.convAlgo(algo);
        for (const [xs, fs, stride, pad, dilation] of cases) {
          await compareWithCpu(
            `algo ${algo} conv2d x${xs} f${fs} s${stride} ${JSON.stringify(pad)} d${dilation}`,
            inputs({ x: [...xs], f: [...fs] }),
            (t) => {
              const f = (x: tf.Tensor, w: tf.Tensor) =>
                tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad as 'same', 'NHWC', dilation);
              // tfjs has no conv gradient with dilation > 1
              return dilation > 1
                ? [f(t.x, t.f)]
                : [f(t.x, t.f), ...tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(f(x, w))))([t.x, t.f])];
            },
          );
        }
      }
      // dilated input gradients (which tfjs cannot differentiate): the direct kernel against im2col + col2im
      for (const [C, OC] of [
        [5, 20],
        [24, 2],
      ]) {
        const geom = [2, 10, 12, C, 3, 3, OC, 10, 12, 1, 1, 2, 2, 2, 2];
        const dy = randomArray(2 * 10 * 12 * OC, 11),
          w = randomArray(9 * C * OC, 12);
        const dx = [1, 2].map((algo) => {
          addon.convAlgo(algo);
          const out = new Float32Array(2 * 10 * 12 * C);
          addon.conv2dBackpropInput(dy, w, out, geom);
          return { shape: [out.length], values: out };
        });
        assertClose([dx[1]], [dx[0]], `dilated conv2dBackpropInput C=${C} OC=${OC}`);
      }
    } finally {
      addon.convAlgo(before);
    }
    assert.throws(() => addon.convAlgo(3), /must be 0/);
  });

  test('conv2d over several image chunks (im2col buffer limit)', async () => {
    await compareWithCpu('conv2d 40x28x28x16 * 3x3x16x4', inputs({ x: [40, 28, 28, 16], f: [3, 3, 16, 4] }), (t) =>
      tf.conv2d(t.x as tf.Tensor4D, t.f as tf.Tensor4D, 1, 'same'),
    );
  });

  test('fused conv2d with bias and activations', async () => {
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'prelu'] as const) {
      await compareWithCpu(
        `fused conv2d ${activation}`,
        inputs({ x: [2, 7, 5, 3], f: [3, 3, 3, 4], bias: [4], alpha: [4] }),
        (t) =>
          tf.fused.conv2d({
            x: tf.mul(t.x, 3) as tf.Tensor4D,
            filter: t.f as tf.Tensor4D,
            strides: 2,
            pad: 'same',
            bias: t.bias,
            activation,
            leakyreluAlpha: 0.3,
            preluActivationWeights: activation === 'prelu' ? t.alpha : undefined,
          }),
      );
    }
  });

  test('conv2d gradients (dx, dW) through tf.grads', async () => {
    const pads = [
      'same',
      'valid',
      [
        [0, 0],
        [1, 0],
        [0, 2],
        [0, 0],
      ],
    ] as const;
    for (const [xs, fs] of [
      [
        [2, 7, 5, 3],
        [3, 3, 3, 4],
      ],
      [
        [3, 8, 8, 2],
        [2, 2, 2, 3],
      ],
    ] as const) {
      for (const stride of [1, 2])
        for (const pad of pads) {
          await compareWithCpu(
            `conv2d grads x${xs} f${fs} s${stride} ${JSON.stringify(pad)}`,
            inputs({ x: [...xs], f: [...fs], r: [64] }),
            (t) => {
              const loss = (x: tf.Tensor, f: tf.Tensor) => {
                const y = tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad as 'same');
                const w = tf.reshape(tf.slice(t.r, 0, 1), []); // weights the loss so dy is not all ones
                return tf.sum(tf.mul(y, tf.add(y, w)));
              };
              return tf.grads(loss)([t.x, t.f]);
            },
          );
        }
    }
  });

  test('fused conv2d and fused matMul gradients', async () => {
    await compareWithCpu('fused conv2d relu grads', inputs({ x: [2, 7, 5, 3], f: [3, 3, 3, 4], b: [4] }), (t) =>
      tf.grads((x: tf.Tensor, f: tf.Tensor, b: tf.Tensor) =>
        tf.sum(
          tf.square(
            tf.fused.conv2d({
              x: x as tf.Tensor4D,
              filter: f as tf.Tensor4D,
              strides: 1,
              pad: 'same',
              bias: b,
              activation: 'relu',
            }),
          ),
        ),
      )([t.x, t.f, t.b]),
    );
    await compareWithCpu('fused matMul relu grads', inputs({ a: [7, 5], b: [5, 3], c: [3] }), (t) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.square(tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c, activation: 'relu' }))),
      )([t.a, t.b, t.c]),
    );
  });

  test('conv2dTranspose forward and gradients', async () => {
    for (const [stride, pad, outHW] of [
      [2, 'same', [14, 10]],
      [1, 'valid', [9, 7]],
      [2, 'valid', [15, 11]],
    ] as const) {
      await compareWithCpu(`conv2dTranspose s${stride} ${pad}`, inputs({ x: [2, 7, 5, 4], f: [3, 3, 3, 4] }), (t) => {
        const f = (x: tf.Tensor, w: tf.Tensor) =>
          tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, [2, outHW[0], outHW[1], 3], stride, pad);
        return [f(t.x, t.f), ...tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(f(x, w))))([t.x, t.f])];
      });
    }
  });

  test('matMul gradients through tf.grads (batched, transposed)', async () => {
    await compareWithCpu('batchMatMul grads', inputs({ a: [3, 7, 5], b: [3, 4, 5] }), (t) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a, b, false, true))))([t.a, t.b]),
    );
  });

  test('gather gradient (UnsortedSegmentSum, missing in wasm)', async () => {
    const ins = inputs({ table: [10, 4], w: [6, 4] });
    await compareWithCpu('gather grads', ins, (t) => {
      const idx = tf.tensor1d([3, 0, 3, 9, 5, 3], 'int32');
      return tf.grads((table: tf.Tensor) => tf.sum(tf.mul(tf.gather(table, idx), t.w)))([t.table]);
    });
    await compareWithCpu('unsortedSegmentSum', inputs({ x: [6, 2, 3] }), (t) =>
      tf.unsortedSegmentSum(t.x, tf.tensor1d([0, 2, 2, 1, 0, 2], 'int32'), 4),
    );
  });

  test('a small conv net trains on native exactly like on cpu (Adam, 3 steps)', async () => {
    const ins = inputs({ x: [8, 12, 12, 1], w1: [3, 3, 1, 8], w2: [3, 3, 8, 4], wd: [36, 2] });
    const train = (t: Record<string, tf.Tensor>) => {
      const vars = [tf.variable(tf.mul(t.w1, 0.5)), tf.variable(tf.mul(t.w2, 0.3)), tf.variable(tf.mul(t.wd, 0.1))];
      const opt = tf.train.adam(0.01);
      for (let s = 0; s < 3; s++) {
        opt.minimize(() => {
          const h1 = tf.relu(tf.conv2d(t.x as tf.Tensor4D, vars[0] as tf.Variable<tf.Rank.R4>, 2, 'same'));
          const h2 = tf.relu(tf.conv2d(h1, vars[1] as tf.Variable<tf.Rank.R4>, 2, 'same'));
          return tf.mean(tf.square(tf.matMul(tf.reshape(h2, [8, 36]), vars[2]))) as tf.Scalar;
        });
      }
      const out = vars.map((v) => v.clone());
      opt.dispose();
      tf.dispose(vars);
      return out;
    };
    await compareWithCpu('conv net Adam steps', ins, train, 1e-3);
  });

  test("initBackend: 'auto' with conv training picks native", async () => {
    assert.equal(await initBackend('auto', { convTraining: true }), 'native');
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'native'));
    for (const name of ['BatchMatMul', '_FusedMatMul', 'Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Sum'])
      assert.notEqual(
        tf.getKernel(name, 'native')!.kernelFunc,
        tf.getKernel(name, 'wasm')!.kernelFunc,
        `${name} is the native kernel`,
      );
    assert.ok(tf.getKernelsForBackend('native').length > tf.getKernelsForBackend('wasm').length);
    await initBackend('cpu');
  });
});
