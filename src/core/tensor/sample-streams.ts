// Per-sample random streams: sample i of a seed draws all of its randomness from its own generator, seeded by
// (seed, i), so an image does not depend on how many are drawn with it; sampling in chunks gives the same images.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, mixSeed } from './rng.ts';

/** The generator of sample `index` (its place in the whole request) for `seed`; `stream` separates independent uses. */
export function sampleRng(seed: number, index: number, stream = 0): Rng {
  // four mixed words (124 bits of state), so streams of nearby seeds and indices are unrelated
  return new Rng([0, 1, 2, 3].map((w) => mixSeed(seed, index, stream, w)) as [number, number, number, number]);
}

/** The generators of samples first .. first + n - 1. */
export class SampleStreams {
  readonly rngs: Rng[];

  constructor(seed: number, first: number, n: number, stream = 0) {
    if (!(Number.isSafeInteger(first) && first >= 0))
      throw new Error(`the first sample's index must be a non-negative integer, got ${first}`);
    this.rngs = Array.from({ length: n }, (_, i) => sampleRng(seed, first + i, stream));
  }

  get n(): number {
    return this.rngs.length;
  }

  /** Standard normals [n, ...shape]: row i is the next prod(shape) draws of sample i's stream. */
  normal(shape: readonly number[]): tf.Tensor {
    const per = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(this.n * per);
    this.rngs.forEach((rng, i) => fillNormal(rng, out, i * per, per));
    return tf.tensor(out, [this.n, ...shape], 'float32');
  }

  /** One uniform in [0, 1) per sample, [n]. */
  uniforms(): Float64Array {
    return Float64Array.from(this.rngs, (r) => r.uniform());
  }
}

/**
 * out[from .. from + count) = standard normals by Box-Muller, both of each pair used:
 * r = sqrt(-2 ln u1), z1 = r cos(2 pi u2), z2 = r sin(2 pi u2), u1 in (0, 1], u2 in [0, 1) from 32-bit draws.
 */
export function fillNormal(rng: Rng, out: Float32Array, from: number, count: number): void {
  for (let k = 0; k < count; k += 2) {
    const u1 = (rng.nextUint32() + 1) / 4294967296;
    const u2 = rng.nextUint32() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1)),
      a = 2 * Math.PI * u2;
    out[from + k] = r * Math.cos(a);
    if (k + 1 < count) out[from + k + 1] = r * Math.sin(a);
  }
}
