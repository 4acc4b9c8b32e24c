// Tests for image grids, side-by-side concatenation and float -> uint8 conversion.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatHorizontal, floatsToUint8, makeGrid, toChannels, upscale } from '../../src/core/viz/grid.ts';

/** n images of h x w x c where every value of image i is i + 1 (so pad 255 is distinguishable). */
function batch(n: number, h: number, w: number, c: number): Uint8Array {
  const out = new Uint8Array(n * h * w * c);
  for (let i = 0; i < n; i++) out.fill(i + 1, i * h * w * c, (i + 1) * h * w * c);
  return out;
}

test('makeGrid places image i at (pad + row*(h+pad), pad + col*(w+pad))', () => {
  const [n, h, w, c, pad] = [5, 2, 3, 1, 1];
  const g = makeGrid(batch(n, h, w, c), n, h, w, c, { cols: 3, pad, padValue: 0 });
  assert.equal(g.width, 3 * w + 4 * pad);
  assert.equal(g.height, 2 * h + 3 * pad);
  assert.equal(g.channels, 1);
  const at = (y: number, x: number) => g.data[y * g.width + x];
  for (let i = 0; i < n; i++) {
    const y0 = pad + Math.floor(i / 3) * (h + pad);
    const x0 = pad + (i % 3) * (w + pad);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) assert.equal(at(y0 + y, x0 + x), i + 1, `image ${i} at ${y},${x}`);
    assert.equal(at(y0 - 1, x0), 0, 'pad above');
    assert.equal(at(y0, x0 - 1), 0, 'pad left');
  }
  // The sixth cell is empty: pad value.
  assert.equal(at(pad + h + pad, pad + 2 * (w + pad)), 0);
  // Everything not inside an image is pad.
  const inside = n * h * w;
  assert.equal(g.data.filter((v) => v !== 0).length, inside);
});

test('makeGrid defaults: square-ish layout, pad 2, white border, RGB pixels kept in order', () => {
  const img = new Uint8Array([10, 20, 30, 40, 50, 60]); // two 1x1 RGB images
  const g = makeGrid(img, 2, 1, 1, 3);
  assert.deepEqual([g.height, g.width, g.channels], [5, 8, 3]);
  const px = (y: number, x: number) => Array.from(g.data.subarray((y * g.width + x) * 3, (y * g.width + x) * 3 + 3));
  assert.deepEqual(px(2, 2), [10, 20, 30]);
  assert.deepEqual(px(2, 5), [40, 50, 60]);
  assert.deepEqual(px(0, 0), [255, 255, 255]);
  assert.throws(() => makeGrid(img, 3, 1, 1, 3), /expected 3x1x1x3 = 9 values, got 6/);
});

test('concatHorizontal puts images side by side, fills the shorter, widens gray', () => {
  const a = { data: new Uint8Array([1, 2, 3, 4]), height: 2, width: 2, channels: 1 };
  const b = { data: new Uint8Array([9, 9, 9]), height: 1, width: 1, channels: 3 };
  const g = concatHorizontal([a, b], { pad: 1, padValue: 0 });
  assert.deepEqual([g.height, g.width, g.channels], [2, 4, 3]);
  const px = (y: number, x: number) => Array.from(g.data.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3));
  assert.deepEqual(px(0, 0), [1, 1, 1]);
  assert.deepEqual(px(1, 1), [4, 4, 4]);
  assert.deepEqual(px(0, 2), [0, 0, 0]);
  assert.deepEqual(px(0, 3), [9, 9, 9]);
  assert.deepEqual(px(1, 3), [0, 0, 0]);
  assert.deepEqual(Array.from(toChannels(a, 4).data.subarray(0, 8)), [1, 1, 1, 255, 2, 2, 2, 255]);
});

test('floatsToUint8 maps ranges, clamps and zeroes NaN', () => {
  assert.deepEqual(Array.from(floatsToUint8([0, 0.5, 1, -3, 7, NaN])), [0, 128, 255, 0, 255, 0]);
  assert.deepEqual(Array.from(floatsToUint8(new Float32Array([-1, 0, 1]), -1, 1)), [0, 128, 255]);
});

test('upscale: each pixel becomes a k x k block of the same colour; k = 1 is the identity; k = 0 is rejected', () => {
  // 2x3 RGB image with distinct pixels
  const im = { data: Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i * 7), height: 2, width: 3, channels: 3 };
  const big = upscale(im, 3);
  assert.equal(big.height, 6);
  assert.equal(big.width, 9);
  for (let y = 0; y < 6; y++) {
    for (let x = 0; x < 9; x++) {
      for (let ch = 0; ch < 3; ch++) {
        assert.equal(
          big.data[(y * 9 + x) * 3 + ch],
          im.data[(Math.floor(y / 3) * 3 + Math.floor(x / 3)) * 3 + ch],
          `(${y},${x},${ch})`,
        );
      }
    }
  }
  assert.equal(upscale(im, 1), im);
  assert.throws(() => upscale(im, 0), /scale must be an integer >= 1/);
});
