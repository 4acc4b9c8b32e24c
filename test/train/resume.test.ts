// Exact resume: a run stopped at step k and resumed matches an uninterrupted run to float tolerance,
// weights and optimizer state alike; NaN losses stop training and keep the last good checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { TEST_BACKEND } from '../helpers/backend.ts';
import { resolveRunConfig } from '../../src/node/run-config.ts';
import { trainRun } from '../../src/node/run.ts';
import { loadCheckpoint } from '../../src/node/checkpoint-store.ts';
import { recordToFloat32 } from '../../src/core/checkpoint/safetensors.ts';
import { UserError } from '../../src/core/errors.ts';
import { Trainer } from '../../src/core/train/trainer.ts';
import { trainSchema } from '../../src/core/config/schema.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-resume-'));
const quiet = { quiet: true, log: () => {}, backend: TEST_BACKEND };

function config(extra: Record<string, unknown> = {}) {
  return resolveRunConfig(
    'vae',
    [
      {
        model: { hidden: [32], latent: 4 },
        data: { dataset: 'shapes', size: 8, trainN: 96, testN: 32, preprocess: 'binarize-dynamic' },
        train: {
          steps: 14,
          batchSize: 32,
          ema: 0.9,
          lrSchedule: 'cosine',
          warmupSteps: 3,
          clipNorm: 50,
          seed: 4,
          logEvery: 1,
        },
      },
      extra,
    ],
    [],
  );
}

function maxDiff(a: Record<string, { shape: number[] } & Parameters<typeof recordToFloat32>[0]>, b: typeof a): number {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  let m = 0;
  for (const k of Object.keys(a)) {
    const x = recordToFloat32(a[k]);
    const y = recordToFloat32(b[k]);
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}

test('a run stopped at step 5 (mid-epoch) and resumed equals an uninterrupted run', async () => {
  const full = tmp();
  const split = tmp();
  await trainRun({ config: config(), out: full, finish: false, ...quiet });
  const stopped = await trainRun({ config: config(), out: split, stopAtStep: 5, finish: false, ...quiet });
  assert.equal(stopped.step, 5);
  assert.equal(loadCheckpoint(split).state.step, 5);
  const resumed = await trainRun({ config: config(), out: split, resume: true, finish: false, ...quiet });
  assert.equal(resumed.step, 14);
  const a = loadCheckpoint(full);
  const b = loadCheckpoint(split);
  assert.equal(b.state.step, 14);
  assert.ok(maxDiff(a.weights, b.weights) < 1e-6, `weights differ by ${maxDiff(a.weights, b.weights)}`);
  assert.ok(maxDiff(a.optimizer!, b.optimizer!) < 1e-6, 'optimizer state differs');
  assert.ok(maxDiff(a.ema!, b.ema!) < 1e-6, 'ema differs');
  // metrics.jsonl holds each step once
  const steps = fs
    .readFileSync(path.join(split, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step);
  assert.deepEqual(
    steps,
    Array.from({ length: 14 }, (_, i) => i + 1),
  );
});

test('a different seed gives a different run (the comparison above can fail)', async () => {
  const a = tmp();
  const b = tmp();
  await trainRun({ config: config(), out: a, stopAtStep: 3, finish: false, ...quiet });
  await trainRun({ config: config({ train: { seed: 5 } }), out: b, stopAtStep: 3, finish: false, ...quiet });
  assert.ok(maxDiff(loadCheckpoint(a).weights, loadCheckpoint(b).weights) > 1e-4);
});

test('training into a folder that holds a checkpoint without --resume is refused', async () => {
  const dir = tmp();
  await trainRun({ config: config(), out: dir, stopAtStep: 2, finish: false, ...quiet });
  await assert.rejects(
    trainRun({ config: config(), out: dir, finish: false, ...quiet }),
    (e: Error) => e instanceof UserError && /--resume/.test(e.message),
  );
});

test('a non-finite loss stops training with a clear message and keeps the last good checkpoint', async () => {
  const dir = tmp();
  // lr 1e30 makes the weights explode within a few steps
  await assert.rejects(
    trainRun({
      config: config({
        train: { lr: 1e30, steps: 40, checkpointEvery: 1, clipNorm: 0, warmupSteps: 0, lrSchedule: 'constant' },
      }),
      out: dir,
      finish: false,
      ...quiet,
    }),
    (e: Error) =>
      e instanceof UserError && /loss is not finite/.test(e.message) && /Last good checkpoint/.test(e.message),
  );
  const ck = loadCheckpoint(dir);
  for (const r of Object.values(ck.weights))
    assert.ok(recordToFloat32(r).every(Number.isFinite), 'checkpoint has non-finite weights');
});

test('the trainer refuses a NaN loss without touching the weights', () => {
  const w = tf.variable(tf.ones([3]), true, 'nan-test-w');
  const tr = new Trainer({ w }, trainSchema.parse({}), 10);
  assert.throws(
    () => tr.trainStep(() => ({ loss: tf.sum(tf.mul(w, NaN)) as tf.Scalar, terms: {} })),
    /loss is not finite \(loss=NaN/,
  );
  assert.deepEqual(Array.from(w.dataSync()), [1, 1, 1]);
  tr.dispose();
  w.dispose();
});

test('gradient clipping bounds the update and the reported norm is the true norm', () => {
  const w = tf.variable(tf.zeros([4]), true, 'clip-test-w');
  const tr = new Trainer({ w }, trainSchema.parse({ clipNorm: 1, lr: 0.1, beta1: 0, beta2: 0 }), 10);
  // loss = 10 * sum(w * [1,1,1,1]) -> grad [10,10,10,10], norm 20
  const m = tr.trainStep(() => ({ loss: tf.mul(10, tf.sum(w)) as tf.Scalar, terms: {} }));
  assert.ok(Math.abs(m.gradNorm - 20) < 1e-4);
  tr.dispose();
  w.dispose();
});
