// Tiny in-memory models for tests: n shapes images with the DataInfo a model needs (classes and caption words), and a
// family's model from its defaults, its tinyPreset and a test's overrides, merged key by key.
import { generateShapes, type ShapesDataset } from '../../src/core/data/shapes.ts';
import type { DataInfo, Family, GenerativeModel } from '../../src/core/family.ts';

/** n shapes images of size x size x 3 and their DataInfo (the captions' words as the vocabulary). */
export function tinyShapes(n: number, size = 8): { shapes: ShapesDataset; info: DataInfo } {
  const shapes = generateShapes({ n, seed: 1, size });
  const vocabulary = [...new Set(shapes.captions!.flatMap((c) => c.toLowerCase().split(/\s+/).filter(Boolean)))].sort();
  const info: DataInfo = {
    height: size,
    width: size,
    channels: 3,
    numClasses: shapes.classNames!.length,
    classNames: shapes.classNames,
    vocabulary,
  };
  return { shapes, info };
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
/** b over a, nested objects merged key by key. */
export const mergeDeep = (a: Plain, b: Plain): Plain =>
  Object.fromEntries(
    [...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [
      k,
      isPlain(a[k]) && isPlain(b[k]) ? mergeDeep(a[k], b[k]) : k in b ? b[k] : a[k],
    ]),
  );

/** The family's model config: its defaults, then its tinyPreset, then `over`. */
export const tinyModelConfig = (fam: Family<unknown>, over: Plain = {}): Plain =>
  mergeDeep(mergeDeep(fam.defaults.model, fam.tinyPreset), over);

/** A tiny model of the family on `info`, parsed as the CLI parses configs. */
export function tinyModel(fam: Family<unknown>, info: DataInfo, over: Plain = {}, seed = 3): GenerativeModel {
  return fam.create(fam.modelSchema.parse(tinyModelConfig(fam, over)), info, seed);
}
