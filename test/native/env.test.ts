// Environment controls of the native addon (DEEPGEN_BLAS=builtin, DEEPGEN_THREADS) and wasm-heap growth inside a
// native kernel (inputs moved from another backend, an output large enough to grow the heap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/node/backend.ts';
import { loadNativeAddon } from '../../src/node/native/addon.ts';
import { randomArray } from './compare.ts';

const load = loadNativeAddon();
if (!load.addon && process.env.DEEPGEN_REQUIRE_NATIVE === '1')
  throw new Error(`DEEPGEN_REQUIRE_NATIVE=1 but ${load.reason}`);
const skip = load.addon ? false : `native addon unavailable: ${load.reason}`;

test('DEEPGEN_BLAS=builtin and DEEPGEN_THREADS=1: the built-in GEMM serves the native backend', { skip }, () => {
  const child = fileURLToPath(new URL('./builtin-child.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', child], {
    env: { ...process.env, DEEPGEN_BLAS: 'builtin', DEEPGEN_THREADS: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    info: { blas: string; threads: number };
    maxErr: number;
  };
  assert.equal(out.info.blas, 'builtin');
  assert.equal(out.info.threads, 1);
  assert.ok(out.maxErr < 1e-3, `max error ${out.maxErr}`);
});

test('a native kernel whose output grows the wasm heap, on inputs created on another backend', { skip }, async () => {
  await initBackend('cpu');
  const [M, K, N] = [4096, 3, 4096]; // 64 MB output
  const A = randomArray(M * K, 1),
    B = randomArray(K * N, 2);
  const a = tf.tensor2d(A, [M, K]),
    b = tf.tensor2d(B, [K, N]);
  await initBackend('native');
  const c = tf.matMul(a, b);
  const C = c.dataSync();
  for (const [i, j] of [
    [0, 0],
    [M - 1, N - 1],
    [1234, 4000],
    [4095, 7],
  ]) {
    let s = 0;
    for (let k = 0; k < K; k++) s += A[i * K + k] * B[k * N + j];
    assert.ok(Math.abs(C[i * N + j] - s) < 1e-5, `C[${i},${j}] = ${C[i * N + j]}, expected ${s}`);
  }
  tf.dispose([a, b, c]);
});

test(
  "'native' and 'wasm' share one backend instance; switching between them keeps tensors and both kernel sets work",
  { skip },
  async () => {
    await initBackend('native');
    const nativeBackend = tf.backend();
    const x = tf.tensor2d(randomArray(36, 3), [6, 6]);
    const viaNative = tf.matMul(x, x).dataSync();
    await initBackend('wasm');
    assert.equal(tf.backend(), nativeBackend);
    const viaWasm = tf.matMul(x, x).dataSync();
    viaWasm.forEach((v, i) => assert.ok(Math.abs(v - viaNative[i]) < 1e-5));
    await initBackend('native');
    assert.ok(
      tf
        .relu(x)
        .dataSync()
        .every((v) => v >= 0),
    );
    x.dispose();
  },
);

test('engineReport names the backend and BLAS and measures sgemm GFLOPS', { skip }, async () => {
  const { engineReport, formatEngineReport } = await import('../../src/node/native/info.ts');
  await initBackend('native');
  const r = engineReport(0.1);
  assert.equal(r.backend, 'native');
  assert.ok(r.sgemmGflops > 0);
  const text = formatEngineReport(r);
  assert.match(text, /^backend: native\nBLAS \S+/);
  assert.equal(text.split('\n').length, 3);
});
