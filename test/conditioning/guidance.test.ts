// Tests for classifier-free guidance: w = 0 gives the unconditional prediction, w = 1 the conditional one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { guide } from '../../src/core/conditioning/guidance.ts';

test('guide: w=0 -> uncond, w=1 -> cond, w=3 -> uncond + 3 (cond - uncond)', () => {
  const u = tf.tensor2d([
    [1, 2],
    [3, 4],
  ]);
  const c = tf.tensor2d([
    [2, 0],
    [3, 8],
  ]);
  const before = tf.memory().numTensors;
  const g0 = guide(u, c, 0);
  const g1 = guide(u, c, 1);
  const g3 = guide(u, c, 3);
  assert.deepEqual(Array.from(g0.dataSync()), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(g1.dataSync()), [2, 0, 3, 8]);
  assert.deepEqual(Array.from(g3.dataSync()), [4, -4, 3, 16]);
  assert.equal(tf.memory().numTensors, before + 3, 'one output tensor per call');
  tf.dispose([u, c, g0, g1, g3]);
  assert.throws(() => guide(u, c, NaN));
});
