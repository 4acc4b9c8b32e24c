// Tests for the dataset registry: shapes splits, folder specs, unknown names and the installed Fashion-MNIST.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { UserError } from '../../src/core/errors.ts';
import { FASHION_MNIST_DIR, listDatasets, loadDataset } from '../../src/node/data/datasets.ts';

test('datasets: shapes train and test differ and honor n/size', () => {
  const train = loadDataset('shapes', { split: 'train', n: 50, seed: 1 });
  const test_ = loadDataset('shapes', { split: 'test', n: 50, seed: 1 });
  assert.equal(train.name, 'shapes/train');
  assert.deepEqual([train.n, train.height, train.channels], [50, 32, 3]);
  assert.notDeepEqual(train.images, test_.images);
  assert.deepEqual(loadDataset('shapes', { split: 'train', n: 50, seed: 1 }).images, train.images);
  assert.equal(loadDataset('shapes', { split: 'test', n: 3, size: 16 }).height, 16);
  assert.equal(loadDataset('shapes', { split: 'test' }).n, 2000);
});

test('datasets: folder spec and errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-ds-'));
  try {
    for (let i = 0; i < 20; i++) {
      const png = new PNG({ width: 5, height: 5 });
      png.data.fill(255);
      fs.writeFileSync(path.join(dir, `im${String(i).padStart(2, '0')}.png`), PNG.sync.write(png));
    }
    assert.equal(loadDataset(`folder:${dir}`, { split: 'train', size: 8 }).n, 18);
    const t = loadDataset(`folder:${dir}`, { split: 'test', size: 8, channels: 1 });
    assert.deepEqual([t.n, t.height, t.channels], [2, 8, 1]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(
    () => loadDataset('cifar', { split: 'train' }),
    (e: unknown) =>
      e instanceof UserError &&
      /fashion-mnist, mnist, shapes, emoji, emoji-google, emoji-twitter, folder:PATH/.test(e.message),
  );
  assert.throws(() => loadDataset('folder:', { split: 'train' }), UserError);
  assert.throws(() => loadDataset('shapes', { split: 'train', n: 0 }), UserError);
  assert.throws(
    () => loadDataset('fashion-mnist', { split: 'train', dataDir: '/nonexistent/fm' }),
    (e: unknown) => e instanceof UserError && e.message.includes('/nonexistent/fm'),
  );
});

test('datasets: listDatasets describes every dataset', () => {
  const list = listDatasets();
  assert.deepEqual(
    list.map((d) => d.name),
    ['fashion-mnist', 'mnist', 'shapes', 'emoji', 'folder:PATH'],
  );
  assert.equal(list.find((d) => d.name === 'shapes')!.available, true);
  assert.equal(list[0].available, fs.existsSync(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')));
});

test('datasets: installed Fashion-MNIST test split (CI installs dataset-fashion-mnist)', () => {
  assert.ok(
    fs.existsSync(FASHION_MNIST_DIR),
    `${FASHION_MNIST_DIR} is missing; install it with \`apt-get install dataset-fashion-mnist\``,
  );
  const ds = loadDataset('fashion-mnist', { split: 'test' });
  assert.deepEqual([ds.n, ds.height, ds.width, ds.channels], [10000, 28, 28, 1]);
  assert.equal(ds.images.length, 10000 * 28 * 28);
  assert.ok(ds.labels!.every((l) => l >= 0 && l <= 9));
  assert.equal(new Set(ds.labels).size, 10);
  assert.equal(ds.classNames!.length, 10);
  const small = loadDataset('fashion-mnist', { split: 'test', n: 10, size: 32 });
  assert.deepEqual([small.n, small.height, small.width], [10, 32, 32]);
});
