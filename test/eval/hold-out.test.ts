// Shapes hold-out: data.holdOut removes exactly the named color+kind pairs from the train split (not the test split),
// and bad pairs or other datasets are one-line errors, both from loadDataset and from the run config.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateShapes, holdOutShapes, parseShapePairs } from '../../src/core/data/shapes.ts';
import { dataSchema } from '../../src/core/config/schema.ts';
import { loadDataset } from '../../src/node/data/datasets.ts';
import { resolveRunConfig } from '../../src/node/run-config.ts';
import { userError } from '../helpers/assert.ts';

const HELD = ['red circle', 'blue square'];
const pairOf = (f: { color: string; shape: string }) => `${f.color} ${f.shape}`;

test('hold-out: train loses exactly the held-out pairs, in order; test keeps them', () => {
  const full = loadDataset('shapes', { split: 'train', n: 600, seed: 4, size: 8 }) as ReturnType<typeof generateShapes>;
  const train = loadDataset('shapes', { split: 'train', n: 600, seed: 4, size: 8, holdOut: HELD }) as ReturnType<
    typeof generateShapes
  >;
  const kept = full.fields.map((f, i) => [f, i] as const).filter(([f]) => !HELD.includes(pairOf(f)));
  assert.ok(full.n - kept.length > 10, 'the sample has held-out images to remove');
  assert.equal(train.n, kept.length);
  assert.equal(train.name, 'shapes/train');
  const plane = 8 * 8 * 3;
  kept.forEach(([f, i], j) => {
    assert.deepEqual(train.fields[j], f);
    assert.equal(train.captions![j], full.captions![i]);
    assert.equal(train.labels![j], full.labels![i]);
    assert.deepEqual(train.geometry[j], full.geometry[i]);
    assert.deepEqual(
      train.images.subarray(j * plane, (j + 1) * plane),
      full.images.subarray(i * plane, (i + 1) * plane),
    );
  });
  assert.ok(!train.fields.some((f) => HELD.includes(pairOf(f))));
  const test_ = loadDataset('shapes', { split: 'test', n: 600, seed: 4, size: 8, holdOut: HELD }) as ReturnType<
    typeof generateShapes
  >;
  assert.deepEqual(test_.images, loadDataset('shapes', { split: 'test', n: 600, seed: 4, size: 8 }).images);
  assert.ok(test_.fields.some((f) => HELD.includes(pairOf(f))));
  assert.equal(holdOutShapes(full, []), full);
});

test('hold-out: parsing is forgiving about case and spaces, strict about names', () => {
  assert.deepEqual(parseShapePairs(['  Red   Circle ']), [{ color: 'red', kind: 'circle' }]);
  userError(
    () => parseShapePairs(['circle red']),
    /"circle red" is not a "<color> <kind>" pair; colors: red, green, .*; kinds: circle, square/,
  );
  userError(() => parseShapePairs(['pink circle']), /pink circle/);
  userError(() => loadDataset('shapes', { split: 'train', n: 10, holdOut: ['red blob'] }), /red blob/);
  userError(
    () => loadDataset('folder:/nonexistent', { split: 'train', holdOut: ['red circle'] }),
    /only apply to the shapes dataset/,
  );
});

test('hold-out: run config validates data.holdOut in one line', () => {
  const base = { dataset: 'shapes', preprocess: 'scale01' };
  assert.deepEqual(dataSchema.parse({ ...base, holdOut: HELD }).holdOut, HELD);
  assert.equal(dataSchema.parse(base).holdOut, undefined);
  const cfg = resolveRunConfig('vae', [{ data: base }], ['data.holdOut=["red circle"]']);
  assert.deepEqual(cfg.data.holdOut, ['red circle']);
  userError(
    () => resolveRunConfig('vae', [{ data: base }], ['data.holdOut=["red blob"]']),
    /data\.holdOut\.0: "red blob" is not a "<color> <kind>" pair; colors: red/,
  );
  userError(
    () => resolveRunConfig('vae', [{ data: { ...base, dataset: 'fashion-mnist' } }], ['data.holdOut=["red circle"]']),
    /data\.holdOut: hold-out pairs only apply to the shapes dataset/,
  );
});
