// Tests for the checkpoint format helpers: weight-set checks, tf variable <-> record conversion,
// config/state validation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  assignRecords,
  checkFileStep,
  checkWeights,
  parseCheckpointConfig,
  parseCheckpointState,
  variablesToRecords,
} from '../../src/core/checkpoint/format.ts';
import { decodeSafetensors, encodeSafetensors, type TensorRecord } from '../../src/core/checkpoint/safetensors.ts';
import { userError } from '../helpers/assert.ts';

await tf.setBackend('cpu');

const f32 = (shape: number[]): TensorRecord => ({
  dtype: 'F32',
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
});

test('checkWeights names every missing, unexpected and mis-shaped tensor in one message', () => {
  const expected = {
    'encoder.fc1.weight': [20, 784],
    'encoder.fc1.bias': [20],
    'encoder.fc2.weight': [256, 40],
    'dec.b': [3],
  };
  const got = {
    'encoder.fc1.weight': f32([20, 784]),
    'encoder.fc2.weight': f32([256, 20]),
    foo: f32([1]),
    'dec.b': f32([]),
  };
  userError(
    () => checkWeights(expected, got, 'model.safetensors in runs/x'),
    new RegExp(
      '^model\\.safetensors in runs/x does not match the model: missing encoder\\.fc1\\.bias; unexpected foo; ' +
        'dec\\.b has shape \\[\\] but the model expects \\[3\\]; encoder\\.fc2\\.weight has shape \\[256,20\\] but the model expects \\[256,40\\]\\. ' +
        'Was it trained with a different config\\?$',
    ),
  );
  assert.doesNotThrow(() => checkWeights({ a: [2], s: [] }, { a: f32([2]), s: f32([]) }, 'x'));
});

test('checkWeights lists several missing names together', () => {
  userError(() => checkWeights({ a: [1], b: [1] }, {}, 'm'), /missing a, b\./);
});

test('variablesToRecords copies data out (F32, I32, BOOL) and assignRecords restores it', async () => {
  const vars = {
    w: tf.variable(
      tf.tensor2d([
        [1, 2, 3],
        [4, 5, 6],
      ]),
    ),
    s: tf.variable(tf.scalar(7)),
    n: tf.variable(tf.tensor1d([3, -4], 'int32')),
    // A cast result: some backends hand back a non-Float32Array for such float32 data.
    c: tf.variable(tf.cast(tf.tensor1d([1, 0], 'int32'), 'float32')),
    b: tf.variable(tf.tensor1d([true, false], 'bool')),
  };
  const recs = await variablesToRecords(vars);
  assert.equal(recs.w.dtype, 'F32');
  assert.ok(recs.w.data instanceof Float32Array);
  assert.ok(recs.c.data instanceof Float32Array);
  assert.deepEqual(recs.w.shape, [2, 3]);
  assert.deepEqual(recs.s.shape, []);
  assert.equal(recs.n.dtype, 'I32');
  assert.equal(recs.b.dtype, 'BOOL');
  assert.deepEqual(Array.from(recs.b.data as Uint8Array), [1, 0]);

  // The records are copies: changing a variable afterwards does not change them.
  vars.w.assign(tf.zeros([2, 3]));
  assert.deepEqual(Array.from(recs.w.data as Float32Array), [1, 2, 3, 4, 5, 6]);

  // Through the file format and back into the variables.
  const back = decodeSafetensors(encodeSafetensors(recs)).tensors;
  vars.n.assign(tf.zeros([2], 'int32'));
  vars.b.assign(tf.tensor1d([false, false], 'bool'));
  const before = tf.memory().numTensors;
  assignRecords(vars, back, 'model.safetensors in t');
  assert.equal(tf.memory().numTensors, before, 'temporaries are disposed');
  assert.deepEqual(Array.from(vars.w.dataSync()), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(vars.n.dataSync()), [3, -4]);
  assert.deepEqual(Array.from(vars.b.dataSync()), [1, 0]);
  assert.equal(vars.s.dataSync()[0], 7);
  for (const v of Object.values(vars)) v.dispose();
});

test('assignRecords checks the whole set first and changes nothing on mismatch', () => {
  const vars = { a: tf.variable(tf.ones([2])), b: tf.variable(tf.ones([3])) };
  userError(
    () => assignRecords(vars, { a: f32([2]), b: f32([4]) }, 'ema.safetensors in r'),
    /^ema\.safetensors in r does not match the model: b has shape \[4\]/,
  );
  assert.deepEqual(Array.from(vars.a.dataSync()), [1, 1]);
  userError(
    () => assignRecords({ n: tf.variable(tf.zeros([1], 'int32')) }, { n: f32([1]) }, 'src'),
    /^src: tensor n has dtype F32 but the model needs int32/,
  );
  // Half-precision weights load into float variables.
  const h = { h: tf.variable(tf.zeros([2])) };
  assignRecords(h, { h: { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xbc00]) } });
  assert.deepEqual(Array.from(h.h.dataSync()), [1, -1]);
});

test('config.json and state.json validation', () => {
  const cfg = { family: 'vae', formatVersion: 1, config: { latent: 2 }, createdBy: 'deepgen', createdAt: 'x' };
  assert.deepEqual(parseCheckpointConfig(JSON.stringify(cfg), 'config.json in r'), cfg);
  userError(() => parseCheckpointConfig('{"family":', 'config.json in r'), /^config\.json in r is not valid JSON/);
  userError(
    () => parseCheckpointConfig(JSON.stringify({ ...cfg, formatVersion: 2 }), 'c'),
    /formatVersion 2, but this deepgen reads version 1/,
  );
  userError(
    () => parseCheckpointConfig(JSON.stringify({ ...cfg, createdBy: 'other' }), 'c'),
    /was not written by deepgen/,
  );
  userError(() => parseCheckpointConfig(JSON.stringify({ ...cfg, family: '' }), 'c'), /no model family/);
  userError(() => parseCheckpointConfig('[]', 'c'), /not a JSON object/);

  const st = { step: 10, epoch: 1.5, rng: [1, 2, 3, 4294967295], lr: 0.001 };
  assert.deepEqual(parseCheckpointState(JSON.stringify(st), 's'), st);
  userError(
    () => parseCheckpointState(JSON.stringify({ ...st, step: -1 }), 'state.json in r'),
    /^state\.json in r has step -1/,
  );
  userError(
    () => parseCheckpointState(JSON.stringify({ ...st, rng: [1, 2, 3] }), 's'),
    /has rng \[1,2,3\], not four uint32/,
  );
  userError(() => parseCheckpointState(JSON.stringify({ ...st, epoch: 'x' }), 's'), /has epoch "x"/);
  userError(() => parseCheckpointState('nope', 's'), /is not valid JSON/);

  const state = { step: 5, epoch: 0, rng: [1, 2, 3, 4] as [number, number, number, number] };
  assert.doesNotThrow(() => checkFileStep({ step: '5' }, state, 'model.safetensors', 'r'));
  userError(
    () => checkFileStep({ step: '6' }, state, 'model.safetensors', 'r'),
    /model\.safetensors is from step 6 but state\.json is from step 5 \(a save was interrupted\)/,
  );
  userError(() => checkFileStep({}, state, 'ema.safetensors', 'r'), /ema\.safetensors in r has no "step"/);
});
