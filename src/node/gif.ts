// Animated GIF encoding of uint8 HWC frames (gifenc), and atomic GIF file writes.
// Gray frames use an exact 256-level gray palette; color frames use exact colors when they fit in 256.

import { createRequire } from 'node:module';
import type { ImageU8 } from '../core/viz/grid.ts';
import { writeFileAtomic } from './fs-atomic.ts';

type Palette = number[][];
interface GifEncoderStream {
  writeFrame(
    index: Uint8Array,
    width: number,
    height: number,
    opts: { palette?: Palette; delay?: number; repeat?: number },
  ): void;
  finish(): void;
  bytes(): Uint8Array;
}
interface Gifenc {
  GIFEncoder(opts?: { auto?: boolean; initialCapacity?: number }): GifEncoderStream;
  quantize(rgba: Uint8Array, maxColors: number, opts?: { format?: 'rgb565' | 'rgb444' | 'rgba4444' }): Palette;
  applyPalette(rgba: Uint8Array, palette: Palette, format?: 'rgb565' | 'rgb444' | 'rgba4444'): Uint8Array;
}

// gifenc ships CommonJS without type declarations; load it through require and type what is used.
const gifenc = createRequire(import.meta.url)('gifenc') as Gifenc;

export interface GifOptions {
  /** Time each frame is shown; GIF stores centiseconds, so it is rounded to 10 ms. Default 100. */
  delayMs?: number;
  /** true (default): loop forever; false: play once; a number: repeat that many extra times. */
  loop?: boolean | number;
  /**
   * Only for color frames with more than 256 distinct colors: 'global' (default) quantizes one palette
   * from all frames so colors do not flicker; 'per-frame' fits each frame separately.
   */
  palette?: 'global' | 'per-frame';
}

const GRAY_PALETTE: Palette = Array.from({ length: 256 }, (_, i) => [i, i, i]);

export function encodeGif(frames: ImageU8[], opts: GifOptions = {}): Uint8Array {
  if (frames.length === 0) throw new Error('encodeGif needs at least one frame');
  const { height, width, channels } = frames[0];
  for (const [i, f] of frames.entries()) {
    if (f.height !== height || f.width !== width || f.channels !== channels) {
      throw new Error(
        `GIF frame ${i} is ${f.width}x${f.height}x${f.channels}, frame 0 is ${width}x${height}x${channels}; all frames must match`,
      );
    }
    if (f.channels !== 1 && f.channels !== 3 && f.channels !== 4)
      throw new Error(`GIF frames need 1, 3 or 4 channels, got ${f.channels}`);
    if (f.data.length !== f.height * f.width * f.channels)
      throw new Error(`GIF frame ${i} data has ${f.data.length} bytes, expected ${f.height * f.width * f.channels}`);
  }
  if (width < 1 || height < 1 || width > 65535 || height > 65535)
    throw new Error(`GIF size must be 1..65535 pixels per side, got ${width}x${height}`);

  const delay = opts.delayMs ?? 100;
  const loop = opts.loop ?? true;
  const repeat = loop === true ? 0 : loop === false ? -1 : Math.max(0, Math.round(loop));

  let indexed: { index: Uint8Array; palette: Palette }[];
  if (channels === 1) {
    indexed = frames.map((f) => ({ index: f.data, palette: GRAY_PALETTE }));
  } else {
    const rgba = frames.map((f) => toRgba(f));
    const exact = exactPalette(rgba);
    if (exact) {
      indexed = rgba.map((px) => ({ index: exact.index(px), palette: exact.palette }));
    } else if (opts.palette === 'per-frame') {
      indexed = rgba.map((px) => {
        const palette = gifenc.quantize(px, 256);
        return { index: gifenc.applyPalette(px, palette), palette };
      });
    } else {
      const palette = gifenc.quantize(concatSample(rgba), 256);
      indexed = rgba.map((px) => ({ index: gifenc.applyPalette(px, palette), palette }));
    }
  }

  const gif = gifenc.GIFEncoder();
  indexed.forEach(({ index, palette }, i) => {
    // Only the first frame's palette is written (as the global table) when every frame shares it.
    const shared = i > 0 && palette === indexed[0].palette;
    gif.writeFrame(index, width, height, { palette: shared ? undefined : palette, delay, repeat });
  });
  gif.finish();
  return gif.bytes();
}

export function writeGif(file: string, frames: ImageU8[], opts: GifOptions = {}): void {
  writeFileAtomic(file, encodeGif(frames, opts));
}

/** RGBA with alpha dropped to opaque: GIF has 1-bit transparency at most, and samples have none. */
function toRgba(f: ImageU8): Uint8Array {
  const n = f.height * f.width;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    out[i * 4] = f.data[i * f.channels];
    out[i * 4 + 1] = f.data[i * f.channels + 1];
    out[i * 4 + 2] = f.data[i * f.channels + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** A palette holding every color exactly, or null when the frames have more than 256 colors. */
function exactPalette(frames: Uint8Array[]): { palette: Palette; index: (px: Uint8Array) => Uint8Array } | null {
  const slot = new Map<number, number>();
  const palette: Palette = [];
  for (const px of frames) {
    for (let i = 0; i < px.length; i += 4) {
      const key = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
      if (!slot.has(key)) {
        if (palette.length === 256) return null;
        slot.set(key, palette.length);
        palette.push([px[i], px[i + 1], px[i + 2]]);
      }
    }
  }
  const index = (px: Uint8Array) => {
    const out = new Uint8Array(px.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = slot.get((px[i * 4] << 16) | (px[i * 4 + 1] << 8) | px[i * 4 + 2])!;
    return out;
  };
  return { palette, index };
}

/** All frames' pixels, subsampled to at most ~1M pixels, as one RGBA buffer for a global palette. */
function concatSample(frames: Uint8Array[]): Uint8Array {
  const total = frames.reduce((s, f) => s + f.length / 4, 0);
  const stride = Math.max(1, Math.ceil(total / 1_000_000));
  const out = new Uint8Array(Math.ceil(total / stride) * 4);
  let o = 0;
  let k = 0;
  for (const px of frames) {
    for (let i = 0; i < px.length; i += 4, k++) {
      if (k % stride === 0) {
        out.set(px.subarray(i, i + 4), o);
        o += 4;
      }
    }
  }
  return out.subarray(0, o);
}
