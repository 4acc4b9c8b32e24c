// Conditional-accuracy maths on hand-made predictions, and shapes prompt parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COLORS, SHAPE_KINDS, type ShapePair } from '../../src/core/data/shapes.ts';
import {
  labelAccuracy,
  pairSubsetAccuracy,
  parseShapePrompt,
  promptPairs,
  shapeAccuracy,
} from '../../src/core/eval/conditional-accuracy.ts';
import { userError } from '../helpers/assert.ts';

test('labelAccuracy: overall, per class, counts; NaN for classes never asked for', () => {
  const r = labelAccuracy(Int32Array.from([0, 0, 1, 2, 2, 1]), [0, 1, 1, 2, 2, 2], 4);
  assert.equal(r.n, 6);
  assert.equal(r.overall, 4 / 6);
  assert.deepEqual(r.counts, [1, 2, 3, 0]);
  assert.deepEqual(r.perClass.slice(0, 3), [1, 0.5, 2 / 3]);
  assert.ok(Number.isNaN(r.perClass[3]));
  assert.throws(() => labelAccuracy([0], [0, 1], 2), /1 predictions for 2/);
  assert.throws(() => labelAccuracy([0], [5], 2), /not in 0..1/);
});

test('shapeAccuracy: both, per attribute and per pair', () => {
  const k = (name: string) => SHAPE_KINDS.indexOf(name as never);
  const c = (name: string) => COLORS.indexOf(name as never);
  const intended: ShapePair[] = [
    { color: 'red', kind: 'circle' },
    { color: 'red', kind: 'circle' },
    { color: 'blue', kind: 'square' },
    { color: 'blue', kind: 'square' },
  ];
  // right; wrong color; wrong kind; right
  const kind = Int32Array.from([k('circle'), k('circle'), k('cross'), k('square')]);
  const color = Int32Array.from([c('red'), c('green'), c('blue'), c('blue')]);
  const r = shapeAccuracy({ kind, color }, intended);
  assert.deepEqual([r.both, r.kind, r.color, r.n], [0.5, 0.75, 0.75, 4]);
  assert.deepEqual(r.perPair, {
    'blue square': { n: 2, both: 0.5, kind: 0.5, color: 1 },
    'red circle': { n: 2, both: 0.5, kind: 1, color: 0.5 },
  });
  assert.deepEqual(
    pairSubsetAccuracy(r, [
      { color: 'red', kind: 'circle' },
      { color: 'white', kind: 'cross' },
    ]),
    { both: 0.5, kind: 1, color: 0.5, n: 2 },
  );
  assert.equal(pairSubsetAccuracy(r, [{ color: 'white', kind: 'cross' }]).n, 0);
  assert.throws(() => shapeAccuracy({ kind, color: color.subarray(1) }, intended), /3 color predictions for 4/);
});

test('parseShapePrompt: captions, bare pairs, plurals, missing attributes, ambiguity', () => {
  assert.deepEqual(parseShapePrompt('a red circle'), { kind: 'circle', color: 'red' });
  assert.deepEqual(parseShapePrompt('a large blue square at the top left'), { kind: 'square', color: 'blue' });
  assert.deepEqual(parseShapePrompt('A Small PURPLE Diamond, in the center.'), { kind: 'diamond', color: 'purple' });
  assert.deepEqual(parseShapePrompt('two white crosses'), { kind: 'cross', color: 'white' });
  assert.deepEqual(parseShapePrompt('something orange'), { kind: null, color: 'orange' });
  assert.deepEqual(parseShapePrompt('a triangle'), { kind: 'triangle', color: null });
  assert.equal(parseShapePrompt('a large thing on the left'), null);
  assert.equal(parseShapePrompt('a reddish circ'), null);
  userError(() => parseShapePrompt('a red and blue circle'), /names 2 colors \(red, blue\)/);
  assert.deepEqual(promptPairs(['a green cross', 'yellow diamond']), [
    { kind: 'cross', color: 'green' },
    { kind: 'diamond', color: 'yellow' },
  ]);
  userError(() => promptPairs(['a green cross', 'a circle']), /"a circle" must name a color/);
});
