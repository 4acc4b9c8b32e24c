// Pictures as plain pixel arrays, the currency of the public API: Images (8-bit NHWC), Codes (latent vectors), their
// checks, and the conversions to and from the [n,H,W,C] tensors in [0,1] that the families work with.
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import { toUint8ImagesAsync } from '../data/preprocess.ts';
import { makeGrid, type GridOptions, type ImageU8 } from '../viz/grid.ts';

/** n images of height x width x channels, 8-bit values 0..255 in NHWC order: pixel (y, x) channel k of image i at
 *  ((i * height + y) * width + x) * channels + k. */
export interface Images {
  n: number;
  height: number;
  width: number;
  channels: number;
  data: Uint8Array;
}

/** n latent codes of `dim` numbers each, row-major: code i is data[i * dim .. (i + 1) * dim). */
export interface Codes {
  n: number;
  dim: number;
  data: Float32Array;
}

/** Throws a one-line UserError unless `images` is a well-formed Images value (and of the given size, when given). */
export function checkImages(
  images: Images,
  want?: { height: number; width: number; channels: number },
  what = 'images',
): void {
  const { n, height: h, width: w, channels: c, data } = images ?? ({} as Images);
  const ints = [n, h, w, c].every((v) => Number.isSafeInteger(v) && v > 0);
  if (!ints || !(data instanceof Uint8Array))
    throw new UserError(`${what} must be { n, height, width, channels, data: Uint8Array } with positive integer sizes`);
  if (data.length !== n * h * w * c)
    throw new UserError(
      `${what}: data holds ${data.length} values, expected n x height x width x channels = ${n * h * w * c}`,
    );
  if (want && (h !== want.height || w !== want.width || c !== want.channels)) {
    throw new UserError(
      `${what} are ${h}x${w}x${c}, this model works on ${want.height}x${want.width}x${want.channels} images; resize them first`,
    );
  }
}

/** Images as a float tensor [n,H,W,C] of the 8-bit values 0..255 (what preprocessBatch takes). */
export function imagesToTensor255(images: Images): tf.Tensor4D {
  return tf.tensor4d(
    Float32Array.from(images.data),
    [images.n, images.height, images.width, images.channels],
    'float32',
  );
}

/** Images as a float tensor [n,H,W,C] in [0,1] (v / 255). */
export function imagesToTensor(images: Images): tf.Tensor4D {
  return tf.tidy(() => tf.div(imagesToTensor255(images), 255) as tf.Tensor4D);
}

/** A tensor [n,H,W,C] in [0,1] as Images (rounded to 8 bits, clipped); the tensor is not disposed. */
export async function tensorToImages(x01: tf.Tensor4D): Promise<Images> {
  const [n, height, width, channels] = x01.shape;
  return { n, height, width, channels, data: await toUint8ImagesAsync(x01) };
}

/** Images i .. i+k-1 of a set, sharing its memory. */
export function sliceImages(images: Images, first: number, k: number): Images {
  const per = images.height * images.width * images.channels;
  return { ...images, n: k, data: images.data.subarray(first * per, (first + k) * per) };
}

/** Images tiled into one picture (rows of `cols`, padded), e.g. to show or save a batch of samples. */
export function imageGrid(images: Images, opts: GridOptions = {}): ImageU8 {
  checkImages(images);
  return makeGrid(images.data, images.n, images.height, images.width, images.channels, opts);
}

/** Throws a one-line UserError unless `codes` is well formed with `dim` numbers per code. */
export function checkCodes(codes: Codes, dim: number): void {
  if (!codes || !Number.isSafeInteger(codes.n) || codes.n <= 0 || !(codes.data instanceof Float32Array))
    throw new UserError('codes must be { n, dim, data: Float32Array } with n a positive integer');
  if (codes.dim !== dim)
    throw new UserError(`codes have ${codes.dim} numbers each, this model's latent space has ${dim}`);
  if (codes.data.length !== codes.n * dim)
    throw new UserError(`codes: data holds ${codes.data.length} numbers, expected n x dim = ${codes.n * dim}`);
}
