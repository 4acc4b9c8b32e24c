// Train-or-load cache of the project's evaluation classifiers, one checkpoint folder per dataset and image size:
// <cache>/classifiers/<dataset>-<H>x<W>/ (config.json with the test accuracy reached, model.safetensors, state.json).
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { assignRecords, CHECKPOINT_FORMAT_VERSION, variablesToRecords } from '../core/checkpoint/format.ts';
import type { EmojiDataset } from '../core/data/emoji.ts';
import type { ShapesDataset } from '../core/data/shapes.ts';
import type { ImageDataset } from '../core/data/types.ts';
import { UserError } from '../core/errors.ts';
import {
  Classifier,
  classifierConfig,
  classifierConfigSchema,
  classifierInitSeed,
  datasetAccuracy,
  EMOJI_HEADS,
  emojiLabels,
  SHAPES_HEADS,
  shapesLabels,
  trainClassifier,
  type AugmentOptions,
  type ClassifierConfig,
  type ClassifierHead,
  type HeadLabels,
} from '../core/eval/classifier.ts';
import { select } from '../core/data/batches.ts';
import { Rng } from '../core/tensor/rng.ts';
import { initBackend } from './backend.ts';
import { hasCheckpoint, loadCheckpoint, readCheckpointConfig, saveCheckpoint } from './checkpoint-store.ts';
import { loadDataset } from './data/datasets.ts';
import { formatDuration } from './progress.ts';
import { cacheRoot } from './cache.ts';

export { cacheRoot };

export const CLASSIFIER_DATASETS = ['fashion-mnist', 'shapes', 'emoji'] as const;
export type ClassifierDataset = (typeof CLASSIFIER_DATASETS)[number];

/** Data sets judged by another's classifier: one vendor's emoji by the emoji classifier (trained on both vendors). */
export const CLASSIFIER_ALIASES: Readonly<Record<string, ClassifierDataset>> = {
  'emoji-google': 'emoji',
  'emoji-twitter': 'emoji',
};

/** The `family` written in a classifier's config.json. */
export const CLASSIFIER_FAMILY = 'classifier';

export interface ClassifierRecipe {
  size: number;
  epochs: number;
  /** Training / test images (default: the whole split). */
  trainN?: number;
  testN?: number;
  batchSize: number;
  lr: number;
  /** Random flips and shifts of the training images. */
  augment?: AugmentOptions;
}

/**
 * Training recipe per dataset: Fashion-MNIST reaches ~92% test accuracy, shapes >99% on kind and color; emoji (3,403
 * base images of both vendors, flipped and shifted by up to 2 px) 76-78% on category and ~92% on vendor (seeds 0-2) in
 * about 3 minutes on one thread. Without augmentation it reached 71%; shifts of 1 or 3 px, skin-tone variants as extra
 * training images, 60 epochs, batch 64 or a 1.5x wider network did no better (74-79%, within the seeds' spread).
 */
export const CLASSIFIER_RECIPES: Record<ClassifierDataset, ClassifierRecipe> = {
  'fashion-mnist': { size: 28, epochs: 3, trainN: 60000, testN: 10000, batchSize: 128, lr: 2e-3 },
  shapes: { size: 32, epochs: 4, trainN: 20000, testN: 5000, batchSize: 128, lr: 2e-3 },
  emoji: { size: 32, epochs: 40, batchSize: 128, lr: 2e-3, augment: { flip: true, shift: 2 } },
};

export interface ClassifierInfo {
  dataset: ClassifierDataset;
  /** Test-split accuracy per head, measured right after training. */
  testAccuracy: Record<string, number>;
  /** The same on parts of the test split (emoji: names seen in training, drawn by the other vendor; held-out names). */
  testParts?: Record<string, { n: number; accuracy: Record<string, number> }>;
  testN: number;
  trainN: number;
  epochs: number;
  seed: number;
  trainSeconds: number;
  backend: string;
  createdAt: string;
}

export interface LoadedClassifier {
  classifier: Classifier;
  info: ClassifierInfo;
  dir: string;
  /** True when this call trained it (nothing was cached, or force). */
  trained: boolean;
}

export interface GetClassifierOptions {
  /** Square image side; default 28 (fashion-mnist) or 32 (shapes, emoji). Fashion-MNIST is resized, and emoji at a
   *  side other than 32 or 64 too, when it differs. */
  size?: number;
  /** Cache root; default cacheRoot(): $DEEPGEN_CACHE, the checkout's .cache, or the user's cache. */
  cacheRoot?: string;
  /** Train again even when a cached classifier exists. */
  force?: boolean;
  /** Training epochs, batch size and peak learning rate (default from CLASSIFIER_RECIPES). */
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** Limit the number of training / test images (for quick runs and tests). */
  trainN?: number;
  testN?: number;
  seed?: number;
  /** Fashion-MNIST idx folder (default /usr/share/datasets/fashion-mnist), or the emoji folder (default
   *  <cache>/datasets/emoji). */
  dataDir?: string;
  /** Backend to initialise before training (default: keep the current one, which must be able to train convs). */
  backend?: string;
  /** Network size, for tests (default [32, 64, 128] and 256). */
  net?: Partial<Pick<ClassifierConfig, 'widths' | 'features'>>;
  /** Progress lines (default stderr); pass () => {} for silence. */
  log?: (line: string) => void;
}

/** The classifier that judges a data set (emoji-google and emoji-twitter: emoji's), or null when there is none. */
export function classifierDatasetOf(name: string): ClassifierDataset | null {
  if ((CLASSIFIER_DATASETS as readonly string[]).includes(name)) return name as ClassifierDataset;
  return CLASSIFIER_ALIASES[name] ?? null;
}

/** "fashion-mnist, shapes, emoji (also emoji-google, emoji-twitter)": the data sets with a classifier, for messages. */
export function classifierDatasetsText(): string {
  return `${CLASSIFIER_DATASETS.join(', ')} (also ${Object.keys(CLASSIFIER_ALIASES).join(', ')})`;
}

/**
 * The classifier of a data set, or a one-line UserError: "<what> needs deepgen's evaluation classifier, and there is none
 * for folder:x; classifiers exist for ...<hint>". `what` defaults to the bare fact; `hint` ends the line ("; use ...").
 */
export function parseClassifierDataset(name: string, what?: string, hint = ''): ClassifierDataset {
  const d = classifierDatasetOf(name);
  if (d) return d;
  throw new UserError(
    `${what ? `${what} needs deepgen's evaluation classifier, and there is none` : 'No evaluation classifier'} for data set "${name}"; classifiers exist for ${classifierDatasetsText()}${hint}.`,
  );
}

function sizeOf(dataset: ClassifierDataset, size: number | undefined): number {
  const s = size ?? CLASSIFIER_RECIPES[dataset].size;
  if (!Number.isInteger(s) || s < 8 || s > 256)
    throw new UserError(`Invalid classifier image size ${s}: it must be an integer from 8 to 256 (e.g. --size 32).`);
  return s;
}

/** <root>/classifiers/<dataset>-<size>x<size>. */
export function classifierDir(dataset: ClassifierDataset, size?: number, root = cacheRoot()): string {
  const s = sizeOf(dataset, size);
  return path.join(root, 'classifiers', `${dataset}-${s}x${s}`);
}

/** The cached classifier's info, or null when none is cached there. */
export function readClassifierInfo(dir: string): ClassifierInfo | null {
  if (!hasCheckpoint(dir)) return null;
  const cfg = readCheckpointConfig(dir);
  if (cfg.family !== CLASSIFIER_FAMILY)
    throw new UserError(
      `${dir} holds a ${cfg.family} checkpoint, not a classifier; remove it or set DEEPGEN_CACHE to another folder`,
    );
  return cfg.info as ClassifierInfo;
}

/** Loads a classifier folder written by saveClassifier; every problem is a one-line UserError. */
export function loadClassifier(dir: string): { classifier: Classifier; info: ClassifierInfo } {
  const ck = loadCheckpoint(dir);
  if (ck.config.family !== CLASSIFIER_FAMILY)
    throw new UserError(`${dir} holds a ${ck.config.family} checkpoint, not a classifier; pass a classifier folder`);
  const parsed = classifierConfigSchema.safeParse(ck.config.config);
  if (!parsed.success)
    throw new UserError(
      `config.json in ${dir} is not a valid classifier config (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); train it again with --force`,
    );
  const classifier = new Classifier(parsed.data as ClassifierConfig, 1);
  try {
    assignRecords(classifier.params.all(), ck.weights, `model.safetensors in ${dir}`);
  } catch (e) {
    classifier.dispose();
    throw e;
  }
  return { classifier, info: ck.config.info as ClassifierInfo };
}

/** Writes config.json (network config + info), model.safetensors and state.json atomically into `dir`. */
export async function saveClassifier(
  dir: string,
  classifier: Classifier,
  info: ClassifierInfo,
  steps: number,
): Promise<void> {
  saveCheckpoint(dir, {
    config: {
      family: CLASSIFIER_FAMILY,
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      createdBy: 'deepgen',
      config: classifier.config,
      info,
    },
    weights: await variablesToRecords(classifier.params.all()),
    state: { step: steps, epoch: info.epochs, rng: new Rng(info.seed).getState() },
  });
}

function splitWithLabels(
  dataset: ClassifierDataset,
  split: 'train' | 'test',
  size: number,
  n: number | undefined,
  seed: number,
  dataDir?: string,
): { ds: ImageDataset; labels: HeadLabels } {
  if (dataset === 'shapes') {
    const ds = loadDataset('shapes', { split, size, n, seed }) as ShapesDataset;
    return { ds, labels: shapesLabels(ds) };
  }
  if (dataset === 'emoji') {
    const ds = loadDataset('emoji', { split, size, n, dataDir }) as EmojiDataset;
    return { ds, labels: emojiLabels(ds) };
  }
  const ds = loadDataset('fashion-mnist', { split, size: size === 28 ? undefined : size, n, dataDir });
  return { ds, labels: { class: ds.labels! } };
}

/** The heads a dataset's classifier has. */
function headsOf(dataset: ClassifierDataset, train: ImageDataset): ClassifierHead[] {
  if (dataset === 'shapes') return SHAPES_HEADS;
  if (dataset === 'emoji') return EMOJI_HEADS;
  return [{ name: 'class', classes: train.classNames ?? [] }];
}

/** Accuracy on named parts of the test split: for emoji, seen names (drawn by the other vendor) and held-out names. */
function testPartsAccuracy(
  classifier: Classifier,
  dataset: ClassifierDataset,
  test: { ds: ImageDataset; labels: HeadLabels },
): ClassifierInfo['testParts'] {
  if (dataset !== 'emoji') return undefined;
  const { records } = test.ds as EmojiDataset;
  const parts: Record<string, { n: number; accuracy: Record<string, number> }> = {};
  for (const [part, split] of [
    ['seen names', 'test'],
    ['held-out names', 'heldout'],
  ] as const) {
    const idx = records.flatMap((r, i) => (r.split === split ? [i] : []));
    const labels = Object.fromEntries(
      Object.entries(test.labels).map(([h, y]) => [h, Int32Array.from(idx, (i) => y[i])]),
    );
    parts[part] = { n: idx.length, accuracy: datasetAccuracy(classifier, select(test.ds, idx), labels) };
  }
  return parts;
}

/** Trains the dataset's classifier, measures its test accuracy and saves it into the cache. */
export async function trainAndSaveClassifier(
  dataset: ClassifierDataset,
  opts: GetClassifierOptions = {},
): Promise<LoadedClassifier> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const size = sizeOf(dataset, opts.size);
  const recipe = CLASSIFIER_RECIPES[dataset];
  const dir = classifierDir(dataset, size, opts.cacheRoot ?? cacheRoot());
  const seed = opts.seed ?? 0;
  const epochs = opts.epochs ?? recipe.epochs;
  if (!(epochs > 0))
    throw new UserError(`Invalid classifier epochs ${epochs}: it must be a positive number (e.g. --epochs 3).`);
  const backend = opts.backend ? await initBackend(opts.backend, { convTraining: true }) : tf.getBackend();
  if (!tf.getKernel('Conv2DBackpropFilter', backend)) {
    throw new UserError(
      `The ${backend} backend cannot train the classifier (no Conv2DBackpropFilter kernel); use --backend native, cpu or auto`,
    );
  }
  const train = splitWithLabels(dataset, 'train', size, opts.trainN ?? recipe.trainN, seed, opts.dataDir);
  const test = splitWithLabels(dataset, 'test', size, opts.testN ?? recipe.testN, seed, opts.dataDir);
  const classifier = new Classifier(
    classifierConfig(train.ds, headsOf(dataset, train.ds), opts.net),
    classifierInitSeed(seed),
  );
  log(
    `Training the ${dataset} classifier (${(classifier.params.numParams() / 1e6).toFixed(2)}M params) on ${train.ds.n} images ${size}x${size}x${train.ds.channels}, ${epochs} epochs, backend ${backend}`,
  );
  const t0 = performance.now();
  let steps: number;
  try {
    const r = await trainClassifier(classifier, train.ds, train.labels, {
      epochs,
      seed,
      batchSize: opts.batchSize ?? recipe.batchSize,
      lr: opts.lr ?? recipe.lr,
      augment: recipe.augment,
      logEvery: 100,
      onProgress: (p) =>
        log(
          `  step ${p.step}/${p.totalSteps} epoch ${p.epoch.toFixed(2)} loss ${p.loss.toFixed(4)} (${Object.entries(
            p.terms,
          )
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(', ')}) ${formatDuration((performance.now() - t0) / 1000)}`,
        ),
    });
    steps = r.steps;
  } catch (e) {
    classifier.dispose();
    throw e;
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  const testAccuracy = datasetAccuracy(classifier, test.ds, test.labels);
  const testParts = testPartsAccuracy(classifier, dataset, test);
  const info: ClassifierInfo = {
    dataset,
    testAccuracy,
    ...(testParts ? { testParts } : {}),
    testN: test.ds.n,
    trainN: train.ds.n,
    epochs,
    seed,
    trainSeconds: Math.round(trainSeconds * 10) / 10,
    backend,
    createdAt: new Date().toISOString(),
  };
  await saveClassifier(dir, classifier, info, steps);
  log(
    `Trained in ${formatDuration(trainSeconds)}; test accuracy ${formatAccuracy(testAccuracy)} on ${test.ds.n} images${partsText(testParts)}; saved to ${dir}`,
  );
  return { classifier, info, dir, trained: true };
}

/** The dataset's classifier from the cache, training and caching it first when absent (or when force). */
export async function getClassifier(
  dataset: ClassifierDataset,
  opts: GetClassifierOptions = {},
): Promise<LoadedClassifier> {
  const dir = classifierDir(dataset, opts.size, opts.cacheRoot ?? cacheRoot());
  if (!opts.force && hasCheckpoint(dir)) {
    const { classifier, info } = loadClassifier(dir);
    return { classifier, info, dir, trained: false };
  }
  return trainAndSaveClassifier(dataset, opts);
}

/** " (seen names: category 79.3%, vendor 93.0% of 179; held-out names: ...)", or '' without parts. */
export function partsText(parts: ClassifierInfo['testParts']): string {
  if (!parts) return '';
  const each = Object.entries(parts).map(([k, p]) => `${k}: ${formatAccuracy(p.accuracy)} of ${p.n}`);
  return ` (${each.join('; ')})`;
}

/** "class 91.9%" or "kind 99.8%, color 100.0%". */
export function formatAccuracy(acc: Record<string, number>): string {
  return Object.entries(acc)
    .map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`)
    .join(', ');
}
