// Helpers for the native-kernel tests: seeded inputs, running one computation on two backends, float32 tolerances.
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';

/** Deterministic uniform values in [-1, 1) (a small LCG, so every run sees the same inputs). */
export function randomArray(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export type Inputs = Record<string, { shape: number[]; values: Float32Array }>;

export function inputs(shapes: Record<string, number[]>, seed = 1): Inputs {
  const r: Inputs = {};
  let k = seed;
  for (const [name, shape] of Object.entries(shapes))
    r[name] = { shape, values: randomArray(tf.util.sizeFromShape(shape), k++) };
  return r;
}

/** Runs f on the given backend with fresh tensors made from `ins`; returns every output's values and shape. */
export async function runOn(
  backend: string,
  ins: Inputs,
  f: (t: Record<string, tf.Tensor>) => tf.Tensor | tf.Tensor[],
) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors,
    beforeIds = tf.backend().numDataIds();
  const outs = tf.tidy(() => {
    const t: Record<string, tf.Tensor> = {};
    for (const [name, { shape, values }] of Object.entries(ins)) t[name] = tf.tensor(values, shape);
    const r = f(t);
    return Array.isArray(r) ? r : [r];
  });
  const result = outs.map((o) => ({ shape: o.shape, values: o.dataSync() as Float32Array }));
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  assert.equal(tf.backend().numDataIds(), beforeIds, `${backend}: backend data leaked`);
  return result;
}

/** Max abs error relative to the reference's magnitude: |a - b| <= tol * max(1, max |b|). */
export function assertClose(
  actual: { shape: number[]; values: Float32Array }[],
  expected: { shape: number[]; values: Float32Array }[],
  what: string,
  tol = 1e-4,
): void {
  assert.equal(actual.length, expected.length, `${what}: output count`);
  actual.forEach((a, i) => {
    const e = expected[i];
    assert.deepEqual(a.shape, e.shape, `${what}: output ${i} shape`);
    let maxErr = 0,
      maxRef = 1;
    for (let j = 0; j < e.values.length; j++) {
      maxErr = Math.max(maxErr, Math.abs(a.values[j] - e.values[j]));
      maxRef = Math.max(maxRef, Math.abs(e.values[j]));
      if (Number.isNaN(a.values[j]) !== Number.isNaN(e.values[j])) assert.fail(`${what}: NaN mismatch at ${j}`);
    }
    assert.ok(
      maxErr <= tol * maxRef,
      `${what}: output ${i} max abs error ${maxErr.toExponential(2)} > ${tol} * ${maxRef.toFixed(2)}`,
    );
  });
}

type Fn = (t: Record<string, tf.Tensor>) => tf.Tensor | tf.Tensor[];

/** Asserts that f gives the same results on `native` as on `cpu` (or as `reference` on cpu). */
export async function compareWithCpu(what: string, ins: Inputs, f: Fn, tol = 1e-4, reference: Fn = f): Promise<void> {
  const expected = await runOn('cpu', ins, reference);
  const actual = await runOn('native', ins, f);
  assertClose(actual, expected, what, tol);
}
