// Image files are checked from their headers before they are decoded: a pixel limit against decompression bombs
// (Pillow's MAX_IMAGE_PIXELS idea), and PNG image data as long as the header implies (truncated data is an error, not black).
import * as zlib from 'node:zlib';
import { oneLine, UserError } from '../../core/errors.ts';

/**
 * 2^25 pixels (8192x4096, or 5792x5792): an RGB PNG that size takes about 520 MB at peak to load (16 bytes a pixel,
 * measured); Pillow's 89.5 megapixels would allow 1.4 GB, and deepgen trains images of at most 512 pixels a side.
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 2 ** 25;
export const MAX_IMAGE_PIXELS_ENV = 'DEEPGEN_MAX_IMAGE_PIXELS';

/** The pixel limit: the given one (flag or data.maxImagePixels), else $DEEPGEN_MAX_IMAGE_PIXELS, else the default. */
export function maxImagePixels(given?: number): number {
  if (given !== undefined) return given;
  const env = process.env[MAX_IMAGE_PIXELS_ENV];
  if (env === undefined || env === '') return DEFAULT_MAX_IMAGE_PIXELS;
  const n = Number(env);
  if (!/^\d+$/.test(env.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new UserError(
      `${MAX_IMAGE_PIXELS_ENV}=${JSON.stringify(env)} is not a positive integer; set it to a pixel count such as ${DEFAULT_MAX_IMAGE_PIXELS}, or unset it`,
    );
  }
  return n;
}

interface ImageHeader {
  width: number;
  height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples per pixel by PNG color type, and the bit depths each type allows. */
const PNG_COLOR: Record<number, { samples: number; depths: number[] }> = {
  0: { samples: 1, depths: [1, 2, 4, 8, 16] },
  2: { samples: 3, depths: [8, 16] },
  3: { samples: 1, depths: [1, 2, 4, 8] },
  4: { samples: 2, depths: [8, 16] },
  6: { samples: 4, depths: [8, 16] },
};
/** Adam7 passes: x start, y start, x step, y step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

export const isPng = (b: Uint8Array) => b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v);
export const isJpeg = (b: Uint8Array) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

interface PngLayout extends ImageHeader {
  /** Bytes the inflated image data must have: per row a filter byte and the packed samples, per Adam7 pass when interlaced. */
  dataBytes: number;
  idat: Uint8Array[];
}

/** Walks the PNG chunks (signature checked by the caller): IHDR fields, the IDAT chunks, and a complete chunk list up to IEND. */
function pngLayout(buf: Uint8Array, bad: (problem: string) => UserError): PngLayout {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const idat: Uint8Array[] = [];
  let header: { width: number; height: number; depth: number; color: number; interlace: number } | undefined;
  let pos = 8;
  for (;;) {
    if (pos + 8 > buf.length)
      throw bad(`the file is truncated (it ends ${header ? 'before the IEND chunk' : 'inside the header'})`);
    const len = view.getUint32(pos);
    const type = String.fromCharCode(buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]);
    const shown = /^[A-Za-z]{4}$/.test(type) ? type : 'of an unknown type';
    if (pos + 12 + len > buf.length) throw bad(`the file is truncated (it ends inside a chunk ${shown})`);
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (!header) {
      if (type !== 'IHDR' || len !== 13) throw bad('the first chunk is not a 13-byte IHDR header');
      header = {
        width: view.getUint32(pos + 8),
        height: view.getUint32(pos + 12),
        depth: body[8],
        color: body[9],
        interlace: body[12],
      };
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  const { width, height, depth, color, interlace } = header;
  if (width < 1 || height < 1 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1)
    throw bad(`the header declares an invalid size ${width}x${height}`);
  const spec = PNG_COLOR[color];
  if (!spec || !spec.depths.includes(depth))
    throw bad(`the header declares color type ${color} with bit depth ${depth}, which PNG does not define`);
  if (interlace > 1) throw bad(`the header declares interlace method ${interlace}, which PNG does not define`);
  if (idat.length === 0) throw bad('it has no image data (no IDAT chunk)');
  const rowBytes = (w: number) => Math.ceil((w * spec.samples * depth) / 8) + 1;
  let dataBytes = rowBytes(width) * height;
  if (interlace === 1) {
    dataBytes = 0;
    for (const [x0, y0, dx, dy] of ADAM7) {
      const w = Math.ceil((width - x0) / dx);
      const h = Math.ceil((height - y0) / dy);
      if (w > 0 && h > 0) dataBytes += rowBytes(w) * h;
    }
  }
  return { width, height, dataBytes, idat };
}

/** Width and height from a JPEG's first SOF marker, or undefined when there is none (the decoder then reports the file). */
function jpegHeader(buf: Uint8Array): ImageHeader | undefined {
  let pos = 2;
  while (pos + 4 <= buf.length) {
    if (buf[pos] !== 0xff) return undefined;
    const marker = buf[pos + 1];
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // EOI or scan data before any frame header
    const len = (buf[pos + 2] << 8) | buf[pos + 3];
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (pos + 9 > buf.length) return undefined;
      return { height: (buf[pos + 5] << 8) | buf[pos + 6], width: (buf[pos + 7] << 8) | buf[pos + 8] };
    }
    pos += 2 + len;
  }
  return undefined;
}

function checkPixels(h: ImageHeader, maxPixels: number, bad: (problem: string) => UserError): void {
  const px = h.width * h.height;
  if (px > maxPixels) {
    const mp = (n: number) => `${(n / 1e6).toFixed(1)} megapixels`;
    throw bad(
      `it is ${h.width}x${h.height} (${mp(px)}), over the limit of ${maxPixels} pixels (${mp(maxPixels)}) that guards against decompression bombs; ` +
        `shrink it, or raise the limit with --max-image-pixels N or ${MAX_IMAGE_PIXELS_ENV}=N`,
    );
  }
}

/** Inflates the PNG image data, no further than its header implies, and refuses it unless it has exactly that length. */
function checkPngData(layout: PngLayout, bad: (problem: string) => UserError): void {
  let got: number;
  try {
    got = zlib.inflateSync(Buffer.concat(layout.idat), { maxOutputLength: layout.dataBytes }).length;
  } catch (e) {
    // pngjs refuses surplus data too, with a message about streams: say what is wrong instead
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw bad(
        `its image data is longer than a ${layout.width}x${layout.height} image needs (${layout.dataBytes} bytes)`,
      );
    const msg = oneLine(String((e as Error).message));
    throw bad(
      /unexpected end/i.test(msg)
        ? 'its image data is truncated (the compressed stream ends early)'
        : `its image data is corrupt (${msg})`,
    );
  }
  if (got < layout.dataBytes) {
    throw bad(
      `its image data is truncated: a ${layout.width}x${layout.height} image needs ${layout.dataBytes} bytes, the file holds ${got}`,
    );
  }
}

/**
 * Checks an image file's bytes before decoding: the pixel count against maxPixels (PNG IHDR, JPEG SOF) and, for PNG, the
 * chunk structure and the length of the image data. Throws a one-line UserError naming `file`; other formats pass.
 */
export function checkImageBytes(buf: Uint8Array, file: string, maxPixels: number): void {
  const overLimit = (p: string) => new UserError(`Cannot load ${file}: ${p}`);
  if (isPng(buf)) {
    const bad = (problem: string) => new UserError(`Cannot decode ${file}: ${problem}; is it a valid PNG image?`);
    const layout = pngLayout(buf, bad);
    checkPixels(layout, maxPixels, overLimit);
    checkPngData(layout, bad);
  } else if (isJpeg(buf)) {
    const h = jpegHeader(buf);
    if (h) checkPixels(h, maxPixels, overLimit);
  }
}
