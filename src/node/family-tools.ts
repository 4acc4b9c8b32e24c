// Family-independent glue between a model and the disk: the fixed preprocessed test set, evaluation, pictures.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { batchToTensor, batches, subset } from '../core/data/batches.ts';
import { preprocessBatch, type Preprocess } from '../core/data/preprocess.ts';
import type { ImageDataset } from '../core/data/types.ts';
import type { EvalBatch, GenerativeModel } from '../core/family.ts';
import type { EvalResult } from '../core/eval/result.ts';
import type { ResolvedRunConfig } from './run-config.ts';
import { writeImageGrid } from './pictures.ts';
import { mixSeed } from '../core/tensor/rng.ts';
import { condKindOf } from '../core/conditioning/config.ts';

/**
 * A dataset (the test set, usually) preprocessed once with a fixed seed (data.testSeed), so binarization/dequantization noise is
 * identical for every evaluation, whatever the batch size. Returns x [N,H,W,C] and labels.
 */
export function preprocessedSet(test: ImageDataset, cfg: ResolvedRunConfig): { x: tf.Tensor4D; labels?: Int32Array } {
  const [batch] = batches(test, { batchSize: test.n });
  const x = tf.tidy(() =>
    preprocessBatch(batchToTensor(batch, test), cfg.data.preprocess as Preprocess, mixSeed(cfg.data.testSeed, 7)),
  );
  return { x, labels: batch.labels };
}

/** Iterate fixed test batches as tensors (each disposed after the consumer moves on). */
export function* evalBatches(
  x: tf.Tensor4D,
  labels: Int32Array | undefined,
  useLabels: boolean,
  batchSize: number,
  captions?: string[],
): Generator<EvalBatch> {
  const N = x.shape[0];
  for (let i = 0; i < N; i += batchSize) {
    const b = Math.min(batchSize, N - i);
    const xb = tf.slice(x, i, b);
    const yb = useLabels && labels ? tf.tensor1d(labels.subarray(i, i + b), 'int32') : null;
    try {
      yield { x: xb, y: yb, captions: captions ? captions.slice(i, i + b) : null };
    } finally {
      xb.dispose();
      yb?.dispose();
    }
  }
}

/** The model's evaluation on the preprocessed test set (its own labels or captions for conditional models), or null
 *  when the model has no evaluate. */
export async function evaluateRun(
  model: GenerativeModel,
  cfg: ResolvedRunConfig,
  test: ImageDataset,
  opts: { iwaeK: number; seed: number; batchSize?: number; onBatch?: (done: number) => void; perImage?: boolean },
): Promise<EvalResult | null> {
  if (!model.evaluate) return null;
  const { x, labels } = preprocessedSet(test, cfg);
  try {
    const useLabels = condKindOf(cfg) === 'label';
    const bs = opts.batchSize ?? (opts.iwaeK > 0 ? 100 : 500);
    const useCaptions = condKindOf(cfg) === 'text';
    return model.evaluate(evalBatches(x, labels, useLabels, bs, useCaptions ? test.captions : undefined), {
      iwaeK: opts.iwaeK,
      seed: opts.seed,
      onBatch: opts.onBatch,
      perImage: opts.perImage,
    });
  } finally {
    x.dispose();
  }
}

/** Write the family's teaching pictures (from the first 32 test images) into `out`; returns the files. */
export async function writeFamilyPictures(
  model: GenerativeModel,
  cfg: ResolvedRunConfig,
  test: ImageDataset,
  out: string,
  seed = 0,
): Promise<string[]> {
  if (!model.pictures) return [];
  const files: string[] = [];
  const { x, labels } = preprocessedSet(subset(test, 0, Math.min(32, test.n)), cfg);
  const x01 = cfg.data.preprocess === 'symmetric' ? tf.tidy(() => tf.div(tf.add(x, 1), 2) as tf.Tensor4D) : x;
  const kind = condKindOf(cfg);
  const useLabels = kind === 'label';
  // text models get the captions of the same images (e.g. the one-shot output beside the real images of its caption)
  const captions = kind === 'text' ? test.captions?.slice(0, x.shape[0]) : undefined;
  const pics = model.pictures(x01, useLabels && labels ? Array.from(labels) : undefined, seed, captions);
  for (const p of pics) {
    files.push(await writeImageGrid(path.join(out, `${p.name}.png`), p.images, { cols: p.cols }));
    p.images.dispose();
  }
  tf.dispose([x, x01]);
  return files;
}
