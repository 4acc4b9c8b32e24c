// The emoji data set on disk: `deepgen datasets get emoji` installs emoji-datasource-google and -twitter with npm's own
// client, composites their 64px PNGs on white and packs them (64 and 32 px) with an index; loadEmoji reads a split back.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import {
  EMOJI_CATEGORIES,
  EMOJI_VENDORS,
  emojiRecords,
  fnv1a,
  planEmojiSplit,
  emojiName,
  type EmojiDataset,
  type EmojiJsonEntry,
  type EmojiRecord,
  type EmojiVendor,
} from '../../core/data/emoji.ts';
import { oneLine, UserError } from '../../core/errors.ts';
import { cacheRoot } from '../cache.ts';
import { centerCropResize } from './image-folder.ts';

/** An error's message on one line. */
const why = (e: unknown): string => oneLine(String((e as Error)?.message ?? e));

/** The npm packages and the version deepgen's split and figures were made with. */
export const EMOJI_PACKAGES: Record<EmojiVendor, string> = {
  google: 'emoji-datasource-google',
  twitter: 'emoji-datasource-twitter',
};
export const EMOJI_VERSION = '16.0.0';
/** The image licences, as the packages' README states them (the packages' code is MIT). */
export const EMOJI_LICENCES: Record<EmojiVendor, string> = {
  google: 'Google Noto Emoji images: Apache License 2.0 (https://github.com/googlefonts/noto-emoji)',
  twitter: 'Twitter Twemoji images: CC-BY-4.0 (https://github.com/jdecked/twemoji), attribution required',
};
/** Sizes packed at install time; other sizes are resized from 64 at load time. */
export const EMOJI_PACKED_SIZES = [64, 32] as const;
const INDEX_FORMAT = 1;
/** The data set names: both vendors, or one. */
export const EMOJI_SPECS = ['emoji', 'emoji-google', 'emoji-twitter'] as const;

export interface EmojiIndex {
  format: number;
  packages: Record<string, string>;
  licences: string[];
  createdAt: string;
  /** One per packed image, in file order. */
  records: EmojiRecord[];
}

/** The emoji folder: DIR when given, else <cache>/datasets/emoji. */
export function emojiDir(dir?: string): string {
  return dir ?? path.join(cacheRoot(), 'datasets', 'emoji');
}

export function hasEmoji(dir?: string): boolean {
  const d = emojiDir(dir);
  return fs.existsSync(path.join(d, 'index.json')) && fs.existsSync(path.join(d, 'images-32.u8'));
}

export function readEmojiIndex(dir?: string): EmojiIndex {
  const d = emojiDir(dir);
  const file = path.join(d, 'index.json');
  if (!fs.existsSync(file))
    throw new UserError(
      `The emoji data set is not installed at ${d}; run \`deepgen datasets get emoji\` (about 150 MB through npm, once).`,
    );
  let idx: EmojiIndex;
  try {
    idx = JSON.parse(fs.readFileSync(file, 'utf8')) as EmojiIndex;
  } catch (e) {
    throw new UserError(`${file} is damaged (${why(e)}); run \`deepgen datasets get emoji --force\`.`);
  }
  if (idx.format !== INDEX_FORMAT || !Array.isArray(idx.records))
    throw new UserError(`${file} is from another deepgen version; run \`deepgen datasets get emoji --force\`.`);
  return idx;
}

export interface LoadEmojiOptions {
  /** 'all' = both (e.g. every drawing of a name, for `deepgen compare`). */
  split: 'train' | 'test' | 'all';
  /** Square side; 64 and 32 are packed, others are resized from 64. Default 32. */
  size?: number;
  /** Keep at most n images (the packed order is a fixed shuffle, so the first n mix every category). */
  n?: number;
  /** Include the skin-tone variants (default: base emoji only). */
  skinTones?: boolean;
  /** The emoji folder (default <cache>/datasets/emoji). */
  dir?: string;
}

/** The vendors a spec names: emoji = both, emoji-google / emoji-twitter = one. */
export function emojiVendorsOf(spec: string): EmojiVendor[] {
  if (spec === 'emoji') return [...EMOJI_VENDORS];
  const v = spec.slice('emoji-'.length);
  if ((EMOJI_VENDORS as readonly string[]).includes(v)) return [v as EmojiVendor];
  throw new UserError(`Unknown emoji data set "${spec}"; use ${EMOJI_SPECS.join(', ')}.`);
}

/** One split of the emoji data set: train = seen names, test = held-out names plus seen names' test drawings. */
export function loadEmoji(spec: string, opts: LoadEmojiOptions): EmojiDataset {
  const vendors = new Set(emojiVendorsOf(spec));
  const dir = emojiDir(opts.dir);
  const idx = readEmojiIndex(dir);
  const size = opts.size ?? 32;
  const packed = size === 32 ? 32 : 64;
  const file = path.join(dir, `images-${packed}.u8`);
  const plane = packed * packed * 3;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`Cannot read ${file} (${why(e)}); run \`deepgen datasets get emoji --force\`.`);
  }
  if (bytes.length !== idx.records.length * plane)
    throw new UserError(
      `${file} holds ${bytes.length} bytes, not ${idx.records.length} images of ${packed}x${packed}x3; run \`deepgen datasets get emoji --force\`.`,
    );
  const keep: number[] = [];
  idx.records.forEach((r, i) => {
    if (!vendors.has(r.vendor) || (r.tone && !opts.skinTones)) return;
    if (opts.split === 'all' || (opts.split === 'train') === (r.split === 'train')) keep.push(i);
  });
  const chosen = opts.n !== undefined ? keep.slice(0, opts.n) : keep;
  const outPlane = size * size * 3;
  const images = new Uint8Array(chosen.length * outPlane);
  chosen.forEach((i, j) => {
    const img = bytes.subarray(i * plane, (i + 1) * plane);
    images.set(packed === size ? img : centerCropResize(img, packed, packed, 3, size), j * outPlane);
  });
  const records = chosen.map((i) => idx.records[i]);
  return {
    name: `${spec}/${opts.split}`,
    height: size,
    width: size,
    channels: 3,
    n: chosen.length,
    images,
    labels: Int32Array.from(records, (r) => r.category),
    classNames: [...EMOJI_CATEGORIES],
    captions: records.map((r) => r.caption),
    records,
  };
}

/** Alpha-composite an RGBA image on white: out = a * rgb + (1 - a) * 255. */
export function compositeOnWhite(rgba: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const a = rgba[p * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(rgba[p * 4 + c] * a + 255 * (1 - a));
  }
  return out;
}

/** Halve an RGB image by 2x2 box averaging (64 -> 32), the exact area downsampling. */
export function halve(src: Uint8Array, side: number): Uint8Array {
  const h = side / 2;
  const out = new Uint8Array(h * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < h; x++)
      for (let c = 0; c < 3; c++) {
        const at = (yy: number, xx: number) => src[(yy * side + xx) * 3 + c];
        const s = at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1);
        out[(y * h + x) * 3 + c] = Math.round(s / 4);
      }
  return out;
}

export interface GetEmojiOptions {
  /** Target folder (default <cache>/datasets/emoji). */
  dir?: string;
  /** npm registry URL (default: npm's own configuration). */
  registry?: string;
  /** Reinstall even when present. */
  force?: boolean;
  /** The npm executable (default "npm"). */
  npm?: string;
  log?: (line: string) => void;
}

export interface GetEmojiResult {
  dir: string;
  images: number;
  /** Whether this call built it (false: it was already there). */
  built: boolean;
  seconds: number;
}

async function npmInstall(prefix: string, o: GetEmojiOptions): Promise<void> {
  const specs = EMOJI_VENDORS.map((v) => `${EMOJI_PACKAGES[v]}@${EMOJI_VERSION}`);
  const args = ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit'];
  args.push('--no-fund', '--loglevel=error', ...(o.registry ? ['--registry', o.registry] : []), ...specs);
  const npm = o.npm ?? 'npm';
  const r = await new Promise<{ status: number | null; output: string; error?: Error }>((resolve) => {
    const child = spawn(npm, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (error) => resolve({ status: null, output, error }));
    child.on('close', (status) => resolve({ status, output }));
  });
  if (r.error)
    throw new UserError(`Cannot run ${npm} (${why(r.error)}); install Node.js's npm, or pass its path with --npm.`);
  if (r.status !== 0) {
    const line = r.output.split('\n').find((l) => /ERR!|error/i.test(l)) ?? `exit code ${r.status}`;
    throw new UserError(
      `npm could not install ${specs.join(' and ')}: ${line.trim()}; check the network or pass --registry URL.`,
    );
  }
}

function readEntries(pkgDir: string): EmojiJsonEntry[] {
  const file = path.join(pkgDir, 'emoji.json');
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`Cannot read ${file} (${why(e)}); the package is damaged, run with --force again.`);
  }
  if (!Array.isArray(v) || !v.every((e) => e && typeof e.name === 'string' && typeof e.image === 'string'))
    throw new UserError(`${file} is not emoji-datasource's list of emoji; the package is damaged.`);
  return v as EmojiJsonEntry[];
}

function decodePng(file: string): Uint8Array {
  let png: PNG;
  try {
    png = PNG.sync.read(fs.readFileSync(file));
  } catch (e) {
    throw new UserError(`Cannot decode ${file} (${why(e)}); the package is damaged, run with --force again.`);
  }
  let rgb = compositeOnWhite(
    new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length),
    png.width * png.height,
  );
  if (png.width !== 64 || png.height !== 64) rgb = centerCropResize(rgb, png.height, png.width, 3, 64);
  return rgb;
}

/**
 * Installs the two packages into a temporary folder with npm, packs every 64px image (composited on white) at 64 and
 * 32 px in a fixed shuffled order with an index, then moves the finished folder into place: an interrupted run leaves
 * the old folder (or none), never a half-written one.
 */
export async function getEmoji(o: GetEmojiOptions = {}): Promise<GetEmojiResult> {
  const dir = emojiDir(o.dir);
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const t0 = performance.now();
  if (hasEmoji(dir) && !o.force) {
    return { dir, images: readEmojiIndex(dir).records.length, built: false, seconds: 0 };
  }
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const work = fs.mkdtempSync(path.join(parent, '.emoji-build-'));
  try {
    log(`emoji: npm install ${EMOJI_VENDORS.map((v) => EMOJI_PACKAGES[v]).join(' ')} @${EMOJI_VERSION} ...`);
    await npmInstall(path.join(work, 'npm'), o);
    const pkgDir = (v: EmojiVendor) => path.join(work, 'npm', 'node_modules', EMOJI_PACKAGES[v]);
    const entries = new Map(EMOJI_VENDORS.map((v) => [v, readEntries(pkgDir(v))])); // each emoji.json parsed once
    const plan = planEmojiSplit(
      entries
        .get('google')!
        .filter((e) => e.category !== 'Component')
        .map((e) => emojiName(e.name)),
    );
    const all = EMOJI_VENDORS.flatMap((v) => emojiRecords(entries.get(v)!, v, plan));
    const order = (r: EmojiRecord) => fnv1a(`${r.vendor}|${r.name}|${r.tone}`);
    all.sort((a, b) => order(a) - order(b) || (a.file < b.file ? -1 : 1));
    const out = path.join(work, 'emoji');
    fs.mkdirSync(out);
    const fd64 = fs.openSync(path.join(out, 'images-64.u8'), 'w');
    const fd32 = fs.openSync(path.join(out, 'images-32.u8'), 'w');
    try {
      all.forEach((r, i) => {
        const rgb = decodePng(path.join(pkgDir(r.vendor), 'img', r.vendor, '64', r.file));
        fs.writeSync(fd64, rgb);
        fs.writeSync(fd32, halve(rgb, 64));
        if ((i + 1) % 1000 === 0 || i + 1 === all.length) log(`emoji: packed ${i + 1}/${all.length} images`);
      });
    } finally {
      fs.closeSync(fd64);
      fs.closeSync(fd32);
    }
    const index: EmojiIndex = {
      format: INDEX_FORMAT,
      packages: Object.fromEntries(EMOJI_VENDORS.map((v) => [EMOJI_PACKAGES[v], EMOJI_VERSION])),
      licences: EMOJI_VENDORS.map((v) => EMOJI_LICENCES[v]),
      createdAt: new Date().toISOString(),
      records: all.map(({ file: _file, ...r }) => r),
    };
    fs.writeFileSync(path.join(out, 'index.json'), JSON.stringify(index) + '\n');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(out, dir);
    return { dir, images: all.length, built: true, seconds: (performance.now() - t0) / 1000 };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Counts for `deepgen datasets` and the README: images per split, names held out. */
export function emojiSummary(dir?: string): {
  base: number;
  withTones: number;
  train: number;
  test: number;
  heldOutNames: number;
  names: number;
} {
  const recs = readEmojiIndex(dir).records;
  const base = recs.filter((r) => !r.tone);
  return {
    base: base.length,
    withTones: recs.length,
    train: base.filter((r) => r.split === 'train').length,
    test: base.filter((r) => r.split !== 'train').length,
    heldOutNames: new Set(base.filter((r) => r.split === 'heldout').map((r) => r.name)).size,
    names: new Set(base.map((r) => r.name)).size,
  };
}
