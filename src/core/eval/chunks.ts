// Test-set evaluation in chunks: every EvalBatch split into pieces of at most `rows` images, so one forward pass
// (and its activations or logits) stays small whatever batch size the caller chose.
import * as tf from '@tensorflow/tfjs-core';
import type { EvalBatch, EvalOptions } from '../family.ts';
import { likelihoodFigure, PerImageNats, withPerImage, type EvalResult } from './result.ts';

/**
 * Sum of f over the chunks of every batch, inside one tf.tidy per chunk, and the number of images seen.
 * f gets the chunk (x [k,H,W,C], y [k] or null, captions or null) and its index, and returns a sum over its k images.
 */
export function sumOverChunks(
  batches: Iterable<EvalBatch>,
  rows: number,
  f: (chunk: EvalBatch, k: number, index: number) => number,
  onBatch?: (done: number) => void,
): { n: number; sum: number } {
  let n = 0,
    sum = 0,
    index = 0;
  for (const b of batches) {
    const B = b.x.shape[0];
    for (let r0 = 0; r0 < B; r0 += rows) {
      const k = Math.min(rows, B - r0);
      sum += tf.tidy(() => {
        const whole = k === B;
        const x = (whole ? b.x : tf.slice(b.x, [r0, 0, 0, 0], [k, -1, -1, -1])) as tf.Tensor4D;
        const y = b.y ? (whole ? b.y : (tf.slice(b.y, [r0], [k]) as tf.Tensor1D)) : null;
        const captions = b.captions ? b.captions.slice(r0, r0 + k) : null;
        return f({ x, y, captions }, k, index++);
      });
      n += k;
    }
    onBatch?.(n);
  }
  return { n, sum };
}

/**
 * The exact test -log P(x) of a model that gives it per image (the autoregressive families): nll(chunk) returns the
 * nats of each of the chunk's k images [k]; the result is their mean as an 'exact' likelihood over `dims` values, and
 * the values themselves when opts.perImage asks for them.
 */
export function exactNllEvaluation(
  batches: Iterable<EvalBatch>,
  rows: number,
  dims: number,
  opts: EvalOptions,
  nll: (chunk: EvalBatch, k: number) => tf.Tensor1D,
): EvalResult {
  const per = new PerImageNats(opts.perImage);
  const { n, sum } = sumOverChunks(
    batches,
    rows,
    (chunk, k) => {
      const v = nll(chunk, k);
      if (per.wanted) per.push(v.dataSync());
      return tf.sum(v).dataSync()[0];
    },
    opts.onBatch,
  );
  return withPerImage(
    { n, likelihood: likelihoodFigure(sum / Math.max(1, n), dims, 'exact', 'exact'), terms: {} },
    per,
  );
}
