// Tests for loading a folder of PNG/JPEG images: decoding, crop/resize, class subfolders and errors.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { UserError } from '../../src/core/errors.ts';
import { centerCropResize, loadImageFolder } from '../../src/node/data/image-folder.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-folder-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function rgba(w: number, h: number, f: (x: number, y: number) => [number, number, number, number?]): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b, a = 255] = f(x, y);
      data.set([r, g, b, a], (y * w + x) * 4);
    }
  }
  return data;
}

function writePng(
  file: string,
  w: number,
  h: number,
  f: (x: number, y: number) => [number, number, number, number?],
): void {
  const png = new PNG({ width: w, height: h });
  png.data = rgba(w, h, f);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, PNG.sync.write(png));
}

function writeJpeg(file: string, w: number, h: number, f: (x: number, y: number) => [number, number, number]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, jpeg.encode({ width: w, height: h, data: rgba(w, h, f) }, 95).data);
}

test('image folder: flat folder, crop and resize to size x size', () => {
  const dir = path.join(tmp, 'flat');
  // 16x8: center crop keeps x in 4..11; left half of the crop red, right half blue.
  writePng(path.join(dir, 'a.png'), 16, 8, (x) => (x < 8 ? [255, 0, 0] : [0, 0, 255]));
  writeJpeg(path.join(dir, 'b.jpg'), 8, 8, () => [0, 200, 0]);
  writePng(path.join(dir, 'c.PNG'), 4, 4, () => [100, 100, 100, 0]); // fully transparent -> background
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
  const ds = loadImageFolder(dir, { size: 4, channels: 3 });
  assert.deepEqual([ds.n, ds.height, ds.width, ds.channels], [3, 4, 4, 3]);
  assert.equal(ds.labels, undefined);
  const px = (i: number, x: number, y: number) => [
    ...ds.images.subarray((i * 16 + y * 4 + x) * 3, (i * 16 + y * 4 + x) * 3 + 3),
  ];
  assert.deepEqual(px(0, 0, 0), [255, 0, 0]);
  assert.deepEqual(px(0, 3, 3), [0, 0, 255]);
  const g = px(1, 2, 2);
  assert.ok(Math.abs(g[0]) < 8 && Math.abs(g[1] - 200) < 8 && g[2] < 8, `jpeg green ${g}`);
  assert.deepEqual(px(2, 1, 1), [0, 0, 0]);

  const gray = loadImageFolder(dir, { size: 2, channels: 1 });
  assert.equal(gray.images.length, 3 * 4);
  assert.equal(gray.images[0], Math.round(0.299 * 255)); // red -> luma
});

test('image folder: area averaging and bilinear upsampling', () => {
  // 4x4 checkerboard of 2x2 blocks averaged to 1x1.
  const src = Uint8Array.from({ length: 16 }, (_, i) => (((Math.floor(i / 4) >> 1) + ((i % 4) >> 1)) % 2 ? 200 : 0));
  assert.deepEqual([...centerCropResize(src, 4, 4, 1, 2)], [0, 200, 200, 0]);
  assert.deepEqual([...centerCropResize(src, 4, 4, 1, 1)], [100]);
  const up = centerCropResize(Uint8Array.of(0, 100), 1, 2, 1, 2); // crops to 1x1
  assert.deepEqual([...up], [0, 0, 0, 0]);
  const ramp = centerCropResize(Uint8Array.of(0, 100, 0, 100), 2, 2, 1, 4);
  assert.deepEqual([...ramp.subarray(0, 4)], [0, 25, 75, 100]);
});

test('image folder: subfolders become classes; train/test split', () => {
  const dir = path.join(tmp, 'classes');
  for (let i = 0; i < 10; i++) writePng(path.join(dir, 'cats', `c${i}.png`), 6, 6, () => [i * 20, 0, 0]);
  for (let i = 0; i < 3; i++) writeJpeg(path.join(dir, 'big_dogs', `d${i}.jpeg`), 6, 6, () => [0, 0, 250]);
  fs.mkdirSync(path.join(dir, 'empty'));
  const all = loadImageFolder(dir, { size: 3, channels: 3 });
  assert.equal(all.n, 13);
  assert.deepEqual(all.classNames, ['big_dogs', 'cats']);
  assert.deepEqual([...all.labels!], [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.equal(all.captions![0], 'big dogs');
  const test_ = loadImageFolder(dir, { size: 3, channels: 3, split: 'test' });
  const train = loadImageFolder(dir, { size: 3, channels: 3, split: 'train' });
  assert.equal(test_.n, 2); // last of each class
  assert.equal(train.n, 11);
  assert.deepEqual([...test_.labels!], [0, 1]);
  assert.equal(test_.images[3 * 9], 180); // cats/c9.png
});

test('image folder: errors name the problem', () => {
  const missing = path.join(tmp, 'missing');
  assert.throws(
    () => loadImageFolder(missing, { size: 8, channels: 3 }),
    (e: unknown) => e instanceof UserError && e.message.includes(missing),
  );
  const empty = path.join(tmp, 'empty-dir');
  fs.mkdirSync(empty);
  assert.throws(
    () => loadImageFolder(empty, { size: 8, channels: 3 }),
    (e: unknown) => e instanceof UserError && /No images found/.test(e.message),
  );
  const bad = path.join(tmp, 'bad');
  writePng(path.join(bad, 'ok.png'), 2, 2, () => [1, 2, 3]);
  const badFile = path.join(bad, 'zz-broken.png');
  const good = fs.readFileSync(path.join(bad, 'ok.png'));
  fs.writeFileSync(badFile, good.subarray(0, 30));
  assert.throws(
    () => loadImageFolder(bad, { size: 2, channels: 3 }),
    (e: unknown) => e instanceof UserError && e.message.includes(badFile) && !e.message.includes('\n'),
  );
  fs.writeFileSync(badFile, 'not an image at all');
  assert.throws(
    () => loadImageFolder(bad, { size: 2, channels: 3 }),
    (e: unknown) => e instanceof UserError && e.message.includes(badFile),
  );
});
