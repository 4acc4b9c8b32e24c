// Dataset registry for the CLI: resolves a spec (fashion-mnist, mnist, shapes, emoji, folder:PATH) to an ImageDataset.
// Also describes which datasets are available on this machine, for `deepgen datasets`.

import * as buffer from 'node:buffer';
import * as fs from 'node:fs';
import { take } from '../../core/data/batches.ts';
import {
  DEFAULT_SHAPES_SIZE,
  generateShapes,
  holdOutShapes,
  parseShapePairs,
  SHAPE_KINDS,
} from '../../core/data/shapes.ts';
import type { ImageDataset } from '../../core/data/types.ts';
import { UserError } from '../../core/errors.ts';
import { Rng } from '../../core/tensor/rng.ts';
import { centerCropResize, loadImageFolder } from './image-folder.ts';
import { hasIdxDataset, loadIdxDataset } from './idx.ts';
import { EMOJI_LICENCES, EMOJI_SPECS, emojiDir, emojiSummary, hasEmoji, loadEmoji } from './emoji.ts';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const MNIST_DIR = '/usr/share/datasets/mnist';
export const SHAPES_DEFAULT_N = { train: 20000, test: 2000 } as const;
export const DATASET_NAMES = ['fashion-mnist', 'mnist', 'shapes', ...EMOJI_SPECS, 'folder:PATH'] as const;

export interface LoadDatasetOptions {
  split: 'train' | 'test';
  /** Directory of idx files (fashion-mnist, mnist), or the emoji folder (default <cache>/datasets/emoji). */
  dataDir?: string;
  /** Square image side; idx datasets are resized from 28 when it differs. */
  size?: number;
  /** Keep at most n images (for shapes: generate exactly n). */
  n?: number;
  /** Generation seed for shapes (train uses it, test a derived one). Default 0. */
  seed?: number;
  /** Channels for folder:PATH. Default 3. */
  channels?: 1 | 3;
  /** shapes only: "<color> <kind>" pairs whose images are removed from the train split (the test split keeps them). */
  holdOut?: readonly string[];
  /** emoji only: include the skin-tone variants (default: the base emoji). */
  skinTones?: boolean;
  /** folder:PATH only: refuse larger images before decoding (default: $DEEPGEN_MAX_IMAGE_PIXELS, else 2^25). */
  maxImagePixels?: number;
}

export interface DatasetInfo {
  name: string;
  available: boolean;
  where: string;
  description: string;
  shape: string;
}

/** The seed of the shapes test split: derived from the train seed so the splits never share images by construction. */
export function shapesTestSeed(seed: number): number {
  return new Rng(seed).split().seed() ^ 0x2545f491;
}

function resizeDataset(ds: ImageDataset, size: number): ImageDataset {
  if (ds.height === size && ds.width === size) return ds;
  const plane = ds.height * ds.width * ds.channels;
  const outPlane = size * size * ds.channels;
  const bytes = ds.n * outPlane;
  const tooBig = () =>
    new UserError(
      `Cannot resize ${ds.name} to ${size}x${size}: ${ds.n} images would take ${(bytes / 2 ** 30).toFixed(1)} GiB; use fewer images (--train-n/--test-n) or a smaller --size.`,
    );
  if (bytes > buffer.constants.MAX_LENGTH) throw tooBig();
  let images: Uint8Array;
  try {
    images = new Uint8Array(bytes);
  } catch (e) {
    if (e instanceof RangeError) throw tooBig();
    throw e;
  }
  for (let i = 0; i < ds.n; i++) {
    const img = ds.images.subarray(i * plane, (i + 1) * plane);
    images.set(centerCropResize(img, ds.height, ds.width, ds.channels, size), i * outPlane);
  }
  return { ...ds, height: size, width: size, images };
}

function checkSize(size: number | undefined): void {
  if (size !== undefined && (!Number.isInteger(size) || size < 8 || size > 1024)) {
    throw new UserError(`Invalid image size ${size}: it must be an integer from 8 to 1024 (e.g. --size 32).`);
  }
}

function checkN(n: number | undefined): void {
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
    throw new UserError(`Invalid image count ${n}: it must be a positive integer (e.g. --n 1000).`);
  }
}

function loadIdx(kind: 'fashion-mnist' | 'mnist', dir: string, opts: LoadDatasetOptions): ImageDataset {
  let ds = loadIdxDataset(dir, opts.split, { kind });
  if (opts.n !== undefined) ds = take(ds, opts.n);
  if (opts.size !== undefined) ds = resizeDataset(ds, opts.size);
  return ds;
}

/** Loads the named dataset split; every bad name, path or option is a UserError. */
export function loadDataset(spec: string, opts: LoadDatasetOptions): ImageDataset {
  checkSize(opts.size);
  checkN(opts.n);
  if (opts.split !== 'train' && opts.split !== 'test') {
    throw new UserError(`Invalid split "${String(opts.split)}": use train or test.`);
  }
  const holdOut = opts.holdOut?.length ? parseShapePairs(opts.holdOut) : [];
  if (holdOut.length && spec !== 'shapes')
    throw new UserError(`Hold-out pairs only apply to the shapes dataset, not ${spec}; drop data.holdOut.`);
  if (opts.skinTones && !spec.startsWith('emoji'))
    throw new UserError(`Skin tones only apply to the emoji data sets, not ${spec}; drop data.skinTones.`);
  if (spec === 'fashion-mnist') {
    const dir = opts.dataDir ?? FASHION_MNIST_DIR;
    if (!opts.dataDir && !hasIdxDataset(dir)) {
      throw new UserError(
        `Fashion-MNIST is not installed at ${dir}; run \`apt-get install dataset-fashion-mnist\` or pass --data-dir DIR holding the idx files.`,
      );
    }
    return loadIdx('fashion-mnist', dir, opts);
  }
  if (spec === 'mnist') {
    const dir = opts.dataDir ?? (fs.existsSync(MNIST_DIR) ? MNIST_DIR : undefined);
    if (!dir) {
      throw new UserError(
        `MNIST needs its idx files: pass --data-dir DIR holding train-images-idx3-ubyte(.gz) and friends (nothing found at ${MNIST_DIR}).`,
      );
    }
    return loadIdx('mnist', dir, opts);
  }
  if (spec === 'shapes') {
    const seed = opts.seed ?? 0;
    let ds = generateShapes({
      n: opts.n ?? SHAPES_DEFAULT_N[opts.split],
      seed: opts.split === 'train' ? seed : shapesTestSeed(seed),
      size: opts.size ?? DEFAULT_SHAPES_SIZE,
    });
    // held-out pairs leave the train split only, so a model can be tested on combinations it never saw
    if (opts.split === 'train') ds = holdOutShapes(ds, holdOut);
    return { ...ds, name: `shapes/${opts.split}` };
  }
  if ((EMOJI_SPECS as readonly string[]).includes(spec)) {
    return loadEmoji(spec, {
      split: opts.split,
      size: opts.size,
      n: opts.n,
      skinTones: opts.skinTones,
      dir: opts.dataDir,
    });
  }
  if (spec.startsWith('folder:')) {
    const dir = spec.slice('folder:'.length);
    if (!dir) throw new UserError('Empty folder path in "folder:": write folder:PATH, e.g. folder:./my-images.');
    let ds = loadImageFolder(dir, {
      size: opts.size ?? 32,
      channels: opts.channels ?? 3,
      split: opts.split,
      maxPixels: opts.maxImagePixels,
    });
    if (opts.n !== undefined) ds = take(ds, opts.n);
    return ds;
  }
  throw new UserError(`Unknown dataset "${spec}"; use one of: ${DATASET_NAMES.join(', ')} (see \`deepgen datasets\`).`);
}

/** Throws when a run's train and test images differ in shape: checked before training, as the test split is used after it. */
export function checkSameImageShape(train: ImageDataset, test: ImageDataset): void {
  const shape = (d: ImageDataset) => `${d.height}x${d.width}x${d.channels}`;
  if (shape(train) !== shape(test)) {
    throw new UserError(
      `Train and test images differ in size: ${train.name} is ${shape(train)} but ${test.name} is ${shape(test)}; use both splits of one dataset release, or pass --size N to resize both.`,
    );
  }
}

/** What `deepgen datasets` prints: every known dataset and whether it can be loaded here. */
export function listDatasets(): DatasetInfo[] {
  const mnistHere = hasIdxDataset(MNIST_DIR);
  return [
    {
      name: 'fashion-mnist',
      available: hasIdxDataset(FASHION_MNIST_DIR),
      where: FASHION_MNIST_DIR,
      description: 'Zalando Fashion-MNIST: 10 clothing classes (apt-get install dataset-fashion-mnist, or --data-dir)',
      shape: '28x28x1, 60000 train / 10000 test, 10 classes, captions',
    },
    {
      name: 'mnist',
      available: mnistHere,
      where: mnistHere ? MNIST_DIR : '--data-dir DIR',
      description: 'MNIST handwritten digits from idx files',
      shape: '28x28x1, 60000 train / 10000 test, 10 classes, captions',
    },
    {
      name: 'shapes',
      available: true,
      where: 'generated (seeded)',
      description: `procedural colored shapes (${SHAPE_KINDS.join(', ')}) with attribute captions`,
      shape: `${DEFAULT_SHAPES_SIZE}x${DEFAULT_SHAPES_SIZE}x3 (--size), ${SHAPES_DEFAULT_N.train} train / ${SHAPES_DEFAULT_N.test} test, ${SHAPE_KINDS.length} classes, captions`,
    },
    emojiInfo(),
    {
      name: 'folder:PATH',
      available: true,
      where: 'any directory of .png/.jpg files',
      description: 'your own images; class subfolders become labels; last 10% of each class is the test split',
      shape: '32x32x3 by default (--size)',
    },
  ];
}

function emojiInfo(): DatasetInfo {
  const here = hasEmoji();
  const s = here ? emojiSummary() : undefined;
  return {
    name: 'emoji',
    available: here,
    where: here ? emojiDir() : 'deepgen datasets get emoji',
    description:
      'Noto and Twemoji emoji (also emoji-google, emoji-twitter): captions from their names, the 9 categories as labels; ' +
      Object.values(EMOJI_LICENCES).join('; '),
    shape: s
      ? `32x32x3 (--size 64), ${s.train} train / ${s.test} test (${s.heldOutNames} of ${s.names} names held out), 9 classes, captions`
      : '32x32x3 (--size 64), about 3,400 train / 400 test, 9 classes, captions',
  };
}
