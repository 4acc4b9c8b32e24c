// PNG files of the API's pixel arrays: a set of Images as one grid picture (or a single ImageU8 as it is).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Images } from '../core/api/images.ts';
import { imageGrid } from '../core/api/images.ts';
import { upscale, type GridOptions, type ImageU8 } from '../core/viz/grid.ts';
import { encodePng as encodePngImage, writePng as writePngImage } from './png.ts';

/** How Images become one picture: grid layout, and each pixel enlarged to a scale x scale block. */
export interface PictureOptions extends GridOptions {
  /** Enlarge each pixel to scale x scale (default 1). */
  scale?: number;
}

function picture(images: Images | ImageU8, opts: PictureOptions): ImageU8 {
  const one =
    'n' in images
      ? images.n === 1 && opts.cols === undefined && opts.pad === undefined
        ? { ...images }
        : imageGrid(images, opts)
      : images;
  return opts.scale && opts.scale > 1 ? upscale(one, opts.scale) : one;
}

/** PNG bytes of Images (one image as it is, several as a grid) or of one ImageU8. */
export function encodePng(images: Images | ImageU8, opts: PictureOptions = {}): Uint8Array {
  return encodePngImage(picture(images, opts));
}

/** Writes Images (one image as it is, several as a grid) or one ImageU8 as a PNG file, atomically; creates the
 *  file's folder when it does not exist. */
export function writePng(file: string, images: Images | ImageU8, opts: PictureOptions = {}): void {
  const pic = picture(images, opts);
  mkdirSync(path.dirname(file), { recursive: true });
  writePngImage(file, pic);
}
