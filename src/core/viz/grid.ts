// Image grids for samples and reconstructions, platform-free: tiles a batch of uint8 NHWC images into
// one padded image, and puts images side by side. Also float -> uint8 pixel conversion.

/** A uint8 image, row-major HWC (pixel (y, x) channel k at (y * width + x) * channels + k). */
export interface ImageU8 {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

export interface GridOptions {
  /** Images per row; default ceil(sqrt(n)). */
  cols?: number;
  /** Pixels of border around and between images; default 2. */
  pad?: number;
  /** Border value for every channel; default 255 (white, visible against dark digits and photos). */
  padValue?: number;
}

function checkDims(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * Tiles `n` images of h x w x c (NHWC in `images`) into rows of `cols`, with `pad` pixels around and
 * between them. Image i sits at top-left (pad + row * (h + pad), pad + col * (w + pad)), row = floor(i / cols).
 * Unused cells of the last row keep the pad value.
 */
export function makeGrid(
  images: Uint8Array,
  n: number,
  h: number,
  w: number,
  c: number,
  opts: GridOptions = {},
): ImageU8 {
  if (images.length !== n * h * w * c)
    throw new Error(`makeGrid: expected ${n}x${h}x${w}x${c} = ${n * h * w * c} values, got ${images.length}`);
  const grid = new Grid(n, h, w, c, opts);
  grid.place(images, 0, n);
  return grid.image;
}

/** A grid of n cells of h x w x c (layout as makeGrid), filled a few images at a time as they are made. */
export class Grid {
  readonly image: ImageU8;
  readonly cols: number;
  private readonly pad: number;

  constructor(
    readonly n: number,
    readonly h: number,
    readonly w: number,
    readonly c: number,
    opts: GridOptions = {},
  ) {
    checkDims('c', c, 1);
    const { cols, pad, height, width } = Grid.layout(n, h, w, opts);
    this.cols = cols;
    this.pad = pad;
    this.image = { data: new Uint8Array(height * width * c).fill(opts.padValue ?? 255), height, width, channels: c };
  }

  /** The grid's columns, padding and picture size for n cells of h x w, without allocating it. */
  static layout(
    n: number,
    h: number,
    w: number,
    opts: GridOptions = {},
  ): { cols: number; pad: number; height: number; width: number } {
    checkDims('n', n, 1);
    checkDims('h', h, 1);
    checkDims('w', w, 1);
    const pad = opts.pad ?? 2;
    checkDims('pad', pad, 0);
    const cols = Math.min(opts.cols ?? Math.ceil(Math.sqrt(n)), n);
    checkDims('cols', cols, 1);
    const rows = Math.ceil(n / cols);
    return { cols, pad, height: rows * h + (rows + 1) * pad, width: cols * w + (cols + 1) * pad };
  }

  /** Images first .. first + k - 1 into their cells; `images` holds k NHWC images. */
  place(images: Uint8Array, first: number, k: number): void {
    const { h, w, c, cols, pad } = this;
    if (!(Number.isSafeInteger(first) && first >= 0 && first + k <= this.n))
      throw new Error(`Grid.place: images ${first}..${first + k - 1} outside the grid's ${this.n} cells`);
    if (images.length !== k * h * w * c)
      throw new Error(`Grid.place: expected ${k}x${h}x${w}x${c} = ${k * h * w * c} values, got ${images.length}`);
    const rowBytes = w * c,
      width = this.image.width,
      data = this.image.data;
    for (let j = 0; j < k; j++) {
      const i = first + j;
      const y0 = pad + Math.floor(i / cols) * (h + pad);
      const x0 = pad + (i % cols) * (w + pad);
      for (let y = 0; y < h; y++) {
        const src = (j * h + y) * rowBytes;
        data.set(images.subarray(src, src + rowBytes), ((y0 + y) * width + x0) * c);
      }
    }
  }
}

/**
 * Places images left to right with `pad` pixels between them (no outer border; grids have their own),
 * top-aligned; shorter ones are filled below with padValue. Gray images are widened to the others'
 * channel count when channel counts differ.
 */
export function concatHorizontal(images: ImageU8[], opts: { pad?: number; padValue?: number } = {}): ImageU8 {
  if (images.length === 0) throw new Error('concatHorizontal needs at least one image');
  const pad = opts.pad ?? 2;
  checkDims('pad', pad, 0);
  const channels = Math.max(...images.map((im) => im.channels));
  const parts = images.map((im) => (im.channels === channels ? im : toChannels(im, channels)));
  const height = Math.max(...parts.map((im) => im.height));
  const width = parts.reduce((s, im) => s + im.width, 0) + pad * (parts.length - 1);
  const data = new Uint8Array(height * width * channels).fill(opts.padValue ?? 255);
  let x0 = 0;
  for (const im of parts) {
    const rowBytes = im.width * channels;
    for (let y = 0; y < im.height; y++) {
      data.set(im.data.subarray(y * rowBytes, (y + 1) * rowBytes), (y * width + x0) * channels);
    }
    x0 += im.width + pad;
  }
  return { data, height, width, channels };
}

/** Gray (1 channel) to `channels` by repeating the value; alpha (4th channel) becomes opaque. */
export function toChannels(im: ImageU8, channels: number): ImageU8 {
  if (im.channels === channels) return im;
  if (im.channels !== 1 || (channels !== 3 && channels !== 4)) {
    throw new Error(`cannot convert a ${im.channels}-channel image to ${channels} channels`);
  }
  const n = im.height * im.width;
  const data = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    const v = im.data[i];
    data[i * channels] = v;
    data[i * channels + 1] = v;
    data[i * channels + 2] = v;
    if (channels === 4) data[i * channels + 3] = 255;
  }
  return { data, height: im.height, width: im.width, channels };
}

/**
 * Maps float pixels in [lo, hi] (e.g. [0, 1] or [-1, 1]) to 0..255, clamping out-of-range values;
 * NaN becomes 0.
 */
export function floatsToUint8(values: ArrayLike<number>, lo = 0, hi = 1): Uint8Array {
  if (!(hi > lo)) throw new Error(`floatsToUint8 needs hi > lo, got [${lo}, ${hi}]`);
  const out = new Uint8Array(values.length);
  const scale = 255 / (hi - lo);
  for (let i = 0; i < values.length; i++) {
    const v = Math.round((values[i] - lo) * scale);
    out[i] = v > 255 ? 255 : v > 0 ? v : 0;
  }
  return out;
}

/** Nearest-neighbour enlargement by an integer factor k (each pixel becomes a k x k block): small images made visible. */
export function upscale(im: ImageU8, k: number): ImageU8 {
  checkDims('scale', k, 1);
  if (k === 1) return im;
  const { height, width, channels: c } = im;
  const W = width * k;
  const data = new Uint8Array(height * k * W * c);
  for (let y = 0; y < height; y++) {
    const row = y * k * W * c;
    for (let x = 0; x < width; x++) {
      const px = im.data.subarray((y * width + x) * c, (y * width + x + 1) * c);
      for (let j = 0; j < k; j++) data.set(px, row + (x * k + j) * c);
    }
    for (let i = 1; i < k; i++) data.copyWithin(row + i * W * c, row, row + W * c);
  }
  return { data, height: height * k, width: W, channels: c };
}
