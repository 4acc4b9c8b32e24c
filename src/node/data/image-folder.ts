// Loads a folder of PNG/JPEG files as an ImageDataset: center-crop to square, resize, RGB or grayscale.
// Images inside subfolders get the subfolder name as class label.

import * as fs from 'node:fs';
import * as path from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { oneLine, UserError } from '../../core/errors.ts';
import type { ImageDataset } from '../../core/data/types.ts';
import { checkImageBytes, isJpeg, isPng, maxImagePixels } from './image-check.ts';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

export interface ImageFolderOptions {
  /** Side of the square output images, e.g. 32. */
  size: number;
  channels: 1 | 3;
  /** 'test' = the last 10% of each class (by file name), 'train' = the rest. Default 'all'. */
  split?: 'all' | 'train' | 'test';
  /** Gray level (0..255) that transparent pixels are composited over. Default 0 (black). */
  alphaBackground?: number;
  /** Refuse images of more pixels, before decoding. Default: maxImagePixels() (env, else 2^25). */
  maxPixels?: number;
}

export interface ImageFolderListing {
  /** Absolute-or-given paths, sorted by class then file name. */
  files: string[];
  /** Class index per file, only when images sit in subfolders. */
  labels?: Int32Array;
  classNames?: string[];
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function imageNames(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXT.has(path.extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort(byCodeUnit);
}

/** The image files of dir (top level, or one level of class subfolders), in a fixed order. */
export function listImageFolder(dir: string): ImageFolderListing {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new UserError(
      `Cannot find image folder ${dir}: no such directory; pass folder:PATH with a directory of .png/.jpg files.`,
    );
  }
  const top = imageNames(dir);
  const subdirs = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(byCodeUnit);
  const classes: { name: string; files: string[] }[] = [];
  for (const sub of subdirs) {
    const names = imageNames(path.join(dir, sub));
    if (names.length > 0) classes.push({ name: sub, files: names.map((f) => path.join(dir, sub, f)) });
  }
  if (classes.length === 0) {
    if (top.length === 0)
      throw new UserError(`No images found in ${dir}: expected .png, .jpg or .jpeg files there or in its subfolders.`);
    return { files: top.map((f) => path.join(dir, f)) };
  }
  if (top.length > 0) {
    throw new UserError(
      `Ambiguous image folder ${dir}: it has images both at top level (e.g. ${top[0]}) and in class subfolders; move every image into a class subfolder, or none.`,
    );
  }
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((c, k) => {
    for (const f of c.files) {
      files.push(f);
      labels.push(k);
    }
  });
  return { files, labels: Int32Array.from(labels), classNames: classes.map((c) => c.name) };
}

export interface Decoded {
  width: number;
  height: number;
  /** RGBA, width * height * 4. */
  rgba: Uint8Array;
}

function decodeImage(file: string, maxPixels: number): Decoded {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`Cannot read ${file}: ${(e as Error).message}; check the file permissions.`);
  }
  return decodeImageBytes(buf, file, maxPixels);
}

/** Decodes PNG or JPEG bytes (sniffed from the content: extensions lie more often than magic bytes) to RGBA after checkImageBytes. */
export function decodeImageBytes(buf: Buffer, file: string, maxPixels: number): Decoded {
  checkImageBytes(buf, file, maxPixels);
  const png = isPng(buf);
  try {
    if (png) {
      const img = PNG.sync.read(buf);
      return { width: img.width, height: img.height, rgba: img.data };
    }
    if (isJpeg(buf)) {
      // jpeg-js's own limits back up the header check (its memory count is about 20 bytes a pixel)
      const limits = {
        maxResolutionInMP: maxPixels / 1e6,
        maxMemoryUsageInMB: Math.ceil((maxPixels * 24) / 2 ** 20) + 64,
      };
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, ...limits });
      return { width: img.width, height: img.height, rgba: img.data };
    }
  } catch (e) {
    const msg = oneLine(String((e as Error)?.message ?? e));
    throw new UserError(`Cannot decode ${file}: ${msg}; is it a valid ${png ? 'PNG' : 'JPEG'} image?`);
  }
  throw new UserError(
    `Cannot decode ${file}: not a PNG or JPEG file (unrecognized header); remove it or convert it to PNG.`,
  );
}

// Per output index along one axis: source indices and weights (summing to 1).
interface AxisTaps {
  idx: Int32Array[];
  w: Float32Array[];
}

// Area averaging when shrinking (no aliasing), bilinear with half-pixel centers when enlarging.
function axisTaps(srcLen: number, offset: number, dstLen: number): AxisTaps {
  const idx: Int32Array[] = [];
  const w: Float32Array[] = [];
  const scale = srcLen / dstLen;
  for (let i = 0; i < dstLen; i++) {
    if (scale >= 1) {
      const a = i * scale;
      const b = (i + 1) * scale;
      const s0 = Math.floor(a);
      const s1 = Math.min(srcLen, Math.ceil(b - 1e-9));
      const ii: number[] = [];
      const ww: number[] = [];
      for (let s = s0; s < s1; s++) {
        const overlap = Math.min(b, s + 1) - Math.max(a, s);
        if (overlap > 0) {
          ii.push(offset + s);
          ww.push(overlap / scale);
        }
      }
      idx.push(Int32Array.from(ii));
      w.push(Float32Array.from(ww));
    } else {
      const src = (i + 0.5) * scale - 0.5;
      const s0 = Math.floor(src);
      const f = src - s0;
      const clamp = (s: number) => offset + Math.min(srcLen - 1, Math.max(0, s));
      idx.push(Int32Array.of(clamp(s0), clamp(s0 + 1)));
      w.push(Float32Array.of(1 - f, f));
    }
  }
  return { idx, w };
}

/**
 * Center-crops an HxWxC uint8 image to a square and resizes it to size x size x C.
 * Also used to resize idx datasets (e.g. 28 -> 32).
 */
export function centerCropResize(src: Uint8Array, h: number, w: number, c: number, size: number): Uint8Array {
  const side = Math.min(h, w);
  const y0 = Math.floor((h - side) / 2);
  const x0 = Math.floor((w - side) / 2);
  const out = new Uint8Array(size * size * c);
  if (side === size) {
    for (let y = 0; y < size; y++)
      out.set(src.subarray(((y0 + y) * w + x0) * c, ((y0 + y) * w + x0 + size) * c), y * size * c);
    return out;
  }
  const tx = axisTaps(side, x0, size);
  const ty = axisTaps(side, y0, size);
  // Horizontal pass over the cropped rows: [side, size, c].
  const tmp = new Float32Array(side * size * c);
  for (let y = 0; y < side; y++) {
    const row = (y0 + y) * w;
    for (let x = 0; x < size; x++) {
      const ii = tx.idx[x];
      const ww = tx.w[x];
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < ii.length; k++) acc += src[(row + ii[k]) * c + ch] * ww[k];
        tmp[(y * size + x) * c + ch] = acc;
      }
    }
  }
  // Vertical pass: [size, size, c].
  for (let y = 0; y < size; y++) {
    const ii = ty.idx[y];
    const ww = ty.w[y];
    for (let x = 0; x < size; x++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < ii.length; k++) acc += tmp[((ii[k] - y0) * size + x) * c + ch] * ww[k];
        out[(y * size + x) * c + ch] = Math.min(255, Math.max(0, Math.round(acc)));
      }
    }
  }
  return out;
}

// RGBA -> RGB or gray, compositing alpha over a gray background.
function fromRgba(img: Decoded, channels: 1 | 3, bg: number): Uint8Array {
  const m = img.width * img.height;
  const out = new Uint8Array(m * channels);
  const d = img.rgba;
  for (let i = 0; i < m; i++) {
    const a = d[i * 4 + 3] / 255;
    const r = d[i * 4] * a + bg * (1 - a);
    const g = d[i * 4 + 1] * a + bg * (1 - a);
    const b = d[i * 4 + 2] * a + bg * (1 - a);
    if (channels === 3) {
      out[i * 3] = Math.round(r);
      out[i * 3 + 1] = Math.round(g);
      out[i * 3 + 2] = Math.round(b);
    } else {
      out[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    }
  }
  return out;
}

/** Per class, the last round(10%) of its files (at least one when the class has two or more) go to test. */
function holdoutMask(listing: ImageFolderListing): boolean[] {
  const n = listing.files.length;
  const isTest = new Array<boolean>(n).fill(false);
  const labels = listing.labels ?? new Int32Array(n);
  let lo = 0;
  while (lo < n) {
    let hi = lo;
    while (hi < n && labels[hi] === labels[lo]) hi++;
    const count = hi - lo;
    const k = count >= 2 ? Math.max(1, Math.round(count / 10)) : 0;
    for (let i = hi - k; i < hi; i++) isTest[i] = true;
    lo = hi;
  }
  return isTest;
}

/** Decodes every image under dir into size x size x channels uint8 NHWC. */
export function loadImageFolder(dir: string, opts: ImageFolderOptions): ImageDataset {
  const { size, channels, split = 'all', alphaBackground = 0 } = opts;
  const maxPixels = maxImagePixels(opts.maxPixels);
  if (!Number.isInteger(size) || size < 1 || size > 4096) {
    throw new UserError(`Invalid image size ${size}: it must be an integer from 1 to 4096 (e.g. --size 32).`);
  }
  if (channels !== 1 && channels !== 3)
    throw new UserError(`Invalid channel count ${channels}: use 1 (grayscale) or 3 (RGB).`);
  const listing = listImageFolder(dir);
  const mask = holdoutMask(listing);
  const keep: number[] = [];
  listing.files.forEach((_, i) => {
    if (split === 'all' || (split === 'test') === mask[i]) keep.push(i);
  });
  if (keep.length === 0) {
    throw new UserError(
      `No ${split} images in ${dir}: the test split is the last 10% of each class, so add more images (at least 2 per class).`,
    );
  }
  const plane = size * size * channels;
  const images = new Uint8Array(keep.length * plane);
  keep.forEach((fi, i) => {
    const img = decodeImage(listing.files[fi], maxPixels);
    const pix = fromRgba(img, channels, alphaBackground);
    images.set(centerCropResize(pix, img.height, img.width, channels, size), i * plane);
  });
  const ds: ImageDataset = {
    name: split === 'all' ? `folder:${dir}` : `folder:${dir}/${split}`,
    height: size,
    width: size,
    channels,
    n: keep.length,
    images,
  };
  if (listing.labels && listing.classNames) {
    const all = listing.labels;
    const names = listing.classNames;
    ds.labels = Int32Array.from(keep, (fi) => all[fi]);
    ds.classNames = [...names];
    ds.captions = Array.from(ds.labels, (l) => names[l].replace(/[_-]+/g, ' ').toLowerCase());
  }
  return ds;
}
