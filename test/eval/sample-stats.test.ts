// The one-shot comparison's statistics against hand-computed cases: mean image, per-pixel variance, sharpness, distance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanImage, pixelVariance, rmsDistance, sharpness } from '../../src/core/eval/sample-stats.ts';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('mean image and per-pixel variance: identical images have none; two opposite images 0.25', () => {
  const a = [0, 1, 0, 1],
    b = [1, 0, 1, 0];
  assert.deepEqual(Array.from(meanImage([...a, ...b], 2)), [0.5, 0.5, 0.5, 0.5]);
  close(pixelVariance([...a, ...a, ...a], 3), 0);
  close(pixelVariance([...a, ...b], 2), 0.25); // each pixel is 0 or 1 with equal weight
  close(pixelVariance([0, 0, 0.5, 0.5], 2), 0.0625); // 2-pixel images 0 and 0.5: mean 0.25, variance 0.25^2
  assert.throws(() => meanImage([1, 2, 3], 2), /not 2 images/);
});

test('edge sharpness: flat images 0, a step 1, the step blurred over two pixels 0.5, faint noise hardly counts', () => {
  close(sharpness(new Float32Array(2 * 3 * 3).fill(0.7), 2, 3, 3, 1), 0);
  // 3x3 columns 0, 0, 1: gradients at the 2x2 positions 0, 1, 0, 1; the top 5% (one of four) is 1
  close(sharpness([0, 0, 1, 0, 0, 1, 0, 0, 1], 1, 3, 3, 1), 1);
  // the same step spread over two columns: 0, 0.5, 1 -> every gradient 0.5
  close(sharpness([0, 0.5, 1, 0, 0.5, 1, 0, 0.5, 1], 1, 3, 3, 1), 0.5);
  // a 2x2 image has one position; a corner step there has dx = dy = 1 -> sqrt(2)
  close(sharpness([0, 1, 1, 1], 1, 2, 2, 1), Math.SQRT2);
  // top = 1: the plain mean over positions, (0 + 1 + 0 + 1) / 4
  close(sharpness([0, 0, 1, 0, 0, 1, 0, 0, 1], 1, 3, 3, 1, 1), 0.5);
  // a 20x20 image with one sharp vertical edge and +-0.01 noise: the edge decides, not the noise
  const im = Float32Array.from(
    { length: 400 },
    (_, i) => (i % 20 >= 10 ? 0.8 : 0.1) + (((i * 7919) % 13) / 13 - 0.5) * 0.02,
  );
  const s = sharpness(im, 1, 20, 20, 1);
  assert.ok(s > 0.6 && s < 0.8, `edge sharpness ${s}`);
  // images are averaged
  close(sharpness([0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0.5, 1, 0, 0.5, 1, 0, 0.5, 1], 2, 3, 3, 1), 0.75);
});

test('rms distance to a target: 0 for the target itself, |a - t| for constant offsets, averaged over images', () => {
  close(rmsDistance([0.2, 0.4], 1, [0.2, 0.4]), 0);
  close(rmsDistance([0.5, 0.5, 0, 1], 2, [0.5, 0.5]), 0.25); // (0 + 0.5) / 2
  assert.throws(() => rmsDistance([1, 2, 3], 2, [0, 0]), /not 2 images/);
});
