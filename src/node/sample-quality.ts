// Sample quality of any run: n seeded samples and n test images through the project's own classifier features, then
// FID, KID and k-NN precision/recall, beside the same figures for the real test set against the real training set
// (the floor a perfect model would reach with this many images). Not Inception features: not comparable to papers.
import * as tf from '@tensorflow/tfjs-core';
import { subset } from '../core/data/batches.ts';
import type { ImageDataset } from '../core/data/types.ts';
import { UserError } from '../core/errors.ts';
import { datasetTo01 } from '../core/eval/classifier.ts';
import {
  frechetDistance,
  gaussianStats,
  kernelDistance,
  precisionRecall,
  type GaussianStats,
} from '../core/eval/fid.ts';
import type { SampleOptions } from '../core/family.ts';
import { mixSeed } from '../core/tensor/rng.ts';
import { sampleChunks } from '../core/sample-chunks.ts';
import {
  getClassifier,
  parseClassifierDataset,
  type ClassifierDataset,
  type GetClassifierOptions,
  type LoadedClassifier,
} from './classifier-store.ts';
import type { LoadedRun } from './run.ts';
import { condKindOf } from '../core/conditioning/config.ts';
import { evalCapabilities } from '../core/eval/result.ts';

export const SAMPLE_METRICS = ['fid', 'kid', 'pr'] as const;
export type SampleMetric = (typeof SAMPLE_METRICS)[number];

export interface SampleQualityOptions {
  /** Generated images, and test (and training) images they are compared with. */
  n: number;
  seed: number;
  metrics: readonly SampleMetric[];
  /** Sampler settings passed to the model (guidance, steps, temperature...). */
  sampling?: Omit<SampleOptions, 'labels' | 'prompts' | 'onFrame'>;
  /** Samples per forward pass (default sampleChunks'). */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** Passed to getClassifier (tests use a tiny one in a temporary cache). */
  classifier?: GetClassifierOptions;
}

export interface QualityFigures {
  fid?: number;
  kid?: number;
  /** KID's error bar: the standard deviation over its subsets. */
  kidStd?: number;
  precision?: number;
  recall?: number;
}

export interface SampleQualityResult extends QualityFigures {
  n: number;
  features: string;
  classifier: { dataset: string; testAccuracy: Record<string, number>; dir: string };
  /** The same figures for n real test images against n real training images. */
  reference: QualityFigures;
  sampleSecondsPerImage: number;
  seconds: number;
}

/** The real test features and their Gaussian statistics (computed once, shared by both comparisons). */
interface RealFeatures {
  f: tf.Tensor2D;
  stats: GaussianStats | null;
}

/** The requested figures for generated (or reference) features against the real test features. */
function figures(
  real: RealFeatures,
  other: tf.Tensor2D,
  metrics: readonly SampleMetric[],
  seed: number,
): QualityFigures {
  const out: QualityFigures = {};
  if (real.stats) out.fid = frechetDistance(real.stats, gaussianStats(other));
  if (metrics.includes('kid')) {
    // subsets of kernelDistance's default size: 1000, or half the set below 2000 images (so they differ)
    const k = kernelDistance(real.f, other, { subsets: 100, seed });
    out.kid = k.kid;
    out.kidStd = k.stderr;
  }
  if (metrics.includes('pr') && real.f.shape[0] > 3 && other.shape[0] > 3) {
    const pr = precisionRecall(real.f, other, 3);
    out.precision = pr.precision;
    out.recall = pr.recall;
  }
  return out;
}

/**
 * FID, KID and precision/recall of the features `fake` [n, features] against those of the test images `testN`, and the
 * same figures for the training images `trainN` against the same test images (the real floor at this n). Both sets
 * hold n images; `fake` is not disposed. Used for a model's samples (sampleQuality) and any images (deepgen score).
 */
export function compareWithTest(
  clf: LoadedClassifier,
  fake: tf.Tensor2D,
  testN: ImageDataset,
  trainN: ImageDataset,
  metrics: readonly SampleMetric[],
  seed: number,
): Omit<SampleQualityResult, 'sampleSecondsPerImage' | 'seconds'> {
  const dataset = clf.info.dataset;
  const realX = datasetTo01(testN),
    refX = datasetTo01(trainN);
  const real = clf.classifier.featuresBatched(realX, 500),
    ref = clf.classifier.featuresBatched(refX, 500);
  tf.dispose([realX, refX]);
  try {
    const realF: RealFeatures = { f: real, stats: metrics.includes('fid') ? gaussianStats(real) : null };
    return {
      n: fake.shape[0],
      features: `the ${clf.classifier.config.features}-d feature layer of deepgen's own ${dataset} classifier (test accuracy ${Object.values(
        clf.info.testAccuracy,
      )
        .map((a) => (a * 100).toFixed(1) + '%')
        .join(', ')}); not Inception features, so not comparable to published FIDs`,
      classifier: { dataset, testAccuracy: clf.info.testAccuracy as unknown as Record<string, number>, dir: clf.dir },
      ...figures(realF, fake, metrics, seed),
      reference: figures(realF, ref, metrics, seed),
    };
  } finally {
    tf.dispose([real, ref]);
  }
}

/**
 * The classifier whose features give a run's FID/KID/precision/recall, or a one-line UserError naming the data sets
 * that have one (and, for a family without a likelihood, that nothing is left to evaluate).
 */
export function sampleQualityDataset(run: Pick<LoadedRun, 'cfg' | 'family' | 'model'>): ClassifierDataset {
  const hint = evalCapabilities(run.model).evaluates
    ? '; use --metrics nll'
    : `; the ${run.family} family has no likelihood either, so deepgen eval has nothing to measure for this run`;
  return parseClassifierDataset(run.cfg.data.dataset, 'Measuring FID, KID and precision/recall', hint);
}

/**
 * n samples with the seed (label models: the labels of the first n test images; text models: their captions), their
 * classifier features against those of the first n test images, and the real-vs-real reference.
 */
export async function sampleQuality(
  run: LoadedRun,
  test: ImageDataset,
  train: ImageDataset,
  o: SampleQualityOptions,
): Promise<SampleQualityResult> {
  const dataset = sampleQualityDataset(run);
  const n = Math.min(o.n, test.n, train.n);
  if (n < 10)
    throw new UserError(`--n ${o.n} is too few images for FID/KID (use at least 10; 10000 is the usual figure)`);
  const clf = await getClassifier(dataset, {
    size: run.info.height,
    dataDir: run.cfg.data.dataDir,
    ...o.classifier,
  });
  const t0 = performance.now();
  const cond = condKindOf(run.cfg);
  const testN = subset(test, 0, n);
  const trainN = subset(train, 0, n);
  const parts: tf.Tensor2D[] = [];
  let sampleSeconds = 0;
  try {
    const opts: SampleOptions = { ...o.sampling };
    if (cond === 'label' && testN.labels) opts.labels = Array.from(testN.labels);
    if (cond === 'text' && testN.captions) opts.prompts = testN.captions;
    let s0 = performance.now();
    for (const { first, images } of sampleChunks(run.model, n, mixSeed(o.seed, 0x51), opts, o.batchSize)) {
      sampleSeconds += (performance.now() - s0) / 1000;
      parts.push(clf.classifier.featuresBatched(images, 500));
      o.onProgress?.(first + images.shape[0], n);
      s0 = performance.now();
    }
    const fake = tf.concat(parts) as tf.Tensor2D;
    tf.dispose(parts);
    try {
      return {
        ...compareWithTest(clf, fake, testN, trainN, o.metrics, o.seed),
        sampleSecondsPerImage: sampleSeconds / n,
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      fake.dispose();
    }
  } finally {
    clf.classifier.dispose();
  }
}
