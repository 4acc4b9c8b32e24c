// A named parameter store: every trainable tensor has a stable dotted name ("encoder.fc1.weight"),
// which is the name it carries in model.safetensors. Initializers are seeded.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../tensor/rng.ts';

let uid = 0;

export type Init = 'zeros' | 'ones' | { uniform: number } | { normal: number };

export class ParamStore {
  readonly vars: Record<string, tf.Variable> = {};
  readonly buffers: Record<string, tf.Variable> = {};
  private rng: Rng;

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /** A trainable parameter. */
  param(name: string, shape: number[], init: Init): tf.Variable {
    if (name in this.vars || name in this.buffers) throw new Error(`duplicate parameter name ${name}`);
    const start = this.initial(shape, init);
    const v = tf.variable(start, true, `${name}#${++uid}`);
    start.dispose(); // the variable holds its own reference to the data
    this.vars[name] = v;
    return v;
  }

  /** A saved but non-trainable tensor (e.g. statistics). */
  buffer(name: string, shape: number[], init: Init): tf.Variable {
    if (name in this.vars || name in this.buffers) throw new Error(`duplicate parameter name ${name}`);
    const start = this.initial(shape, init);
    const v = tf.variable(start, false, `${name}#${++uid}`);
    start.dispose(); // the variable holds its own reference to the data
    this.buffers[name] = v;
    return v;
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

  private initial(shape: number[], init: Init): tf.Tensor {
    const seed = this.rng.seed();
    if (init === 'zeros') return tf.zeros(shape);
    if (init === 'ones') return tf.ones(shape);
    if ('uniform' in init) return tf.randomUniform(shape, -init.uniform, init.uniform, 'float32', seed);
    return tf.randomNormal(shape, 0, init.normal, 'float32', seed);
  }
}
