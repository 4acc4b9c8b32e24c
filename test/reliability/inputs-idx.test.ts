// idx datasets (issue 19, items 6 and 8): gzip inflation bounded by the size the header declares, headers that lie
// about their size, 0 images, train and test images of different sizes (checked before training), and resizes too
// large to allocate.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { resolveRunConfig } from '../../src/core/config/run-config.ts';
import { registry } from '../../src/core/registry.ts';
import { loadDataset } from '../../src/node/data/datasets.ts';
import { encodeIdx, readIdxImages, readIdxLabels } from '../../src/node/data/idx.ts';
import { trainRun } from '../../src/node/run.ts';
import { userError } from '../helpers/assert.ts';
import { peakRssMiB } from '../helpers/fuzz.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-idx-rel-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const file = path.join(tmp, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
}

function idx3Header(n: number, h: number, w: number): Buffer {
  const b = Buffer.alloc(16);
  [0x803, n, h, w].forEach((v, i) => b.writeUInt32BE(v, 4 * i));
  return b;
}

/** An MNIST-style folder: train and t10k image and label files of n images of h x w each. */
function idxDir(
  name: string,
  train: { n: number; h: number; w: number },
  test: { n: number; h: number; w: number },
): string {
  for (const [stem, s] of [
    ['train', train],
    ['t10k', test],
  ] as const) {
    write(
      `${name}/${stem}-images-idx3-ubyte`,
      encodeIdx(
        Uint8Array.from({ length: s.n * s.h * s.w }, (_, i) => (i * 13) & 255),
        [s.n, s.h, s.w],
      ),
    );
    write(
      `${name}/${stem}-labels-idx1-ubyte`,
      encodeIdx(
        Uint8Array.from({ length: s.n }, (_, i) => i % 10),
        [s.n],
      ),
    );
  }
  return path.join(tmp, name);
}

test('a gzip idx file is inflated no further than its header declares: 256 MiB of zeros behind a 10-image header stops at 7856 bytes', () => {
  // the issue: a 1 MB gzip inflated to 1 GiB before its error. Gzip members concatenate, so 256 one-MiB members of zeros.
  const mib = zlib.gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const file = write(
    'bomb/train-images-idx3-ubyte.gz',
    Buffer.concat([zlib.gzipSync(idx3Header(10, 28, 28)), ...new Array(256).fill(mib)]),
  );
  const before = peakRssMiB();
  userError(
    () => readIdxImages(file),
    /bomb\/train-images-idx3-ubyte\.gz: its gzip data holds more than the 7856 bytes its header declares 10x28x28 uint8 images; is this an idx file\?$/,
  );
  assert.ok(peakRssMiB() - before < 64, `peak memory grew by ${(peakRssMiB() - before).toFixed(0)} MiB`);
});

test('a gzip idx header declaring more than its compressed bytes can hold is refused before inflating', () => {
  // 2^32-1 images of 28x28: about 3 TB, from a 60-byte file
  const file = write(
    'liar/train-images-idx3-ubyte.gz',
    zlib.gzipSync(Buffer.concat([idx3Header(2 ** 32 - 1, 28, 28), Buffer.alloc(100)])),
  );
  userError(
    () => readIdxImages(file),
    /the header declares 4294967295x28x28 uint8 images, \d+ bytes, more than one array can hold/,
  );
  const file2 = write(
    'liar2/train-images-idx3-ubyte.gz',
    zlib.gzipSync(Buffer.concat([idx3Header(60000, 28, 28), Buffer.alloc(100)])),
  );
  userError(
    () => readIdxImages(file2),
    /file is truncated \(the header declares 60000x28x28 uint8 images, 47040016 bytes, more than its \d+ gzip bytes can hold\); re-download it\.$/,
  );
});

test('idx files that declare 0 images or an empty dimension are refused, raw and gzipped', () => {
  userError(
    () => readIdxImages(write('zero/a-idx3', idx3Header(0, 28, 28))),
    /a-idx3: the header declares 0 images; use a file with data in it\.$/,
  );
  userError(
    () => readIdxImages(write('zero/b-idx3.gz', zlib.gzipSync(idx3Header(0, 28, 28)))),
    /the header declares 0 images/,
  );
  userError(
    () => readIdxLabels(write('zero/c-idx1', encodeIdx(new Uint8Array(0), [0]))),
    /the header declares 0 labels/,
  );
  userError(
    () => readIdxImages(write('zero/d-idx3', idx3Header(5, 0, 28))),
    /the header declares 5x0x28 uint8 images, with an empty dimension/,
  );
  const dir = idxDir('zero-ds', { n: 4, h: 3, w: 3 }, { n: 2, h: 3, w: 3 });
  write('zero-ds/train-images-idx3-ubyte', idx3Header(0, 3, 3));
  write('zero-ds/train-labels-idx1-ubyte', encodeIdx(new Uint8Array(0), [0]));
  userError(
    () => loadDataset('mnist', { split: 'train', dataDir: dir }),
    /train-images-idx3-ubyte: the header declares 0 images/,
  );
});

test('train and test images of different sizes are refused before training, with no checkpoint written', async () => {
  const dir = idxDir('mismatch', { n: 32, h: 28, w: 28 }, { n: 8, h: 32, w: 32 });
  const out = path.join(tmp, 'mismatch-run');
  const config = resolveRunConfig(
    'vae',
    [
      {
        model: registry.vae.tinyPreset,
        data: { dataset: 'mnist', dataDir: dir, preprocess: 'scale01' },
        train: { steps: 2, batchSize: 16, logEvery: 100, sampleEvery: 0, checkpointEvery: 0 },
      },
    ],
    [],
  );
  await assert.rejects(
    trainRun({ config, out, backend: 'cpu', quiet: true, log: () => {} }),
    /^UserError: Train and test images differ in size: mnist\/train is 28x28x1 but mnist\/test is 32x32x1; use both splits of one dataset release, or pass --size N to resize both\.$/,
  );
  assert.ok(!fs.existsSync(path.join(out, 'config.json')), 'nothing was trained or saved');
});

test('a resize too large to allocate (4097 images to 1024x1024) is a UserError, not an allocation failure', () => {
  const dir = idxDir('big', { n: 4097, h: 1, w: 1 }, { n: 1, h: 1, w: 1 });
  userError(
    () => loadDataset('mnist', { split: 'train', dataDir: dir, size: 1024 }),
    /^Cannot resize mnist\/train to 1024x1024: 4097 images would take 4\.0 GiB; use fewer images \(--train-n\/--test-n\) or a smaller --size\.$/,
  );
});
