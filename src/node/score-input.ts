// The images `deepgen score` judges: a folder of PNG files (natural name order) or one grid PNG cut into tiles (layout
// found from its size and separator lines), checked against the dataset's image shape; and the lines of a labels file.
import fs from 'node:fs';
import path from 'node:path';
import type { Images } from '../core/api/images.ts';
import { oneLine, UserError } from '../core/errors.ts';
import { findGridLayouts, splitGrid, type GridLayout } from '../core/viz/grid-split.ts';
import type { ImageU8 } from '../core/viz/grid.ts';
import { sha256Hex } from './pack.ts';
import { decodePng } from './png.ts';
import { readFileOrUserError, readTextOrUserError } from './fs-atomic.ts';

/** Height x width x channels. */
export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

/** What was read, to record beside the figures: the path given, its kind, a fingerprint, and the grid's layout. */
export interface ImagesSource {
  path: string;
  kind: 'folder' | 'grid' | 'image';
  /** A PNG file: the sha256 of its bytes. A folder: the sha256 of its `sha256sum` listing ("<hex>  <name>\n" per
   *  file, in the order read), so the same files in the same order give the same fingerprint. */
  sha256: string;
  /** A folder: the PNG files read. */
  files?: number;
  /** A grid: where its tiles were, and how many empty cells at its end were dropped. */
  grid?: GridLayout & { dropped: number };
}

export interface ReadImagesOptions {
  /** The dataset's image shape: every image must have it (colour images are made grey for a grey dataset). */
  shape: ImageShape;
  /** The dataset's name, for messages. */
  dataset: string;
  /** Cut a single PNG into tiles of this size (a grid picture). */
  tile?: { height: number; width: number };
  /** The grid's columns and padding, when its size and separators leave them ambiguous. */
  cols?: number;
  pad?: number;
}

export interface ReadImages {
  images: Images;
  source: ImagesSource;
  /** Lines for the user: conversions made, empty cells dropped. */
  notes: string[];
}

const NATURAL = new Intl.Collator('en', { numeric: true });

/** "28x28" or "28" (square) as a tile size; a one-line error otherwise. */
export function parseTile(text: string): { height: number; width: number } {
  const m = /^\s*(\d+)\s*(?:x\s*(\d+)\s*)?$/i.exec(text);
  const h = m ? Number(m[1]) : NaN,
    w = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(h >= 1 && w >= 1 && h <= 4096 && w <= 4096))
    throw new UserError(`--tile must be HxW or one side for square tiles (e.g. 28x28 or 28), got "${oneLine(text)}"`);
  return { height: h, width: w };
}

const shapeText = (s: ImageShape) => `${s.height}x${s.width}x${s.channels}`;

/**
 * One decoded picture in the dataset's channels: RGB(A) made grey by ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B,
 * exact when R = G = B) for a grey dataset, alpha dropped; a grey picture for a colour dataset is an error.
 * `counts` tallies the conversions for the notes.
 */
function toDatasetChannels(
  img: ImageU8,
  want: number,
  what: string,
  dataset: string,
  counts: { grey: number; colour: number; alpha: number },
): ImageU8 {
  const c = img.channels;
  if (c === want) return img;
  const n = img.height * img.width;
  if (want === 3 && c === 1)
    throw new UserError(
      `${what} is grey (${img.height}x${img.width}x1), but ${dataset} images are in colour (x3); score colour images, or grey ones against a grey dataset`,
    );
  const data = new Uint8Array(n * want);
  let colour = false,
    alpha = false;
  for (let i = 0; i < n; i++) {
    const p = i * c;
    if (c === 4 && img.data[p + 3] !== 255) alpha = true;
    if (want === 1) {
      const [r, g, b] = [img.data[p], img.data[p + 1], img.data[p + 2]];
      if (r !== g || g !== b) colour = true;
      data[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    } else data.set(img.data.subarray(p, p + 3), i * 3);
  }
  if (want === 1) counts[colour ? 'colour' : 'grey']++;
  if (alpha) counts.alpha++;
  return { data, height: img.height, width: img.width, channels: want };
}

function conversionNotes(counts: { grey: number; colour: number; alpha: number }, dataset: string): string[] {
  const notes: string[] = [];
  const total = counts.grey + counts.colour;
  if (total)
    notes.push(
      `note: ${total} RGB picture(s) made grey for ${dataset} (luma 0.299 R + 0.587 G + 0.114 B)${counts.colour ? `; ${counts.colour} held colour, which was lost` : ': all had R = G = B, so nothing was lost'}`,
    );
  if (counts.alpha) notes.push(`note: the alpha channel of ${counts.alpha} picture(s) was ignored (not composited)`);
  return notes;
}

/** The PNG files of a folder (top level, .png in any case), in natural name order: 2.png before 10.png. */
export function listPngs(dir: string): string[] {
  const names = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.') && /\.png$/i.test(e.name))
    .map((e) => e.name)
    .sort(NATURAL.compare);
  if (!names.length)
    throw new UserError(
      `No PNG files in ${dir}; pass a folder of .png images (one image each) or a grid picture with --tile`,
    );
  return names;
}

function readFolder(dir: string, o: ReadImagesOptions): ReadImages {
  if (o.tile) throw new UserError(`--tile cuts one grid picture, but ${dir} is a folder; drop --tile`);
  const names = listPngs(dir);
  const { height, width, channels } = o.shape;
  const per = height * width * channels;
  const data = new Uint8Array(names.length * per);
  const counts = { grey: 0, colour: 0, alpha: 0 };
  const listing: string[] = [];
  names.forEach((name, i) => {
    const file = path.join(dir, name);
    const bytes = readFileOrUserError(file, 'an image');
    listing.push(`${sha256Hex(bytes)}  ${name}\n`);
    const img = decodePng(bytes, file);
    if (img.height !== height || img.width !== width)
      throw new UserError(
        `${file} is ${img.height}x${img.width}x${img.channels}, but ${o.dataset} images are ${shapeText(o.shape)}; every image must have that size (resize them, or score against a dataset of their size with --size)`,
      );
    data.set(toDatasetChannels(img, channels, file, o.dataset, counts).data, i * per);
  });
  return {
    images: { n: names.length, height, width, channels, data },
    source: {
      path: dir,
      kind: 'folder',
      sha256: sha256Hex(new TextEncoder().encode(listing.join(''))),
      files: names.length,
    },
    notes: conversionNotes(counts, o.dataset),
  };
}

/** The layout of a grid picture: the only one that fits; none or several are one-line errors naming the fix. */
function gridLayout(file: string, img: ImageU8, o: ReadImagesOptions): GridLayout {
  const tile = o.tile!;
  const { fits, tried } = findGridLayouts(img, tile.height, tile.width, { cols: o.cols, pad: o.pad });
  const describe = (l: GridLayout) =>
    `${l.cols} columns x ${l.rows} rows, padding ${l.pad}${l.border ? ' with a border' : l.pad ? ' without a border' : ''}`;
  if (fits.length === 1) return fits[0];
  if (!fits.length)
    throw new UserError(
      `Cannot find the grid layout of ${file} (${img.width}x${img.height} pixels): tried ${tried}, and none fits its size with separator lines of one colour; check --tile and pass --cols N and --pad P`,
    );
  throw new UserError(
    `The grid layout of ${file} (${img.width}x${img.height} pixels) is ambiguous: ${fits.map(describe).join('; ')} all fit; pass --cols N and --pad P`,
  );
}

function readPng(file: string, o: ReadImagesOptions): ReadImages {
  const bytes = readFileOrUserError(file, 'an image');
  const sha256 = sha256Hex(bytes);
  const counts = { grey: 0, colour: 0, alpha: 0 };
  const decoded = decodePng(bytes, file);
  const { height, width, channels } = o.shape;
  if (!o.tile) {
    if (decoded.height !== height || decoded.width !== width)
      throw new UserError(
        `${file} is ${decoded.height}x${decoded.width}x${decoded.channels}, but ${o.dataset} images are ${shapeText(o.shape)}; for a grid picture pass --tile ${height === width ? height : `${height}x${width}`}`,
      );
    const img = toDatasetChannels(decoded, channels, file, o.dataset, counts);
    return {
      images: { n: 1, height, width, channels, data: img.data },
      source: { path: file, kind: 'image', sha256 },
      notes: conversionNotes(counts, o.dataset),
    };
  }
  if (o.tile.height !== height || o.tile.width !== width)
    throw new UserError(
      `--tile ${o.tile.height}x${o.tile.width} does not match ${o.dataset}'s ${height}x${width} images; use --tile ${height === width ? height : `${height}x${width}`} (or --size for another image size)`,
    );
  const img = toDatasetChannels(decoded, channels, file, o.dataset, counts);
  const layout = gridLayout(file, img, o);
  const cut = splitGrid(img, layout);
  const notes = conversionNotes(counts, o.dataset);
  notes.unshift(
    `${file}: ${layout.cols} columns x ${layout.rows} rows of ${layout.tileHeight}x${layout.tileWidth} tiles, padding ${layout.pad}${layout.border ? ` with a ${layout.border} px border` : ''}; ${cut.n} images${cut.dropped ? ` (${cut.dropped} empty cells at the end dropped)` : ''}`,
  );
  return {
    images: { n: cut.n, height, width, channels, data: cut.data },
    source: { path: file, kind: 'grid', sha256, grid: { ...layout, dropped: cut.dropped } },
    notes,
  };
}

/** The images at `p`: a folder of PNGs, a grid PNG (with o.tile) or one PNG of the dataset's size. */
export function readScoreImages(p: string, o: ReadImagesOptions): ReadImages {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(p);
  } catch {
    throw new UserError(
      `Cannot find ${p}: no such file or folder; pass a folder of PNG images or a grid PNG with --tile HxW`,
    );
  }
  return stat.isDirectory() ? readFolder(p, o) : readPng(p, o);
}

/** The lines of a labels or prompts file: one entry per line, surrounding spaces and the final newline dropped; an
 *  empty line among them is an error (it would shift every label after it). */
export function readLines(file: string, what: string): string[] {
  const text = readTextOrUserError(file, what, `pass a text file with one ${what} per line`);
  const lines = text.replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
  const empty = lines.findIndex((l) => l.trim() === '');
  if (empty >= 0)
    throw new UserError(
      `${file} line ${empty + 1} is empty; give one ${what} per line, one line per image in the images' order`,
    );
  return lines.map((l) => l.trim());
}
