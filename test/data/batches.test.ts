// Tests for seeded batching: coverage, determinism, per-epoch orders and exact resume.

import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  batches,
  batchToTensor,
  epochOrder,
  epochRng,
  numBatches,
  select,
  subset,
  take,
} from '../../src/core/data/batches.ts';
import type { ImageDataset } from '../../src/core/data/types.ts';
import { UserError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/tensor/rng.ts';

await tf.setBackend('cpu');

// Image i is filled with i % 256 (2x2x1), label i % 10, caption "img i".
function toy(n: number): ImageDataset {
  const images = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) images.fill(i % 256, i * 4, i * 4 + 4);
  return {
    name: 'toy',
    height: 2,
    width: 2,
    channels: 1,
    n,
    images,
    labels: Int32Array.from({ length: n }, (_, i) => i % 10),
    classNames: Array.from({ length: 10 }, (_, i) => String(i)),
    captions: Array.from({ length: n }, (_, i) => `img ${i}`),
  };
}

const allIndices = (bs: Iterable<{ indices: Int32Array }>) => [...bs].flatMap((b) => [...b.indices]);

test('batches: every index exactly once per epoch, with matching payload', () => {
  const ds = toy(103);
  const got = [...batches(ds, { batchSize: 10, rng: epochRng(1, 0) })];
  assert.equal(got.length, 11);
  assert.equal(got.at(-1)!.size, 3);
  const idx = got.flatMap((b) => [...b.indices]);
  assert.deepEqual(
    [...idx].sort((a, b) => a - b),
    Array.from({ length: 103 }, (_, i) => i),
  );
  assert.notDeepEqual(
    idx,
    Array.from({ length: 103 }, (_, i) => i),
  );
  for (const b of got) {
    for (let k = 0; k < b.size; k++) {
      const j = b.indices[k];
      assert.equal(b.images[k * 4], j % 256);
      assert.equal(b.labels![k], j % 10);
      assert.equal(b.captions![k], `img ${j}`);
    }
  }
  const dropped = [...batches(ds, { batchSize: 10, dropLast: true })];
  assert.equal(dropped.length, 10);
  assert.equal(numBatches(103, 10, true), 10);
  assert.deepEqual(
    allIndices(batches(ds, { batchSize: 7 })),
    Array.from({ length: 103 }, (_, i) => i),
  );
});

test('batches: order is a pure function of (seed, epoch)', () => {
  const ds = toy(50);
  const order = (seed: number, epoch: number) => allIndices(batches(ds, { batchSize: 8, rng: epochRng(seed, epoch) }));
  assert.deepEqual(order(5, 0), order(5, 0));
  assert.deepEqual(order(5, 3), order(5, 3));
  assert.notDeepEqual(order(5, 0), order(5, 1));
  assert.notDeepEqual(order(5, 1), order(5, 2));
  assert.notDeepEqual(order(5, 0), order(6, 0));
  assert.deepEqual(order(5, 2), [...epochOrder(50, 5, 2)]);
  assert.deepEqual(allIndices(batches(ds, { batchSize: 8, order: epochOrder(50, 5, 2) })), order(5, 2));
  // A plain Rng shuffles too, reproducibly.
  assert.deepEqual(
    allIndices(batches(ds, { batchSize: 8, rng: new Rng(9) })),
    allIndices(batches(ds, { batchSize: 8, rng: new Rng(9) })),
  );
});

test('batches: start=k equals skipping the first k batches', () => {
  const ds = toy(64);
  const full = [...batches(ds, { batchSize: 6, rng: epochRng(11, 4) })];
  const resumed = [...batches(ds, { batchSize: 6, rng: epochRng(11, 4), start: 3 })];
  assert.deepEqual(resumed, full.slice(3));
  assert.equal([...batches(ds, { batchSize: 6, start: 99 })].length, 0);
  assert.throws(() => [...batches(ds, { batchSize: 0 })], UserError);
});

test('batches: batchToTensor gives float32 NHWC', () => {
  const ds = toy(5);
  const b = [...batches(ds, { batchSize: 4 })][0];
  const t = batchToTensor(b, ds);
  assert.deepEqual(t.shape, [4, 2, 2, 1]);
  assert.equal(t.dtype, 'float32');
  assert.deepEqual([...t.dataSync()], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
  t.dispose();
});

test('batches: subset, take and select', () => {
  const ds = toy(20);
  const s = subset(ds, 5, 4);
  assert.equal(s.n, 4);
  assert.deepEqual([...s.images.filter((_, i) => i % 4 === 0)], [5, 6, 7, 8]);
  assert.deepEqual([...s.labels!], [5, 6, 7, 8]);
  assert.deepEqual(s.captions, ['img 5', 'img 6', 'img 7', 'img 8']);
  assert.equal(take(ds, 3).n, 3);
  assert.equal(take(ds, 100).n, 20);
  const sel = select(ds, [3, 1]);
  assert.deepEqual([...sel.labels!], [3, 1]);
  assert.equal(sel.images[4], 1);
  assert.throws(() => subset(ds, 18, 5), UserError);
  assert.throws(() => take(ds, -1), UserError);
});
