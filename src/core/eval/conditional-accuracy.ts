// How often conditional samples show what was asked for, judged by the project's classifier: per-class and overall
// rates for class labels, and kind/color/both rates (overall and per color+kind pair) for shapes prompts.
import type * as tf from '@tensorflow/tfjs-core';
import { COLORS, SHAPE_KINDS, type ShapeColor, type ShapeKind, type ShapePair } from '../data/shapes.ts';
import { UserError } from '../errors.ts';
import type { Classifier } from './classifier.ts';

export interface LabelAccuracy {
  /** Fraction of images classified as their intended class. */
  overall: number;
  /** Per class c: fraction of images intended as c that were classified as c (NaN when none were intended). */
  perClass: number[];
  /** Number of images intended as each class. */
  counts: number[];
  n: number;
}

/** Accuracy of predicted vs intended class indices (pure). */
export function labelAccuracy(
  predicted: ArrayLike<number>,
  intended: ArrayLike<number>,
  numClasses: number,
): LabelAccuracy {
  if (predicted.length !== intended.length)
    throw new Error(`labelAccuracy: ${predicted.length} predictions for ${intended.length} intended labels`);
  const counts = new Array<number>(numClasses).fill(0);
  const hits = new Array<number>(numClasses).fill(0);
  let ok = 0;
  for (let i = 0; i < intended.length; i++) {
    const y = intended[i];
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses))
      throw new Error(`labelAccuracy: intended label ${y} is not in 0..${numClasses - 1}`);
    counts[y]++;
    if (predicted[i] === y) {
      hits[y]++;
      ok++;
    }
  }
  const n = intended.length;
  return { overall: n ? ok / n : NaN, perClass: counts.map((c, k) => (c ? hits[k] / c : NaN)), counts, n };
}

export interface ShapeAccuracy {
  /** Fraction of images whose predicted kind and color both match the prompt. */
  both: number;
  kind: number;
  color: number;
  n: number;
  /** Per intended pair "<color> <kind>": count and the three rates. */
  perPair: Record<string, { n: number; both: number; kind: number; color: number }>;
}

/** Accuracy of predicted kind/color indices (SHAPE_KINDS / COLORS order) vs the intended pairs (pure). */
export function shapeAccuracy(
  predicted: { kind: ArrayLike<number>; color: ArrayLike<number> },
  intended: readonly ShapePair[],
): ShapeAccuracy {
  const n = intended.length;
  if (predicted.kind.length !== n || predicted.color.length !== n) {
    throw new Error(
      `shapeAccuracy: ${predicted.kind.length} kind and ${predicted.color.length} color predictions for ${n} intended pairs`,
    );
  }
  const tally = new Map<string, { n: number; both: number; kind: number; color: number }>();
  const total = { both: 0, kind: 0, color: 0 };
  for (let i = 0; i < n; i++) {
    const { kind, color } = intended[i];
    const kindOk = SHAPE_KINDS[predicted.kind[i]] === kind;
    const colorOk = COLORS[predicted.color[i]] === color;
    const key = `${color} ${kind}`;
    const t = tally.get(key) ?? { n: 0, both: 0, kind: 0, color: 0 };
    t.n++;
    t.kind += +kindOk;
    t.color += +colorOk;
    t.both += +(kindOk && colorOk);
    tally.set(key, t);
    total.kind += +kindOk;
    total.color += +colorOk;
    total.both += +(kindOk && colorOk);
  }
  const perPair: ShapeAccuracy['perPair'] = {};
  for (const key of [...tally.keys()].sort()) {
    const t = tally.get(key)!;
    perPair[key] = { n: t.n, both: t.both / t.n, kind: t.kind / t.n, color: t.color / t.n };
  }
  return {
    both: n ? total.both / n : NaN,
    kind: n ? total.kind / n : NaN,
    color: n ? total.color / n : NaN,
    n,
    perPair,
  };
}

/** The rates over the intended pairs in `pairs` only (e.g. the held-out ones), from shapeAccuracy's perPair. */
export function pairSubsetAccuracy(
  acc: ShapeAccuracy,
  pairs: readonly ShapePair[],
): { both: number; kind: number; color: number; n: number } {
  const sum = { both: 0, kind: 0, color: 0, n: 0 };
  for (const p of pairs) {
    const t = acc.perPair[`${p.color} ${p.kind}`];
    if (!t) continue;
    sum.n += t.n;
    sum.both += t.both * t.n;
    sum.kind += t.kind * t.n;
    sum.color += t.color * t.n;
  }
  return sum.n
    ? { both: sum.both / sum.n, kind: sum.kind / sum.n, color: sum.color / sum.n, n: sum.n }
    : { both: NaN, kind: NaN, color: NaN, n: 0 };
}

/** What a shapes prompt asks for: each attribute, or null when it names none; naming two different kinds (or colors) is an error. */
export interface PromptAttributes {
  kind: ShapeKind | null;
  color: ShapeColor | null;
}

function findOne<T extends string>(words: string[], names: readonly T[], what: string, prompt: string): T | null {
  const found = new Set<T>();
  for (const w of words) {
    for (const name of names) if (w === name || w === `${name}s` || w === `${name}es`) found.add(name);
  }
  if (found.size > 1)
    throw new UserError(
      `The prompt "${prompt}" names ${found.size} ${what}s (${[...found].join(', ')}); name at most one so it can be judged.`,
    );
  return found.size ? [...found][0] : null;
}

/**
 * "a large blue square at the top left" -> { kind: 'square', color: 'blue' }; "a red thing" -> { kind: null, color: 'red' };
 * null when the prompt names neither a kind (SHAPE_KINDS, plurals too) nor a color (COLORS).
 */
export function parseShapePrompt(prompt: string): PromptAttributes | null {
  const words = prompt
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter(Boolean);
  const kind = findOne(words, SHAPE_KINDS, 'shape', prompt);
  const color = findOne(words, COLORS, 'color', prompt);
  return kind === null && color === null ? null : { kind, color };
}

/** Parses prompts that must each name a kind and a color (one-line UserError naming the first that does not). */
export function promptPairs(prompts: readonly string[]): ShapePair[] {
  return prompts.map((p) => {
    const a = parseShapePrompt(p);
    if (!a?.kind || !a.color)
      throw new UserError(
        `The prompt "${p}" must name a color (${COLORS.join(', ')}) and a shape (${SHAPE_KINDS.join(', ')}) to be judged.`,
      );
    return { kind: a.kind, color: a.color };
  });
}

/** Class-conditional samples x [N, H, W, C] in [0, 1] judged against their intended labels. */
export function classConditionalAccuracy(
  clf: Classifier,
  x: tf.Tensor4D,
  intended: ArrayLike<number>,
  head = clf.config.heads[0].name,
): LabelAccuracy {
  const h = clf.config.heads.find((hh) => hh.name === head);
  if (!h) throw new Error(`classifier has no head ${head}`);
  return labelAccuracy(clf.predict(x)[head], intended, h.classes.length);
}

/** Text-conditional shapes samples x [N, H, W, C] in [0, 1] judged against the pairs their prompts asked for. */
export function textConditionalAccuracy(
  clf: Classifier,
  x: tf.Tensor4D,
  intended: readonly ShapePair[],
): ShapeAccuracy {
  const names = clf.config.heads.map((h) => h.name);
  if (!names.includes('kind') || !names.includes('color'))
    throw new Error(`a shapes classifier needs heads kind and color, got ${names.join(', ')}`);
  const pred = clf.predict(x);
  return shapeAccuracy({ kind: pred.kind, color: pred.color }, intended);
}
