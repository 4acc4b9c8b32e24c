// A named parameter store: every trainable tensor has a stable dotted name ("encoder.fc1.weight"),
// which is the name it carries in model.safetensors. Initializers are seeded.
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import { Rng } from '../tensor/rng.ts';

let uid = 0;

/**
 * Most float32 elements (trainable and buffers) one model may hold: 2^28, 1 GiB of weights and about 4 GiB with
 * Adam's moments and the gradients. Checked before each allocation, so a config typo (--latent 100000000) is a
 * one-line error rather than an allocation failure; deepgen's presets are under 1% of it.
 */
export const MAX_MODEL_ELEMENTS = 2 ** 28;

const gb = (elements: number) => `${((elements * 4) / 2 ** 30).toFixed(elements * 4 < 2 ** 30 ? 2 : 1)} GiB`;

export type Init = 'zeros' | 'ones' | { uniform: number } | { normal: number };

export class ParamStore {
  readonly vars: Record<string, tf.Variable> = {};
  readonly buffers: Record<string, tf.Variable> = {};
  private rng: Rng;
  private elements = 0;

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /** A trainable parameter. */
  param(name: string, shape: number[], init: Init): tf.Variable {
    return (this.vars[name] = this.variable(name, shape, init, true));
  }

  /** A saved but non-trainable tensor (e.g. statistics). */
  buffer(name: string, shape: number[], init: Init): tf.Variable {
    return (this.buffers[name] = this.variable(name, shape, init, false));
  }

  /** Trainable and buffers, by name. */
  all(): Record<string, tf.Variable> {
    return { ...this.vars, ...this.buffers };
  }

  numParams(): number {
    return Object.values(this.vars).reduce((s, v) => s + v.size, 0);
  }

  dispose(): void {
    for (const v of Object.values(this.all())) v.dispose();
  }

  private variable(name: string, shape: number[], init: Init, trainable: boolean): tf.Variable {
    if (Object.hasOwn(this.vars, name) || Object.hasOwn(this.buffers, name))
      throw new Error(`duplicate parameter name ${name}`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (this.elements + size > MAX_MODEL_ELEMENTS) {
      this.dispose(); // the model is not built: free what it allocated so far
      throw new UserError(
        `The model is too large: ${name} [${shape.join(',')}] brings it to at least ${(this.elements + size).toExponential(2)} parameters ` +
          `(${gb(this.elements + size)} of float32), over the limit of ${MAX_MODEL_ELEMENTS} (${gb(MAX_MODEL_ELEMENTS)}); ` +
          'make it smaller (model.latent, model.hidden, channels, or the image size)',
      );
    }
    this.elements += size;
    let start: tf.Tensor;
    try {
      start = this.initial(shape, init);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      this.dispose();
      throw new UserError(
        `Cannot allocate the model: ${name} [${shape.join(',')}] brings it to ${this.elements} parameters (${gb(this.elements)}) and memory ran out (${e.message}); make it smaller`,
      );
    }
    const v = tf.variable(start, trainable, `${name}#${++uid}`);
    start.dispose(); // the variable holds its own reference to the data
    return v;
  }

  private initial(shape: number[], init: Init): tf.Tensor {
    const seed = this.rng.seed();
    if (init === 'zeros') return tf.zeros(shape);
    if (init === 'ones') return tf.ones(shape);
    if ('uniform' in init) return tf.randomUniform(shape, -init.uniform, init.uniform, 'float32', seed);
    return tf.randomNormal(shape, 0, init.normal, 'float32', seed);
  }
}
