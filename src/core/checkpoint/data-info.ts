// config.json's dataInfo (the image shape, classes and caption tokens a model is built for), checked before any model
// is built from it: a damaged or edited value is a one-line error naming the field, not a failure deep in a layer.
import { preview, UserError } from '../errors.ts';
import type { DataInfo } from '../family.ts';

/** Largest image side a checkpoint may declare: 8x the largest training size (data.size <= 512). */
export const MAX_IMAGE_SIDE = 4096;
/** Most classes a checkpoint may declare (a folder dataset has one per subfolder). */
export const MAX_CLASSES = 100_000;

const isInt = (v: unknown, lo: number, hi: number): v is number =>
  Number.isSafeInteger(v) && (v as number) >= lo && (v as number) <= hi;
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** The dataInfo of a config.json, validated; `source` names the file, e.g. "config.json in runs/vae". */
export function parseDataInfo(v: unknown, source: string): DataInfo {
  const damaged = (problem: string) =>
    new UserError(`${source} ${problem}; the checkpoint is damaged, restore it or train again`);
  if (v === undefined) throw damaged('has no dataInfo');
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw damaged(`has dataInfo ${preview(v)}, not an object`);
  const d = v as Record<string, unknown>;
  const field = (key: string, ok: boolean, expected: string) => {
    if (!ok) throw damaged(`has dataInfo.${key} ${preview(d[key])}, expected ${expected}`);
  };
  field('height', isInt(d.height, 1, MAX_IMAGE_SIDE), `an integer from 1 to ${MAX_IMAGE_SIDE}`);
  field('width', isInt(d.width, 1, MAX_IMAGE_SIDE), `an integer from 1 to ${MAX_IMAGE_SIDE}`);
  field('channels', d.channels === 1 || d.channels === 3, '1 or 3');
  field('numClasses', isInt(d.numClasses, 0, MAX_CLASSES), `an integer from 0 to ${MAX_CLASSES}`);
  const numClasses = d.numClasses as number;
  field(
    'classNames',
    d.classNames === undefined || (isStrings(d.classNames) && d.classNames.length === numClasses),
    `${numClasses} class names (strings)`,
  );
  field('vocabulary', d.vocabulary === undefined || isStrings(d.vocabulary), 'a list of words (strings)');
  field('merges', d.merges === undefined || isStrings(d.merges), 'a list of BPE merges (strings "left right")');
  const bad = ((d.merges as string[] | undefined) ?? []).findIndex((m) => !/^[^ ]+ [^ ]+$/.test(m));
  if (bad >= 0)
    throw damaged(
      `has dataInfo.merges[${bad}] ${preview((d.merges as string[])[bad])}, expected a BPE merge "left right" (two symbols, one space)`,
    );
  const info: DataInfo = {
    height: d.height as number,
    width: d.width as number,
    channels: d.channels as number,
    numClasses,
  };
  if (d.classNames !== undefined) info.classNames = [...(d.classNames as string[])];
  if (d.vocabulary !== undefined) info.vocabulary = [...(d.vocabulary as string[])];
  if (d.merges !== undefined) info.merges = [...(d.merges as string[])];
  return info;
}
