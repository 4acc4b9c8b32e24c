// The library's train(config, opts): a partial config resolved with defaults and checked strictly; onStep each step;
// an AbortSignal stops after the current step with a checkpoint that resume continues exactly; no output, no signal
// handler and no leaked tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { TEST_BACKEND } from '../helpers/backend.ts';
import { train, type RunConfigInput, type TrainStepInfo } from '../../src/node/train.ts';
import { loadCheckpoint } from '../../src/node/checkpoint-store.ts';
import { recordToFloat32 } from '../../src/core/checkpoint/safetensors.ts';
import { UserError } from '../../src/core/errors.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-train-api-'));
const backend = TEST_BACKEND as 'cpu';

/** A partial config: everything not named comes from the VAE's defaults. */
const CONFIG: RunConfigInput = {
  family: 'vae',
  model: { hidden: [32], latent: 4 },
  data: { dataset: 'shapes', size: 8, trainN: 96, testN: 32, preprocess: 'binarize-dynamic' },
  train: {
    steps: 14,
    batchSize: 32,
    ema: 0.9,
    lrSchedule: 'cosine',
    warmupSteps: 3,
    seed: 4,
    logEvery: 1,
    sampleEvery: 0,
    checkpointEvery: 0,
  },
};

function maxDiff(a: Record<string, Parameters<typeof recordToFloat32>[0]>, b: typeof a): number {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  let m = 0;
  for (const k of Object.keys(a)) {
    const x = recordToFloat32(a[k]!);
    const y = recordToFloat32(b[k]!);
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  }
  return m;
}

test('train() from a partial config resolves with the step count, calls onStep each step, keeps tensors flat', async () => {
  const out = tmp();
  await train(CONFIG, { out: tmp(), backend, finish: false }); // warm-up: kernels and backend state of the first run
  const before = tf.memory().numTensors;
  const steps: TrainStepInfo[] = [];
  const r = await train(CONFIG, { out, backend, finish: false, onStep: (s) => steps.push(s) });
  assert.equal(tf.memory().numTensors, before, 'tensors leaked by train()');
  assert.equal(r.step, 14);
  assert.equal(r.totalSteps, 14);
  assert.equal(r.aborted, false);
  assert.equal(r.config.model.latent, 4);
  assert.equal(r.config.train.batchSize, 32);
  assert.equal(r.config.train.lr, 1e-3, 'a default filled in');
  assert.deepEqual(
    steps.map((s) => s.step),
    Array.from({ length: 14 }, (_, i) => i + 1),
  );
  for (const s of steps) {
    assert.equal(s.total, 14);
    assert.ok(
      Number.isFinite(s.loss) && Number.isFinite(s.lr) && s.imagesPerSecond > 0 && s.seconds > 0,
      JSON.stringify(s),
    );
    assert.deepEqual(Object.keys(s.terms).sort(), ['kl', 'recon']);
  }
  assert.equal(steps[2]!.epoch, 1, '3 batches of 32 in 96 images');
  assert.equal(loadCheckpoint(out).state.step, 14);
});

test('an AbortSignal aborted in onStep at step 5 stops there with a checkpoint; resume: true continues it exactly', async () => {
  const full = tmp();
  const split = tmp();
  await train(CONFIG, { out: full, backend, finish: false });
  const ac = new AbortController();
  const saved: { step: number; dir: string }[] = [];
  const stopped = await train(CONFIG, {
    out: split,
    backend,
    finish: false,
    signal: ac.signal,
    onStep: (s) => s.step === 5 && ac.abort(),
    onCheckpoint: (c) => saved.push(c),
  });
  assert.equal(stopped.step, 5);
  assert.equal(stopped.aborted, true);
  assert.deepEqual(saved, [{ step: 5, dir: split }]);
  assert.equal(loadCheckpoint(split).state.step, 5);
  const steps: number[] = [];
  const resumed = await train(
    { family: 'vae' },
    { out: split, backend, finish: false, resume: true, onStep: (s) => steps.push(s.step) },
  );
  assert.equal(resumed.step, 14);
  assert.equal(resumed.aborted, false);
  assert.deepEqual(steps, [6, 7, 8, 9, 10, 11, 12, 13, 14]);
  const a = loadCheckpoint(full);
  const b = loadCheckpoint(split);
  assert.ok(maxDiff(a.weights, b.weights) < 1e-6, `weights differ by ${maxDiff(a.weights, b.weights)}`);
  assert.ok(maxDiff(a.optimizer!, b.optimizer!) < 1e-6, 'optimizer state differs');
  assert.ok(maxDiff(a.ema!, b.ema!) < 1e-6, 'ema differs');
});

test('an AbortSignal already aborted rejects with an AbortError and writes nothing', async () => {
  const out = tmp();
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(train(CONFIG, { out, backend, signal: ac.signal }), (e: Error) => e.name === 'AbortError');
  assert.deepEqual(fs.readdirSync(out), []);
});

test('train() rejects unknown config keys and a missing family in one line', async () => {
  const out = tmp();
  const bad = [
    [{ ...CONFIG, trian: { steps: 3 } }, /unknown key trian/],
    [{ ...CONFIG, model: { latnt: 4 } }, /unknown key model\.latnt/],
    [{ family: 'vea' }, /Unknown model family "vea"/],
    [{}, /must be an object with a family/],
  ] as const;
  for (const [config, message] of bad) {
    await assert.rejects(
      train(config as unknown as RunConfigInput, { out, backend }),
      (e: Error) => e instanceof UserError && message.test(e.message) && !e.message.includes('\n'),
    );
  }
  assert.deepEqual(fs.readdirSync(out), []);
});

test('train() without log writes nothing to stdout or stderr and adds no SIGINT listener (a child process)', async () => {
  const dir = tmp();
  const resultFile = path.join(dir, 'result.json');
  const out = path.join(dir, 'run');
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const child = path.join(import.meta.dirname, '../helpers/train-quietly.ts');
  const r = await new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', child, resultFile, out],
      { env, timeout: 180_000 },
      (err, stdout, stderr) => resolve({ err, stdout, stderr }),
    ),
  );
  assert.equal(r.err, null, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, '');
  const seen = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
  assert.equal(seen.step, 4);
  assert.deepEqual(seen.sigintDuring, [seen.sigintBefore, seen.sigintBefore, seen.sigintBefore, seen.sigintBefore]);
  assert.equal(seen.sigintAfter, seen.sigintBefore);
  assert.deepEqual(seen.checkpoints, [2, 4], 'the periodic checkpoint and the last');
  for (const f of ['samples/step-0000002.png', 'samples.png', 'eval.json', 'loss-curve.svg'])
    assert.ok(fs.existsSync(path.join(out, f)), `${f} written`);
});
