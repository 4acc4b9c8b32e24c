// Reader (and tiny writer) for the idx format used by MNIST and Fashion-MNIST, gzipped or raw.
// Every malformed-input case becomes a one-line UserError naming the file.

import * as buffer from 'node:buffer';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { oneLine, UserError } from '../../core/errors.ts';
import type { ImageDataset } from '../../core/data/types.ts';

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export type IdxKind = 'fashion-mnist' | 'mnist';

export interface IdxImages {
  n: number;
  h: number;
  w: number;
  /** n * h * w uint8 pixels, row-major. */
  data: Uint8Array;
}

export interface IdxLabels {
  n: number;
  labels: Int32Array;
}

const hex = (v: number) => '0x' + (v >>> 0).toString(16).padStart(8, '0');

/** Deflate expands data at most 1032:1, so a gzip file cannot hold more than this many bytes per compressed byte. */
const MAX_DEFLATE_RATIO = 1032;
/** Compressed bytes inflated to read an idx header: at most ~4 MB out, and far more than any gzip header plus block header. */
const HEAD_PREFIX = 4096;

const isGzip = (raw: Uint8Array) => raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;

function readRaw(file: string): Buffer {
  if (!fs.existsSync(file)) {
    throw new UserError(
      `Cannot find ${file}: no such file; pass --data-dir DIR holding the idx files (for Fashion-MNIST: \`apt-get install dataset-fashion-mnist\`).`,
    );
  }
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`Cannot read ${file}: ${(e as Error).message}; check that it is a readable file.`);
  }
}

const corruptGzip = (file: string, e: unknown) =>
  new UserError(
    `Cannot read ${file}: corrupt gzip data (${oneLine(String((e as Error).message))}); re-download or re-install the file.`,
  );

/** The first bytes of a gzip file's contents, from a bounded inflate of its head (Z_SYNC_FLUSH accepts the cut input). */
function gunzipHead(file: string, raw: Uint8Array): Uint8Array {
  try {
    return zlib.gunzipSync(raw.subarray(0, HEAD_PREFIX), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  } catch (e) {
    throw corruptGzip(file, e);
  }
}

interface IdxHeader {
  dims: number[];
  headerLen: number;
  /** Bytes of the whole (decompressed) file the header declares. */
  total: number;
}

// Checks magic and dims from the first bytes of the (decompressed) file.
function parseHeader(file: string, head: Uint8Array, magic: number, what: string): IdxHeader {
  const ndim = magic & 0xff;
  const headerLen = 4 + 4 * ndim;
  if (head.length < 4) {
    throw new UserError(
      `Cannot read ${file}: file is truncated (${head.length} bytes, shorter than the 4-byte idx magic); re-download it.`,
    );
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const got = view.getUint32(0, false);
  if (got !== magic) {
    throw new UserError(
      `Cannot read ${file}: wrong magic number ${hex(got)} (expected ${hex(magic)} for idx${ndim} ${what}); is this an idx file?`,
    );
  }
  if (head.length < headerLen) {
    throw new UserError(
      `Cannot read ${file}: file is truncated (expected at least ${headerLen} header bytes, got ${head.length}); re-download it.`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  if (dims[0] === 0)
    throw new UserError(
      `Cannot read ${file}: the header declares 0 ${what.split(' ').pop()}; use a file with data in it.`,
    );
  if (dims.some((d) => d === 0))
    throw new UserError(
      `Cannot read ${file}: the header declares ${dims.join('x')} ${what}, with an empty dimension; is this the right file?`,
    );
  return { dims, headerLen, total: headerLen + dims.reduce((a, b) => a * b, 1) };
}

// Reads the file (inflating gzip no further than its header declares) and checks its length; returns dims and the payload.
function readIdx(file: string, magic: number, what: string): { dims: number[]; payload: Uint8Array } {
  const raw = readRaw(file);
  // gzip is detected by its magic bytes rather than the extension, so renamed files still load
  const gz = isGzip(raw);
  const h = parseHeader(file, gz ? gunzipHead(file, raw) : raw, magic, what);
  const declares = `header declares ${h.dims.join('x')} ${what}`;
  if (h.total > buffer.constants.MAX_LENGTH) {
    throw new UserError(
      `Cannot read ${file}: the ${declares}, ${h.total} bytes, more than one array can hold (${buffer.constants.MAX_LENGTH}); is this an idx file?`,
    );
  }
  let bytes: Uint8Array = raw;
  if (gz) {
    if (h.total > raw.length * MAX_DEFLATE_RATIO + HEAD_PREFIX) {
      throw new UserError(
        `Cannot read ${file}: file is truncated (the ${declares}, ${h.total} bytes, more than its ${raw.length} gzip bytes can hold); re-download it.`,
      );
    }
    try {
      bytes = zlib.gunzipSync(raw, { maxOutputLength: h.total });
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new UserError(
          `Cannot read ${file}: its gzip data holds more than the ${h.total} bytes its ${declares}; is this an idx file?`,
        );
      }
      throw corruptGzip(file, e);
    }
  }
  if (bytes.length < h.total) {
    throw new UserError(
      `Cannot read ${file}: file is truncated (${declares}, needing ${h.total} bytes, got ${bytes.length}); re-download it.`,
    );
  }
  if (bytes.length > h.total) {
    throw new UserError(
      `Cannot read ${file}: ${bytes.length - h.total} unexpected trailing bytes (${declares} in ${h.total} bytes, file has ${bytes.length}); is this an idx file?`,
    );
  }
  // A plain Uint8Array view: Buffer.slice would alias where callers expect a copy.
  return { dims: h.dims, payload: new Uint8Array(bytes.buffer, bytes.byteOffset + h.headerLen, h.total - h.headerLen) };
}

/** Reads an idx3 uint8 image file (magic 0x00000803), gzipped or raw. */
export function readIdxImages(file: string): IdxImages {
  const { dims, payload } = readIdx(file, IDX_IMAGES_MAGIC, 'uint8 images');
  const [n, h, w] = dims;
  return { n, h, w, data: payload };
}

/** Reads an idx1 uint8 label file (magic 0x00000801); labels must be below numClasses. */
export function readIdxLabels(file: string, numClasses = 10): IdxLabels {
  const { dims, payload } = readIdx(file, IDX_LABELS_MAGIC, 'uint8 labels');
  const n = dims[0];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = payload[i];
    if (v >= numClasses) {
      throw new UserError(
        `Cannot read ${file}: label ${v} at index ${i} is out of range 0..${numClasses - 1}; is this the right label file?`,
      );
    }
    labels[i] = v;
  }
  return { n, labels };
}

/** Encodes uint8 data with the given dims as an idx file (idx1 labels for one dim, idx3 images for three). */
export function encodeIdx(data: Uint8Array, dims: number[]): Buffer {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new Error(`encodeIdx: dims ${dims.join('x')} need ${count} bytes, got ${data.length}`);
  const out = Buffer.alloc(4 + 4 * dims.length + data.length);
  out.writeUInt32BE(0x00000800 | dims.length, 0);
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

const STEMS = { train: 'train', test: 't10k' } as const;

// Standard names, plus the "images.idx3" spelling some MNIST mirrors use; the .gz variant is preferred.
function findIdxFile(dir: string, split: 'train' | 'test', part: 'images' | 'labels'): string {
  const nd = part === 'images' ? 3 : 1;
  const stem = STEMS[split];
  const names = [`${stem}-${part}-idx${nd}-ubyte`, `${stem}-${part}.idx${nd}-ubyte`];
  for (const name of names) {
    for (const candidate of [name + '.gz', name]) {
      const p = path.join(dir, candidate);
      if (fs.existsSync(p)) return p;
    }
  }
  return path.join(dir, names[0] + '.gz');
}

/** Whether dir holds both image and label files for both splits. */
export function hasIdxDataset(dir: string): boolean {
  return (['train', 'test'] as const).every((s) =>
    (['images', 'labels'] as const).every((p) => fs.existsSync(findIdxFile(dir, s, p))),
  );
}

/** Loads one split of an MNIST-style idx dataset from dir (train-* or t10k-* files, .gz or raw). */
export function loadIdxDataset(dir: string, split: 'train' | 'test', opts: { kind?: IdxKind } = {}): ImageDataset {
  const kind = opts.kind ?? 'fashion-mnist';
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    const hint = kind === 'fashion-mnist' ? 'install it with `apt-get install dataset-fashion-mnist` or pass' : 'pass';
    throw new UserError(
      `Cannot find ${kind} data: ${dir} is not a directory; ${hint} --data-dir DIR holding the idx files.`,
    );
  }
  const imagesFile = findIdxFile(dir, split, 'images');
  const labelsFile = findIdxFile(dir, split, 'labels');
  const classNames = kind === 'fashion-mnist' ? FASHION_MNIST_CLASSES : MNIST_CLASSES;
  const img = readIdxImages(imagesFile);
  const lab = readIdxLabels(labelsFile, classNames.length);
  if (img.n !== lab.n) {
    throw new UserError(
      `Mismatched idx files: ${imagesFile} has ${img.n} images but ${labelsFile} has ${lab.n} labels; use files from the same split and release.`,
    );
  }
  const captionOf =
    kind === 'fashion-mnist' ? classNames.map((c) => c.toLowerCase()) : classNames.map((c) => `digit ${c}`);
  return {
    name: `${kind}/${split}`,
    height: img.h,
    width: img.w,
    channels: 1,
    n: img.n,
    images: img.data,
    labels: lab.labels,
    classNames: [...classNames],
    captions: Array.from(lab.labels, (l) => captionOf[l]),
  };
}
