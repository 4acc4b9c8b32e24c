// The VAE on the shared conditioning: config section, text-conditional training on a tiny shapes set,
// sampling by prompt or label, and the user errors for a condition the model does not take.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { vaeFamily, aeFamily, VaeModel } from '../../src/core/families/vae/index.ts';
import { vaeModelSchema } from '../../src/core/families/vae/config.ts';
import { generateShapes } from '../../src/core/data/shapes.ts';
import { trainSchema } from '../../src/core/config/schema.ts';
import { Trainer } from '../../src/core/train/trainer.ts';
import type { DataInfo } from '../../src/core/family.ts';
import { userError } from '../helpers/assert.ts';

const S = 8;
const N = 32;
const shapes = generateShapes({ n: N, seed: 4, size: S });
const vocabulary = [...new Set(shapes.captions!.flatMap((c) => c.toLowerCase().split(/\s+/).filter(Boolean)))].sort();
const info: DataInfo = {
  height: S,
  width: S,
  channels: 3,
  numClasses: shapes.classNames!.length,
  classNames: shapes.classNames,
  vocabulary,
};
const X = tf.tidy(() => tf.div(tf.tensor4d(Float32Array.from(shapes.images), [N, S, S, 3]), 255)) as tf.Tensor4D;

const cfgOf = (cond: Record<string, unknown>) =>
  vaeModelSchema.parse({ hidden: [64], latent: 4, likelihood: 'gaussian', cond: { dim: 16, textHeads: 2, ...cond } });

test('model schema: cond section with defaults; the old conditional flag is an unknown key', () => {
  const m = vaeModelSchema.parse({});
  assert.equal(m.cond.kind, 'none');
  assert.equal(m.cond.dim, 128);
  assert.equal(vaeModelSchema.safeParse({ conditional: true }).success, false);
  assert.equal(vaeFamily.needsLabels(cfgOf({ kind: 'label' })), true);
  assert.equal(vaeFamily.needsCaptions!(cfgOf({ kind: 'label' })), false);
  assert.equal(aeFamily.needsCaptions!(cfgOf({ kind: 'text' })), true);
  assert.equal(vaeFamily.needsLabels(cfgOf({ kind: 'none' })), false);
});

test('text-conditional VAE: loss drops over a few steps on tiny shapes; samples by prompt', () => {
  const m = vaeFamily.create(cfgOf({ kind: 'text', textLayers: 1 }), info, 2);
  assert.ok(Object.keys(m.params.vars).some((k) => k.startsWith('cond.text.block0.attn')));
  const tr = new Trainer(m.params.vars, trainSchema.parse({ lr: 3e-3 }), 100);
  const captions = shapes.captions!;
  const first = tr.trainStep(() => m.loss(X, null, 1, captions)).loss;
  let last = first;
  for (let i = 0; i < 40; i++) last = tr.trainStep(() => m.loss(X, null, 2 + i, captions)).loss;
  assert.ok(Number.isFinite(last) && last < first * 0.9, `loss ${first} -> ${last}`);
  tr.dispose();

  const before = tf.memory().numTensors;
  const a = m.sample(4, 3, { prompts: ['a small red circle at the top left'] });
  const b = m.sample(4, 3, { prompts: ['a large blue square at the bottom right'] });
  const u = m.sample(4, 3); // no prompt: the null embedding
  assert.deepEqual(a.shape, [4, S, S, 3]);
  assert.notDeepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()), 'prompts change the samples');
  assert.ok(u.dataSync().every((v) => v >= 0 && v <= 1));
  tf.dispose([a, b, u]);
  assert.equal(tf.memory().numTensors, before, 'sampling leaks no tensors');
  userError(
    () => m.sample(2, 1, { prompts: ['a pink circle'] }),
    /"pink" is not in this model's vocabulary; known words: a, /,
  );
  userError(() => m.sample(2, 1, { labels: [1] }), /not label-conditional/);
  userError(() => m.loss(X, null, 1, null), /text-conditional; pass a prompt/);
  m.dispose();
});

test('label-conditional VAE: labels cycle, out-of-range label and prompts are user errors', () => {
  const m = vaeFamily.create(cfgOf({ kind: 'label' }), info, 2) as VaeModel;
  assert.deepEqual(m.params.vars['cond.label'].shape, [info.numClasses, 16]);
  const s = m.sample(info.numClasses + 1, 1);
  assert.deepEqual(s.shape, [info.numClasses + 1, S, S, 3]);
  s.dispose();
  userError(
    () => m.sample(2, 1, { labels: [info.numClasses] }),
    new RegExp(`out of range: this model has ${info.numClasses} classes`),
  );
  userError(() => m.sample(2, 1, { prompts: ['a circle'] }), /not text-conditional/);
  m.dispose();
  const plain = vaeFamily.create(cfgOf({ kind: 'none' }), info, 2);
  userError(() => plain.sample(2, 1, { labels: [0] }), /not label-conditional/);
  userError(() => plain.sample(2, 1, { prompts: ['a circle'] }), /not text-conditional/);
  plain.dispose();
  userError(
    () => vaeFamily.create(cfgOf({ kind: 'label' }), { ...info, numClasses: 0, classNames: undefined }, 1),
    /needs a labelled dataset/,
  );
  userError(
    () => vaeFamily.create(cfgOf({ kind: 'text' }), { ...info, vocabulary: undefined }, 1),
    /needs a dataset with captions/,
  );
});
