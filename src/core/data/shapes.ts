// Built-in procedural dataset `shapes`: one colored shape per RGB image, with attribute fields and a caption.
// Seeded and platform-free, so class- and text-conditional models can be trained and checked with no download.

import { UserError } from '../errors.ts';
import { Rng } from '../tensor/rng.ts';
import type { ImageDataset } from './types.ts';

export const SHAPE_KINDS = ['circle', 'square', 'triangle', 'diamond', 'cross'] as const;
export const COLORS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'white'] as const;
export const SIZES = ['small', 'medium', 'large'] as const;
export const POSITIONS = [
  'top left',
  'top',
  'top right',
  'left',
  'center',
  'right',
  'bottom left',
  'bottom',
  'bottom right',
] as const;

export type ShapeKind = (typeof SHAPE_KINDS)[number];
export type ShapeColor = (typeof COLORS)[number];
export type ShapeSize = (typeof SIZES)[number];
export type ShapePosition = (typeof POSITIONS)[number];

/** Exact RGB of each named color: pixels fully inside a shape carry exactly this value. */
export const COLOR_RGB: Readonly<Record<ShapeColor, readonly [number, number, number]>> = {
  red: [220, 40, 40],
  green: [40, 180, 60],
  blue: [50, 90, 230],
  yellow: [240, 215, 40],
  purple: [150, 60, 200],
  orange: [250, 140, 30],
  white: [245, 245, 245],
};

export interface ShapeFields {
  shape: ShapeKind;
  color: ShapeColor;
  size: ShapeSize;
  position: ShapePosition;
}

/** Where the shape was drawn, in pixels: it lies inside the box [cx-r, cx+r] x [cy-r, cy+r]. */
export interface ShapeGeometry {
  cx: number;
  cy: number;
  r: number;
}

export type ShapesDataset = ImageDataset & { fields: ShapeFields[]; geometry: ShapeGeometry[] };

export const DEFAULT_SHAPES_SIZE = 32;

// Radius as a fraction of the image side; grid centers as fractions; jitter as a fraction of the side.
const SIZE_RADIUS: Record<ShapeSize, number> = { small: 0.11, medium: 0.16, large: 0.22 };
const GRID = [0.2, 0.5, 0.8];
const JITTER = 0.035;
// Sub-samples per pixel axis: 3x3 coverage gives soft edges while staying fast.
const SS = 3;

const PREPOSITION: Record<ShapePosition, string> = {
  'top left': 'at the top left',
  top: 'at the top',
  'top right': 'at the top right',
  left: 'on the left',
  center: 'in the center',
  right: 'on the right',
  'bottom left': 'at the bottom left',
  bottom: 'at the bottom',
  'bottom right': 'at the bottom right',
};

/** "a small red circle at the top left", "a large blue square in the center". */
export function shapeCaption(f: ShapeFields): string {
  return `a ${f.size} ${f.color} ${f.shape} ${PREPOSITION[f.position]}`;
}

// Point-in-shape test in coordinates normalized by the radius (u right, v down, both in [-1, 1]).
function inside(kind: number, u: number, v: number): boolean {
  switch (kind) {
    case 0: // circle
      return u * u + v * v <= 1;
    case 1: // square, shrunk so its area is close to the circle's
      return Math.abs(u) <= 0.82 && Math.abs(v) <= 0.82;
    case 2: // upward triangle: apex at v=-1, base at v=0.85 spanning u in [-1, 1]
      return v <= 0.85 && Math.abs(u) <= (v + 1) / 1.85;
    case 3: // diamond
      return Math.abs(u) + Math.abs(v) <= 1;
    default: {
      // cross (plus sign)
      const au = Math.abs(u);
      const av = Math.abs(v);
      return (au <= 0.36 && av <= 0.95) || (av <= 0.36 && au <= 0.95);
    }
  }
}

function checkOpts(n: number, size: number): void {
  if (!Number.isInteger(n) || n < 0)
    throw new UserError(`Invalid shapes count ${n}: it must be a non-negative integer (e.g. 20000).`);
  if (!Number.isInteger(size) || size < 8 || size > 1024) {
    throw new UserError(`Invalid shapes image size ${size}: it must be an integer from 8 to 1024 (e.g. 32).`);
  }
}

/** Generate n seeded RGB images of size x size, one shape each; labels index SHAPE_KINDS. */
export function generateShapes(opts: { n: number; seed: number; size?: number }): ShapesDataset {
  const { n, seed } = opts;
  const size = opts.size ?? DEFAULT_SHAPES_SIZE;
  checkOpts(n, size);
  const rng = new Rng(seed);
  const plane = size * size * 3;
  const images = new Uint8Array(n * plane);
  const labels = new Int32Array(n);
  const captions: string[] = new Array(n);
  const fields: ShapeFields[] = new Array(n);
  const geometry: ShapeGeometry[] = new Array(n);
  const bg = [0, 0, 0];

  for (let i = 0; i < n; i++) {
    // Draw order is part of the format: changing it changes every image for a given seed.
    const kind = rng.int(SHAPE_KINDS.length);
    const color = COLORS[rng.int(COLORS.length)];
    const sizeName = SIZES[rng.int(SIZES.length)];
    const pos = rng.int(POSITIONS.length);
    const jx = (rng.uniform() * 2 - 1) * JITTER * size;
    const jy = (rng.uniform() * 2 - 1) * JITTER * size;
    const bgMode = rng.int(3);
    const b0 = rng.uniform();
    const b1 = rng.uniform();
    const b2 = rng.uniform();

    // Light backgrounds would hide white and yellow shapes, so those fall back to dark.
    const light = bgMode === 2 && color !== 'white' && color !== 'yellow';
    if (light) {
      const g = 190 + Math.floor(b0 * 40);
      bg[0] = g + Math.floor((b1 - 0.5) * 16);
      bg[1] = g + Math.floor((b2 - 0.5) * 16);
      bg[2] = g;
    } else if (bgMode === 1) {
      // Subtly tinted dark background.
      bg[0] = 10 + Math.floor(b0 * 55);
      bg[1] = 10 + Math.floor(b1 * 55);
      bg[2] = 10 + Math.floor(b2 * 55);
    } else {
      const g = 5 + Math.floor(b0 * 45);
      bg[0] = g;
      bg[1] = g;
      bg[2] = g;
    }

    const r = Math.max(1.5, SIZE_RADIUS[sizeName] * size);
    const cx = Math.min(size - r, Math.max(r, GRID[pos % 3] * size + jx));
    const cy = Math.min(size - r, Math.max(r, GRID[Math.floor(pos / 3)] * size + jy));

    const base = i * plane;
    for (let p = base; p < base + plane; p += 3) {
      images[p] = bg[0];
      images[p + 1] = bg[1];
      images[p + 2] = bg[2];
    }

    const fg = COLOR_RGB[color];
    const x0 = Math.max(0, Math.floor(cx - r));
    const x1 = Math.min(size - 1, Math.floor(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(size - 1, Math.floor(cy + r));
    const invR = 1 / r;
    const total = SS * SS;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        let hits = 0;
        for (let sy = 0; sy < SS; sy++) {
          const v = (y + (sy + 0.5) / SS - cy) * invR;
          for (let sx = 0; sx < SS; sx++) {
            if (inside(kind, (x + (sx + 0.5) / SS - cx) * invR, v)) hits++;
          }
        }
        if (hits === 0) continue;
        const p = base + (y * size + x) * 3;
        if (hits === total) {
          images[p] = fg[0];
          images[p + 1] = fg[1];
          images[p + 2] = fg[2];
        } else {
          const a = hits / total;
          images[p] = Math.round(bg[0] + (fg[0] - bg[0]) * a);
          images[p + 1] = Math.round(bg[1] + (fg[1] - bg[1]) * a);
          images[p + 2] = Math.round(bg[2] + (fg[2] - bg[2]) * a);
        }
      }
    }

    const f: ShapeFields = { shape: SHAPE_KINDS[kind], color, size: sizeName, position: POSITIONS[pos] };
    labels[i] = kind;
    fields[i] = f;
    captions[i] = shapeCaption(f);
    geometry[i] = { cx, cy, r };
  }

  return {
    name: 'shapes',
    height: size,
    width: size,
    channels: 3,
    n,
    images,
    labels,
    classNames: [...SHAPE_KINDS],
    captions,
    fields,
    geometry,
  };
}

/** A color + kind combination, e.g. held out of training to test compositional generalisation. */
export interface ShapePair {
  color: ShapeColor;
  kind: ShapeKind;
}

/** Why "<color> <kind>" is not a valid pair, or null when it is. */
export function shapePairProblem(text: string): string | null {
  const words = text.trim().toLowerCase().split(/\s+/);
  if (
    words.length === 2 &&
    (COLORS as readonly string[]).includes(words[0]) &&
    (SHAPE_KINDS as readonly string[]).includes(words[1])
  )
    return null;
  return `"${text}" is not a "<color> <kind>" pair; colors: ${COLORS.join(', ')}; kinds: ${SHAPE_KINDS.join(', ')} (e.g. "red circle")`;
}

/** Parses ["red circle", "blue square"]; a bad entry is a one-line UserError listing the valid colors and kinds. */
export function parseShapePairs(items: readonly string[]): ShapePair[] {
  return items.map((text) => {
    const problem = shapePairProblem(text);
    if (problem) throw new UserError(`Invalid hold-out pair: ${problem}.`);
    const [color, kind] = text.trim().toLowerCase().split(/\s+/) as [ShapeColor, ShapeKind];
    return { color, kind };
  });
}

/** The dataset without the images whose color and kind form one of `pairs` (fields, captions and geometry follow). */
export function holdOutShapes(ds: ShapesDataset, pairs: readonly ShapePair[]): ShapesDataset {
  if (pairs.length === 0) return ds;
  const held = new Set(pairs.map((p) => `${p.color} ${p.kind}`));
  const keep: number[] = [];
  for (let i = 0; i < ds.n; i++) if (!held.has(`${ds.fields[i].color} ${ds.fields[i].shape}`)) keep.push(i);
  const plane = ds.height * ds.width * ds.channels;
  const images = new Uint8Array(keep.length * plane);
  keep.forEach((j, i) => images.set(ds.images.subarray(j * plane, (j + 1) * plane), i * plane));
  return {
    ...ds,
    n: keep.length,
    images,
    labels: ds.labels && Int32Array.from(keep, (j) => ds.labels![j]),
    captions: ds.captions && keep.map((j) => ds.captions![j]),
    fields: keep.map((j) => ds.fields[j]),
    geometry: keep.map((j) => ds.geometry[j]),
  };
}
