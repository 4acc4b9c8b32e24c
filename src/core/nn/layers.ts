// Small layers with named variables: dense, conv2d and transposed conv2d (NHWC).
// Default init follows PyTorch: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weights and biases.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.ts';

export interface Layer<I extends tf.Tensor = tf.Tensor, O extends tf.Tensor = tf.Tensor> {
  apply(x: I): O;
}

/** y = x W + b, W: [inDim, outDim]. */
export function dense(ps: ParamStore, name: string, inDim: number, outDim: number): Layer<tf.Tensor2D, tf.Tensor2D> {
  const bound = 1 / Math.sqrt(inDim);
  const W = ps.param(`${name}.weight`, [inDim, outDim], { uniform: bound });
  const b = ps.param(`${name}.bias`, [outDim], { uniform: bound });
  return { apply: (x) => tf.add(tf.matMul(x, W), b) as tf.Tensor2D };
}

/** 2-D convolution, W: [k, k, inC, outC], 'same' padding. */
export function conv2d(
  ps: ParamStore,
  name: string,
  inC: number,
  outC: number,
  k: number,
  stride = 1,
): Layer<tf.Tensor4D, tf.Tensor4D> {
  const bound = 1 / Math.sqrt(k * k * inC);
  const W = ps.param(`${name}.weight`, [k, k, inC, outC], { uniform: bound });
  const b = ps.param(`${name}.bias`, [outC], { uniform: bound });
  return { apply: (x) => tf.add(tf.conv2d(x, W as tf.Tensor4D, stride, 'same'), b) as tf.Tensor4D };
}

/** Transposed 2-D convolution (upsamples by `stride`), W: [k, k, outC, inC], 'same' padding. */
export function conv2dTranspose(
  ps: ParamStore,
  name: string,
  inC: number,
  outC: number,
  k: number,
  stride: number,
): Layer<tf.Tensor4D, tf.Tensor4D> {
  const bound = 1 / Math.sqrt(k * k * outC);
  const W = ps.param(`${name}.weight`, [k, k, outC, inC], { uniform: bound });
  const b = ps.param(`${name}.bias`, [outC], { uniform: bound });
  return {
    apply: (x) => {
      const [B, H, Wd] = x.shape;
      return tf.add(
        tf.conv2dTranspose(x, W as tf.Tensor4D, [B, H * stride, Wd * stride, outC], stride, 'same'),
        b,
      ) as tf.Tensor4D;
    },
  };
}
