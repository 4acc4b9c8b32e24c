// The inverse of makeGrid: finds how a grid picture of h x w tiles is laid out (columns, padding between tiles, outer
// border) from its size and its uniform separator lines, and cuts it back into tiles, dropping empty cells at the end.
import type { ImageU8 } from './grid.ts';

/** Where the tiles of a grid picture sit: tile (row r, col c) has its top-left pixel at
 *  (border + r * (tileHeight + pad), border + c * (tileWidth + pad)). */
export interface GridLayout {
  rows: number;
  cols: number;
  tileHeight: number;
  tileWidth: number;
  /** Pixels between neighbouring tiles. */
  pad: number;
  /** Pixels around the whole grid (torchvision's make_grid and deepgen's grids: = pad; many others: 0). */
  border: number;
  /** The colour of every separator pixel (one value per channel), or null when there are none (pad = border = 0). */
  padValue: number[] | null;
}

/** What findGridLayouts may assume; each given field must match. */
export interface GridLayoutHints {
  cols?: number;
  pad?: number;
}

/** Paddings tried when none is given: 0..MAX_AUTO_PAD pixels (with and without an outer border of the same width). */
export const MAX_AUTO_PAD = 16;

/** The separator colour of a layout when every separator pixel has one colour; null when it has none; false when they differ. */
function separatorColour(img: ImageU8, l: Omit<GridLayout, 'padValue'>): number[] | null | false {
  const { width, height, channels: c, data } = img;
  const inTile = (v: number, tile: number) => v >= l.border && (v - l.border) % (tile + l.pad) < tile;
  const colIsTile = Array.from({ length: width }, (_, x) => inTile(x, l.tileWidth) && x < width - l.border);
  let ref: number[] | null = null;
  for (let y = 0; y < height; y++) {
    const rowIsTile = inTile(y, l.tileHeight) && y < height - l.border;
    for (let x = 0; x < width; x++) {
      if (rowIsTile && colIsTile[x]) continue;
      const p = (y * width + x) * c;
      if (ref === null) ref = Array.from(data.subarray(p, p + c));
      else for (let k = 0; k < c; k++) if (data[p + k] !== ref[k]) return false;
    }
  }
  return ref;
}

/**
 * Every layout of tileHeight x tileWidth tiles that fits the picture's size exactly and whose separator pixels (between
 * tiles and around them) all have one colour: paddings `hints.pad` or 0..MAX_AUTO_PAD, each with an outer border of
 * the same width or none; `tried` says what was tried, for an error message. A layout with separator lines beats one
 * without (padding 0), which fits any multiple of the tile size; several fits left mean the picture is ambiguous.
 */
export function findGridLayouts(
  img: ImageU8,
  tileHeight: number,
  tileWidth: number,
  hints: GridLayoutHints = {},
): { fits: GridLayout[]; tried: string } {
  const pads = hints.pad !== undefined ? [hints.pad] : Array.from({ length: MAX_AUTO_PAD + 1 }, (_, p) => p);
  const fits: GridLayout[] = [];
  for (const pad of pads) {
    for (const border of pad > 0 ? [pad, 0] : [0]) {
      // width = cols * tileWidth + (cols - 1) * pad + 2 * border, and the same for the height
      const cols = (img.width - 2 * border + pad) / (tileWidth + pad);
      const rows = (img.height - 2 * border + pad) / (tileHeight + pad);
      if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1) continue;
      if (hints.cols !== undefined && cols !== hints.cols) continue;
      const l = { rows, cols, tileHeight, tileWidth, pad, border };
      const padValue = separatorColour(img, l);
      // (one tile and no border: no separator, the same layout as padding 0)
      if (padValue !== false && !(padValue === null && pad > 0)) fits.push({ ...l, padValue });
    }
  }
  // a layout without separators fits any picture whose size is a multiple of the tile's: one whose separator lines
  // are all of one colour is evidence, and wins over it
  const withLines = fits.filter((l) => l.padValue !== null);
  if (withLines.length && withLines.length < fits.length) fits.splice(0, fits.length, ...withLines);
  const padText =
    hints.pad !== undefined ? `padding ${hints.pad}` : `paddings 0 to ${MAX_AUTO_PAD} px (with and without a border)`;
  const tried = `${tileHeight}x${tileWidth} tiles with ${padText}${hints.cols !== undefined ? ` in ${hints.cols} columns` : ''}`;
  return { fits, tried };
}

/** The top-left pixel [y, x] of tile i (row-major). */
const tileOrigin = (l: GridLayout, i: number): [number, number] => [
  l.border + Math.floor(i / l.cols) * (l.tileHeight + l.pad),
  l.border + (i % l.cols) * (l.tileWidth + l.pad),
];

/** Whether every pixel of tile i has the colour `v` (one value per channel). */
function tileIs(img: ImageU8, l: GridLayout, i: number, v: readonly number[]): boolean {
  const c = img.channels;
  const [y0, x0] = tileOrigin(l, i);
  for (let y = y0; y < y0 + l.tileHeight; y++) {
    const row = (y * img.width + x0) * c;
    for (let j = 0; j < l.tileWidth * c; j++) if (img.data[row + j] !== v[j % c]) return false;
  }
  return true;
}

/**
 * The tiles of a grid picture in row-major order, as n NHWC images, without the empty cells at its end: trailing
 * tiles that are all the padding colour (without padding: all black or all white, the fills of torchvision's
 * make_grid and deepgen's grids).
 */
export function splitGrid(img: ImageU8, l: GridLayout): { data: Uint8Array; n: number; dropped: number } {
  const c = img.channels;
  const empties = l.padValue !== null ? [l.padValue] : [new Array<number>(c).fill(0), new Array<number>(c).fill(255)];
  let n = l.rows * l.cols;
  while (n > 1 && empties.some((v) => tileIs(img, l, n - 1, v))) n--;
  const rowBytes = l.tileWidth * c;
  const data = new Uint8Array(n * l.tileHeight * rowBytes);
  for (let i = 0; i < n; i++) {
    const [y0, x0] = tileOrigin(l, i);
    for (let y = 0; y < l.tileHeight; y++) {
      const src = ((y0 + y) * img.width + x0) * c;
      data.set(img.data.subarray(src, src + rowBytes), (i * l.tileHeight + y) * rowBytes);
    }
  }
  return { data, n, dropped: l.rows * l.cols - n };
}
