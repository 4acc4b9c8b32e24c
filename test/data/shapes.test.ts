// Tests for the procedural shapes dataset: determinism, captions and rendered colors.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  COLOR_RGB,
  COLORS,
  generateShapes,
  POSITIONS,
  SHAPE_KINDS,
  shapeCaption,
  SIZES,
} from '../../src/core/data/shapes.ts';
import { UserError } from '../../src/core/errors.ts';

test('shapes: same seed gives the same bytes, a different seed differs', () => {
  const a = generateShapes({ n: 200, seed: 42 });
  const b = generateShapes({ n: 200, seed: 42 });
  const c = generateShapes({ n: 200, seed: 43 });
  assert.deepEqual(a.images, b.images);
  assert.deepEqual(a.captions, b.captions);
  assert.notDeepEqual(a.images, c.images);
});

test('shapes: layout, labels and vocab', () => {
  const ds = generateShapes({ n: 500, seed: 1, size: 28 });
  assert.equal(ds.height, 28);
  assert.equal(ds.width, 28);
  assert.equal(ds.channels, 3);
  assert.equal(ds.images.length, 500 * 28 * 28 * 3);
  assert.deepEqual(ds.classNames, [...SHAPE_KINDS]);
  for (let i = 0; i < ds.n; i++) assert.equal(ds.classNames![ds.labels![i]], ds.fields[i].shape);
  // 500 draws should hit every value of every field.
  assert.equal(new Set(ds.fields.map((f) => f.shape)).size, SHAPE_KINDS.length);
  assert.equal(new Set(ds.fields.map((f) => f.color)).size, COLORS.length);
  assert.equal(new Set(ds.fields.map((f) => f.size)).size, SIZES.length);
  assert.equal(new Set(ds.fields.map((f) => f.position)).size, POSITIONS.length);
});

test('shapes: caption matches the fields', () => {
  const ds = generateShapes({ n: 300, seed: 5 });
  for (let i = 0; i < ds.n; i++) {
    const f = ds.fields[i];
    const cap = ds.captions![i];
    assert.equal(cap, shapeCaption(f));
    assert.match(cap, new RegExp(`^a ${f.size} ${f.color} ${f.shape} (at|in|on) the ${f.position}$`));
  }
  assert.equal(
    shapeCaption({ shape: 'circle', color: 'red', size: 'small', position: 'top left' }),
    'a small red circle at the top left',
  );
  assert.equal(
    shapeCaption({ shape: 'square', color: 'blue', size: 'large', position: 'center' }),
    'a large blue square in the center',
  );
});

test('shapes: the pixel at the shape center has the named color; position matches the grid cell', () => {
  for (const size of [32, 64]) {
    const ds = generateShapes({ n: 400, seed: 9, size });
    for (let i = 0; i < ds.n; i++) {
      const { cx, cy } = ds.geometry[i];
      const p = (i * size * size + Math.floor(cy) * size + Math.floor(cx)) * 3;
      assert.deepEqual(
        [...ds.images.subarray(p, p + 3)],
        [...COLOR_RGB[ds.fields[i].color]],
        `image ${i}: ${ds.captions![i]}`,
      );
      const pos = POSITIONS.indexOf(ds.fields[i].position);
      assert.equal(Math.min(2, Math.floor((cx / size) * 3)), pos % 3, `column of image ${i}`);
      assert.equal(Math.min(2, Math.floor((cy / size) * 3)), Math.floor(pos / 3), `row of image ${i}`);
    }
  }
});

test('shapes: larger size names mean larger shapes', () => {
  const ds = generateShapes({ n: 300, seed: 3 });
  const r = (s: string) => ds.geometry.filter((_, i) => ds.fields[i].size === s).map((g) => g.r);
  assert.ok(Math.max(...r('small')) < Math.min(...r('medium')));
  assert.ok(Math.max(...r('medium')) < Math.min(...r('large')));
});

test('shapes: bad options are UserErrors', () => {
  assert.throws(() => generateShapes({ n: -1, seed: 0 }), UserError);
  assert.throws(() => generateShapes({ n: 10, seed: 0, size: 4 }), UserError);
  assert.throws(() => generateShapes({ n: 10, seed: 0, size: 31.5 }), UserError);
});
