// Tests for the idx reader: raw and gzip round trips, and every malformed-file error.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { UserError } from '../../src/core/errors.ts';
import { encodeIdx, loadIdxDataset, readIdxImages, readIdxLabels } from '../../src/node/data/idx.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-idx-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const N = 6;
const H = 4;
const W = 3;
const pixels = Uint8Array.from({ length: N * H * W }, (_, i) => (i * 7) % 256);
const labelValues = Uint8Array.from([0, 9, 3, 3, 7, 1]);

function write(name: string, data: Uint8Array): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, data);
  return p;
}

// Asserts fn throws a one-line UserError whose message names file and matches re.
function throwsNaming(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${String(e)}`);
    assert.ok(e.message.includes(file), `message should name ${file}: ${e.message}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'message must be one line');
    return true;
  });
}

test('idx: raw and gzip round trips', () => {
  const raw = write('imgs-raw', encodeIdx(pixels, [N, H, W]));
  const gz = write('imgs.gz', zlib.gzipSync(encodeIdx(pixels, [N, H, W])));
  for (const p of [raw, gz]) {
    const img = readIdxImages(p);
    assert.deepEqual({ n: img.n, h: img.h, w: img.w }, { n: N, h: H, w: W });
    assert.deepEqual(img.data, pixels);
  }
  const lab = readIdxLabels(write('labels.gz', zlib.gzipSync(encodeIdx(labelValues, [N]))));
  assert.equal(lab.n, N);
  assert.deepEqual([...lab.labels], [...labelValues]);
});

test('idx: missing file', () => {
  const p = path.join(tmp, 'nope-images-idx3-ubyte.gz');
  throwsNaming(() => readIdxImages(p), p, /apt-get install dataset-fashion-mnist|--data-dir/);
});

test('idx: wrong magic number', () => {
  const bad = encodeIdx(pixels, [N, H, W]);
  bad.writeUInt32BE(0, 0);
  const p = write('bad-magic', bad);
  throwsNaming(
    () => readIdxImages(p),
    p,
    /wrong magic number 0x00000000 \(expected 0x00000803 for idx3 uint8 images\)/,
  );
  // A label file is not an image file.
  const l = write('labels-as-images', encodeIdx(labelValues, [N]));
  throwsNaming(() => readIdxImages(l), l, /0x00000801.*expected 0x00000803/);
  throwsNaming(() => readIdxLabels(p), p, /expected 0x00000801/);
});

test('idx: truncated file and trailing bytes', () => {
  const full = encodeIdx(pixels, [N, H, W]);
  const p = write('truncated.gz', zlib.gzipSync(full.subarray(0, full.length - 5)));
  throwsNaming(() => readIdxImages(p), p, new RegExp(`truncated.*${full.length} bytes, got ${full.length - 5}`));
  const h = write('short-header', full.subarray(0, 10));
  throwsNaming(() => readIdxImages(h), h, /truncated/);
  const long = write('long', Buffer.concat([full, Buffer.from([1, 2])]));
  throwsNaming(() => readIdxImages(long), long, /trailing bytes/);
});

test('idx: corrupt gzip', () => {
  const gz = zlib.gzipSync(encodeIdx(pixels, [N, H, W]));
  const p = write('corrupt.gz', gz.subarray(0, gz.length / 2));
  throwsNaming(() => readIdxImages(p), p, /gzip/);
});

test('idx: label out of range', () => {
  const p = write('bad-labels', encodeIdx(Uint8Array.of(1, 2, 10), [3]));
  throwsNaming(() => readIdxLabels(p), p, /label 10 at index 2 is out of range 0\.\.9/);
});

test('idx: loadIdxDataset finds split files and checks counts', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'fm-'));
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte.gz'), zlib.gzipSync(encodeIdx(pixels, [N, H, W])));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx(labelValues, [N]));
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), encodeIdx(pixels.subarray(0, 2 * H * W), [2, H, W]));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), zlib.gzipSync(encodeIdx(labelValues, [N])));

  const ds = loadIdxDataset(dir, 'train');
  assert.equal(ds.name, 'fashion-mnist/train');
  assert.deepEqual([ds.n, ds.height, ds.width, ds.channels], [N, H, W, 1]);
  assert.deepEqual(ds.images, pixels);
  assert.deepEqual([...ds.labels!], [...labelValues]);
  assert.equal(ds.classNames![9], 'Ankle boot');
  assert.deepEqual(ds.captions!.slice(0, 3), ['t-shirt/top', 'ankle boot', 'dress']);
  const mn = loadIdxDataset(dir, 'train', { kind: 'mnist' });
  assert.equal(mn.classNames![9], '9');
  assert.equal(mn.captions![1], 'digit 9');

  const imgs = path.join(dir, 't10k-images-idx3-ubyte');
  const labs = path.join(dir, 't10k-labels-idx1-ubyte.gz');
  assert.throws(
    () => loadIdxDataset(dir, 'test'),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.ok(e.message.includes(imgs) && e.message.includes(labs), e.message);
      assert.match(e.message, /2 images.*6 labels/);
      return true;
    },
  );
  throwsNaming(
    () => loadIdxDataset(path.join(tmp, 'missing-dir'), 'train'),
    path.join(tmp, 'missing-dir'),
    /--data-dir/,
  );
});
