// Run by env.test.ts with DEEPGEN_BLAS=builtin DEEPGEN_THREADS=1: reports the addon's info and the max error of a
// native matMul and conv2d (built-in GEMM) against cpu.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/node/backend.ts';
import { loadNativeAddon } from '../../src/node/native/addon.ts';
import { inputs, runOn } from './compare.ts';

await initBackend('native');
const ins = inputs({ a: [37, 300], b: [300, 45], x: [3, 9, 7, 5], f: [3, 3, 5, 6] });
const f = (t: Record<string, tf.Tensor>) => [
  tf.matMul(t.a, t.b),
  tf.conv2d(t.x as tf.Tensor4D, t.f as tf.Tensor4D, 2, 'same'),
];
const [n, c] = [await runOn('native', ins, f), await runOn('cpu', ins, f)];
let maxErr = 0;
n.forEach((o, i) =>
  o.values.forEach((v, j) => {
    maxErr = Math.max(maxErr, Math.abs(v - c[i].values[j]));
  }),
);
console.log(JSON.stringify({ info: loadNativeAddon().addon!.info(), maxErr }));
