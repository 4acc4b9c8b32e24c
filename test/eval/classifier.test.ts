// The evaluation classifier on tiny generated shapes: it learns kind and color far above chance, its cache folder
// round-trips to identical predictions, and features/predict keep no tensors. Training convs on the pure-JS cpu
// backend takes minutes, so this file uses the fastest backend that can (native when built).
import '../helpers/backend.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { generateShapes } from '../../src/core/data/shapes.ts';
import { Classifier, classifierConfig, datasetTo01, SHAPES_HEADS } from '../../src/core/eval/classifier.ts';
import {
  cacheRoot,
  classifierDir,
  getClassifier,
  loadClassifier,
  readClassifierInfo,
} from '../../src/node/classifier-store.ts';
import { initBackend } from '../../src/node/backend.ts';
import { userError } from '../helpers/assert.ts';

await initBackend('auto', { convTraining: true });

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-clf-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const TINY = {
  size: 16,
  trainN: 2000,
  testN: 300,
  epochs: 4,
  batchSize: 32,
  net: { widths: [16, 32, 32] as [number, number, number], features: 64 },
  cacheRoot: TMP,
  log: () => {},
};

test('classifier: learns shapes kind and color far above chance, then loads from the cache with identical predictions', async () => {
  const first = await getClassifier('shapes', TINY);
  assert.equal(first.trained, true);
  assert.equal(first.dir, path.join(TMP, 'classifiers', 'shapes-16x16'));
  const acc = first.info.testAccuracy;
  // chance is 1/5 for kind and 1/7 for color
  assert.ok(acc.kind > 0.4, `kind accuracy ${acc.kind}`);
  assert.ok(acc.color > 0.8, `color accuracy ${acc.color}`);
  assert.deepEqual(readClassifierInfo(first.dir)?.testAccuracy, acc);
  for (const f of ['config.json', 'model.safetensors', 'state.json'])
    assert.ok(fs.existsSync(path.join(first.dir, f)), f);

  const again = await getClassifier('shapes', TINY);
  assert.equal(again.trained, false);
  const x = datasetTo01(generateShapes({ n: 64, seed: 9, size: 16 }));
  const p1 = first.classifier.predict(x, 20);
  const p2 = again.classifier.predict(x, 64);
  assert.deepEqual(p2, p1);
  const f1 = first.classifier.features(x);
  const f2 = again.classifier.features(x);
  assert.deepEqual(f1.shape, [64, 64]);
  assert.deepEqual(await f2.data(), await f1.data());
  tf.dispose([x, f1, f2]);
  first.classifier.dispose();
  again.classifier.dispose();
});

test('classifier: predict/features keep no tensors and reject wrong image sizes in one line', () => {
  const clf = new Classifier(
    classifierConfig({ height: 16, width: 16, channels: 3 }, SHAPES_HEADS, { widths: [4, 8, 8], features: 16 }),
    3,
  );
  const x = tf.zeros([5, 16, 16, 3]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const pred = clf.predict(x, 2);
  assert.deepEqual(Object.keys(pred).sort(), ['color', 'kind']);
  assert.equal(pred.kind.length, 5);
  tf.dispose(clf.featuresBatched(x, 2));
  tf.dispose(clf.logits(x));
  assert.equal(tf.memory().numTensors, before);
  const wrong = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
  userError(() => clf.predict(wrong), /16x16x3/);
  tf.dispose([x, wrong]);
  clf.dispose();
});

test('classifier store: cache folder names, damaged and foreign folders', () => {
  assert.equal(classifierDir('fashion-mnist', undefined, '/c'), path.join('/c', 'classifiers', 'fashion-mnist-28x28'));
  assert.equal(classifierDir('shapes', 64, '/c'), path.join('/c', 'classifiers', 'shapes-64x64'));
  userError(() => classifierDir('shapes', 3, '/c'), /size 3/);
  const dir = path.join(TMP, 'broken');
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    '{"family":"vae","formatVersion":1,"createdBy":"deepgen","config":{}}',
  );
  userError(() => readClassifierInfo(dir), /not a classifier/);
  userError(() => loadClassifier(path.join(TMP, 'none')), /No checkpoint/);
});

test('classifier cache: DEEPGEN_CACHE, else the checkout, else (an installed package) the user cache', () => {
  const checkout = path.join(path.sep, 'src', 'deepgen');
  const installed = path.join(path.sep, 'app', 'node_modules', 'deepgen');
  assert.equal(cacheRoot({ DEEPGEN_CACHE: '/tmp/c' }, installed), path.resolve('/tmp/c'));
  assert.equal(cacheRoot({}, checkout), path.join(checkout, '.cache'));
  assert.equal(cacheRoot({ XDG_CACHE_HOME: '/var/cache/u' }, installed), path.join('/var/cache/u', 'deepgen'));
  assert.equal(cacheRoot({}, installed), path.join(os.homedir(), '.cache', 'deepgen'));
});
