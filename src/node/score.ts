// scoreImages: any images (another tool's samples, a real set) judged as `deepgen eval` and `cond-eval` judge a run's
// samples: FID, KID and precision/recall against the dataset's first n test images beside the real floor (n training
// images against the same), and with labels or prompts the share the project's classifier sees as asked.
import { imagesToTensor, sliceImages, type Images } from '../core/api/images.ts';
import { labelIndex } from '../core/api/labels.ts';
import { EMOJI_CATEGORIES } from '../core/data/emoji.ts';
import { COLORS, DEFAULT_SHAPES_SIZE, parseShapePairs, SHAPE_KINDS, type ShapePair } from '../core/data/shapes.ts';
import { UserError } from '../core/errors.ts';
import {
  labelAccuracy,
  promptPairs,
  shapeAccuracy,
  type LabelAccuracy,
  type ShapeAccuracy,
} from '../core/eval/conditional-accuracy.ts';
import {
  getClassifier,
  parseClassifierDataset,
  type ClassifierDataset,
  type GetClassifierOptions,
} from './classifier-store.ts';
import { loadDataset } from './data/datasets.ts';
import { FASHION_MNIST_CLASSES } from './data/idx.ts';
import { SAMPLE_METRICS, compareWithTest, type SampleMetric, type SampleQualityResult } from './sample-quality.ts';
import type { ImageShape } from './score-input.ts';

/** A figure of scoreImages: the sample-quality metrics, and `acc` (classifier accuracy, with labels or prompts). */
export type ScoreMetric = SampleMetric | 'acc';
export const SCORE_METRICS: readonly ScoreMetric[] = [...SAMPLE_METRICS, 'acc'];

/** Lines of a labels or prompts file (one per image, in order) and where they came from, for messages. */
export interface ScoreLines {
  lines: readonly string[];
  source: string;
}

/** What scoreImages compares the images with, and how. */
export interface ScoreOptions {
  /** fashion-mnist, shapes or emoji (the datasets with a classifier; emoji-google and emoji-twitter use emoji's). */
  dataset: string;
  /** Square image side (default 28 for fashion-mnist, 32 for shapes and emoji); the dataset is resized or generated at it. */
  size?: number;
  /** Fashion-MNIST idx folder (default /usr/share/datasets/fashion-mnist). */
  dataDir?: string;
  /** Default fid, kid, pr, and acc when labels or prompts are given. */
  metrics?: readonly ScoreMetric[];
  /** The class of each image: an index or a class name (shapes: its kind; emoji: its category). */
  labels?: ScoreLines;
  /** The prompt of each image: shapes, naming a colour and a kind; fashion-mnist and emoji, a class name. */
  prompts?: ScoreLines;
  /** shapes with prompts: "<color> <kind>" pairs held out of the model's training, scored apart. */
  holdOut?: readonly string[];
  /** Score the first n images (default all); the test and training images compared are as many. */
  n?: number;
  /** Seed of KID's subsets (default 0). */
  seed?: number;
  /** Passed to getClassifier (tests use a tiny one in a temporary cache). */
  classifier?: GetClassifierOptions;
}

/** The figures of scoreImages, as `deepgen score --json` prints them. */
export interface ScoreResult {
  dataset: ClassifierDataset;
  /** The images' HxWxC. */
  size: string;
  /** Images scored. */
  n: number;
  /** What they were compared with. */
  testImages: string;
  /** Lines for the user: caps applied. */
  messages: string[];
  /** FID, KID, precision/recall and the real floor at n (`reference`), as `deepgen eval` reports them. */
  sampleQuality?: Omit<SampleQualityResult, 'sampleSecondsPerImage'>;
  /** label: labels (or class-name prompts) were judged; text: colour+shape prompts on shapes. */
  kind?: 'label' | 'text';
  labels?: LabelAccuracy & { classNames: string[] };
  /** shapes prompts: on pairs not held out (all prompts when holdOut is not given). */
  seen?: ShapeAccuracy;
  heldOut?: ShapeAccuracy & { pairs: string[] };
  classifier: { dataset: string; testAccuracy: Record<string, number>; dir: string };
  seconds: number;
}

/** The image shape a dataset's classifier takes: fashion-mnist size x size x 1, shapes and emoji size x size x 3. */
export function scoreImageShape(dataset: string, size?: number): ImageShape {
  const d = parseClassifierDataset(dataset);
  const side = size ?? (d === 'fashion-mnist' ? 28 : d === 'shapes' ? DEFAULT_SHAPES_SIZE : 32);
  return { height: side, width: side, channels: d === 'fashion-mnist' ? 1 : 3 };
}

/** The class of each line (an index or a class name, case-insensitive); a one-line error naming the file and line. */
export function parseLabelLines(l: ScoreLines, classNames: readonly string[], what = 'label'): Int32Array {
  return Int32Array.from(l.lines, (v, i) => {
    try {
      return labelIndex(v, classNames, classNames.length);
    } catch {
      throw new UserError(
        `${l.source} line ${i + 1}: ${what} "${v}" is not a class; use 0..${classNames.length - 1} or one of: ${classNames.join(', ')}`,
      );
    }
  });
}

/** The metrics asked for, checked against the labels/prompts given. */
function metricsOf(o: ScoreOptions): ScoreMetric[] {
  const cond = o.labels !== undefined || o.prompts !== undefined;
  const m = (o.metrics ?? (cond ? SCORE_METRICS : SAMPLE_METRICS)).filter(Boolean);
  const bad = m.filter((x) => !SCORE_METRICS.includes(x));
  if (bad.length || m.length === 0)
    throw new UserError(
      `metrics must be a comma-separated list of ${SCORE_METRICS.join(', ')}, got "${(o.metrics ?? []).join(',')}"`,
    );
  if (m.includes('acc') && !cond)
    throw new UserError('acc (classifier accuracy) needs the class or prompt of each image: pass labels or prompts');
  return SCORE_METRICS.filter((x) => m.includes(x));
}

/** What the images were asked to show, parsed before any classifier is trained: classes, or colour+shape pairs. */
function intended(
  o: ScoreOptions,
  dataset: ClassifierDataset,
  count: number,
): { labels?: Int32Array; classNames: string[]; pairs?: ShapePair[]; held?: ShapePair[] } {
  const classNames =
    dataset === 'shapes' ? [...SHAPE_KINDS] : dataset === 'emoji' ? [...EMOJI_CATEGORIES] : [...FASHION_MNIST_CLASSES];
  if (o.labels && o.prompts) throw new UserError('pass labels or prompts, not both');
  const given = o.labels ?? o.prompts;
  if (o.holdOut?.length && !(o.prompts && dataset === 'shapes'))
    throw new UserError('held-out pairs apply to prompts on shapes; drop them, or pass the prompts');
  if (!given) return { classNames };
  const what = o.labels ? 'label' : 'prompt';
  if (given.lines.length !== count)
    throw new UserError(
      `${given.source} has ${given.lines.length} ${what}s for ${count} images; give one ${what} per image, in the images' order`,
    );
  if (o.labels || dataset !== 'shapes') return { labels: parseLabelLines(given, classNames, what), classNames };
  let pairs: ShapePair[];
  try {
    pairs = promptPairs(given.lines);
  } catch (e) {
    throw new UserError(`${given.source}: ${(e as Error).message}`);
  }
  return { classNames, pairs, held: parseShapePairs(o.holdOut ?? []) };
}

/** The rows of `pred` (per head) and `pairs` at the given indices, judged as shapeAccuracy does. */
function pairsAt(pred: Record<string, Int32Array>, pairs: ShapePair[], idx: number[]): ShapeAccuracy {
  return shapeAccuracy(
    { kind: idx.map((i) => pred.kind[i]), color: idx.map((i) => pred.color[i]) },
    idx.map((i) => pairs[i]),
  );
}

/**
 * FID, KID, precision/recall of `images` against the dataset's first n test images, beside the real floor (n training
 * images against the same test images), and with labels or prompts the classifier's accuracy, overall and per class
 * (shapes prompts: colour, shape and both, seen and held-out pairs apart). Every image must have scoreImageShape's
 * size; labels and prompts are checked before the classifier is loaded (or trained, on first use).
 *
 * @example
 * const r = await scoreImages(images, { dataset: 'fashion-mnist', labels: { lines, source: 'labels.txt' } });
 * console.log(r.sampleQuality?.fid, r.sampleQuality?.reference.fid, r.labels?.overall);
 */
export async function scoreImages(images: Images, o: ScoreOptions): Promise<ScoreResult> {
  const t0 = performance.now();
  const dataset = parseClassifierDataset(o.dataset);
  const shape = scoreImageShape(dataset, o.size);
  if (images.height !== shape.height || images.width !== shape.width || images.channels !== shape.channels)
    throw new UserError(
      `the images are ${images.height}x${images.width}x${images.channels}, but ${dataset} images are ${shape.height}x${shape.width}x${shape.channels}`,
    );
  const metrics = metricsOf(o);
  const quality = metrics.filter((m): m is SampleMetric => m !== 'acc');
  const want = intended(o, dataset, images.n);
  const messages: string[] = [];
  let n = o.n !== undefined ? Math.min(o.n, images.n) : images.n;
  const data = {
    dataDir: o.dataDir,
    size: dataset === 'fashion-mnist' && shape.height === 28 ? undefined : shape.height,
    seed: 0,
  };
  let test, train;
  if (quality.length) {
    // fashion-mnist has 10,000 test images; shapes generates as many as asked
    test = loadDataset(o.dataset, { split: 'test', n, ...data }); // emoji-google: its own images, emoji's classifier
    if (test.n < n) {
      messages.push(`note: ${o.dataset} has ${test.n} test images; scoring the first ${test.n} of ${n} images`);
      n = test.n;
    }
    if (n < 10) throw new UserError(`${n} images are too few for FID/KID (use at least 10; 10000 is the usual figure)`);
    train = loadDataset(o.dataset, { split: 'train', n, ...data });
  }
  const clf = await getClassifier(dataset, { size: shape.height, dataDir: o.dataDir, ...o.classifier });
  const result: ScoreResult = {
    dataset,
    size: `${shape.height}x${shape.width}x${shape.channels}`,
    n,
    testImages: `the first ${n} ${o.dataset} test images${dataset === 'shapes' ? ' (seed 0)' : ''}`,
    messages,
    classifier: { dataset, testAccuracy: clf.info.testAccuracy as unknown as Record<string, number>, dir: clf.dir },
    seconds: 0,
  };
  const x = imagesToTensor(sliceImages(images, 0, n)); // [n, H, W, C] in [0, 1]
  try {
    if (quality.length) {
      const fake = clf.classifier.featuresBatched(x, 500); // [n, features]
      try {
        result.sampleQuality = { ...compareWithTest(clf, fake, test!, train!, quality, o.seed ?? 0), seconds: 0 };
      } finally {
        fake.dispose();
      }
    }
    if (metrics.includes('acc')) {
      const pred = clf.classifier.predict(x);
      if (want.labels) {
        const head = dataset === 'shapes' ? 'kind' : clf.classifier.config.heads[0].name;
        result.kind = o.prompts ? 'text' : 'label';
        result.labels = {
          ...labelAccuracy(pred[head], want.labels.subarray(0, n), want.classNames.length),
          classNames: want.classNames,
        };
      } else {
        const pairs = want.pairs!.slice(0, n);
        const key = (p: ShapePair) => `${p.color} ${p.kind}`;
        const held = new Set(want.held!.map(key));
        const idx = pairs.map((_, i) => i);
        result.kind = 'text';
        result.seen = pairsAt(
          pred,
          pairs,
          idx.filter((i) => !held.has(key(pairs[i]))),
        );
        if (held.size)
          result.heldOut = {
            ...pairsAt(
              pred,
              pairs,
              idx.filter((i) => held.has(key(pairs[i]))),
            ),
            pairs: want.held!.map(key),
          };
      }
    }
  } finally {
    x.dispose();
    clf.classifier.dispose();
  }
  result.seconds = (performance.now() - t0) / 1000;
  if (result.sampleQuality) result.sampleQuality.seconds = result.seconds;
  return result;
}

/** Colours and kinds a shapes prompt may name (for help texts). */
export const SHAPES_PROMPT_WORDS = `colours ${COLORS.join(', ')}; shapes ${SHAPE_KINDS.join(', ')}`;
