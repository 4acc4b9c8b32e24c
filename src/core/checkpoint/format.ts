// The deepgen checkpoint folder format, platform-free: file names, config/state JSON validation,
// weight-set checks, and conversion between tf variables and safetensors records.
// Folder: config.json, model.safetensors, [optimizer.safetensors], [ema.safetensors], state.json (written last).

import * as tf from '@tensorflow/tfjs-core';
import { checkConfigKeys, isPlainObject } from '../config/overrides.ts';
import { oneLine, UserError } from '../errors.ts';
import type { RngState } from '../tensor/rng.ts';
import { recordToFloat32, typedData, type TensorRecord } from './safetensors.ts';

export const CHECKPOINT_FORMAT_VERSION = 1;

export const CHECKPOINT_FILES = {
  config: 'config.json',
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  ema: 'ema.safetensors',
  state: 'state.json',
} as const;

/** config.json: enough to rebuild the model without the original command line. */
export interface CheckpointConfigFile {
  family: string;
  formatVersion: 1;
  /** The family's full resolved config; validated by the family, not here. */
  config: unknown;
  createdBy: 'deepgen';
  [extra: string]: unknown;
}

/** state.json: where training stands; its step must match the step stored in every safetensors file. */
export interface CheckpointState {
  step: number;
  epoch: number;
  rng: RngState;
  /** Adam's update count t: one number, or one per optimizer group (a GAN's { D, G }). Absent in early checkpoints. */
  optimizerStep?: number | Record<string, number>;
  /** Training time over all sessions of the run. */
  elapsedSeconds?: number;
  [extra: string]: unknown;
}

export interface Checkpoint {
  config: CheckpointConfigFile;
  weights: Record<string, TensorRecord>;
  optimizer?: Record<string, TensorRecord>;
  ema?: Record<string, TensorRecord>;
  state: CheckpointState;
}

/** Quotes a name for a one-line message only when it has characters that could break the line. */
function showName(name: string): string {
  return /^[\w.\-/:[\]]+$/.test(name) ? name : JSON.stringify(name);
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Throws one UserError listing every missing, unexpected and mis-shaped tensor of `got` against the
 * model's `expected` name -> shape map. `source` names the file, e.g. "model.safetensors in runs/x";
 * `hint` ends the message with what to do.
 */
export function checkWeights(
  expected: Record<string, number[]>,
  got: Record<string, { shape: readonly number[] }>,
  source: string,
  hint = 'Was it trained with a different config?',
): void {
  const missing: string[] = [];
  const unexpected: string[] = [];
  const misShaped: string[] = [];
  for (const name of Object.keys(expected).sort()) {
    const rec = Object.prototype.hasOwnProperty.call(got, name) ? got[name] : undefined;
    if (!rec) missing.push(showName(name));
    else if (rec.shape.length !== expected[name].length || rec.shape.some((d, i) => d !== expected[name][i])) {
      misShaped.push(
        `${showName(name)} has shape ${shapeStr(rec.shape)} but the model expects ${shapeStr(expected[name])}`,
      );
    }
  }
  for (const name of Object.keys(got).sort()) {
    if (!Object.prototype.hasOwnProperty.call(expected, name)) unexpected.push(showName(name));
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${missing.join(', ')}`);
  if (unexpected.length) problems.push(`unexpected ${unexpected.join(', ')}`);
  problems.push(...misShaped);
  if (problems.length) {
    throw new UserError(`${source} does not match the model: ${problems.join('; ')}. ${hint}`);
  }
}

/** The model's expected name -> shape map, for checkWeights. */
export function variableShapes(vars: Record<string, tf.Tensor>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, v] of Object.entries(vars)) out[name] = v.shape.slice();
  return out;
}

/**
 * Copies tensors out of the backend as records: float32 -> F32, int32 -> I32, bool -> BOOL. Data is
 * always a fresh array (the CPU backend hands out its own storage), and float32 data is always a
 * Float32Array even when a backend returns another array type after casts.
 */
export async function variablesToRecords(vars: Record<string, tf.Tensor>): Promise<Record<string, TensorRecord>> {
  const out: Record<string, TensorRecord> = {};
  for (const name of Object.keys(vars).sort()) {
    const v = vars[name];
    const values = (await v.data()) as ArrayLike<number>;
    const shape = v.shape.slice();
    if (v.dtype === 'float32') {
      out[name] = {
        dtype: 'F32',
        shape,
        data: values instanceof Float32Array ? values.slice() : Float32Array.from(values),
      };
    } else if (v.dtype === 'int32') {
      out[name] = {
        dtype: 'I32',
        shape,
        data: values instanceof Int32Array ? values.slice() : Int32Array.from(values),
      };
    } else if (v.dtype === 'bool') {
      out[name] = { dtype: 'BOOL', shape, data: Uint8Array.from(values, (x) => (x ? 1 : 0)) };
    } else {
      throw new Error(`cannot save tensor ${name} of dtype ${v.dtype} to safetensors`);
    }
  }
  return out;
}

/**
 * Loads records into variables after checkWeights (all mismatches reported at once). Float variables
 * accept any float or integer dtype (F16/BF16 are decoded); int32 and bool variables need integer data.
 */
export function assignRecords(
  vars: Record<string, tf.Variable>,
  recs: Record<string, TensorRecord>,
  source = 'checkpoint',
  hint?: string,
): void {
  checkWeights(variableShapes(vars), recs, source, hint);
  const isFloat = (d: string) => d === 'F32' || d === 'F64' || d === 'F16' || d === 'BF16';
  const floats = floatData(vars, recs, source);
  for (const name of Object.keys(vars).sort()) {
    const v = vars[name];
    const rec = recs[name];
    let t: tf.Tensor;
    if (v.dtype === 'float32') {
      t = tf.tensor(floats.get(name)!, rec.shape, 'float32');
    } else if ((v.dtype === 'int32' || v.dtype === 'bool') && !isFloat(rec.dtype)) {
      t = tf.tensor(
        Int32Array.from(typedData(rec) as ArrayLike<number | bigint>, (x) => Number(x)),
        rec.shape,
        'int32',
      );
      if (v.dtype === 'bool') {
        const b = tf.cast(t, 'bool');
        t.dispose();
        t = b;
      }
    } else {
      throw new UserError(
        `${source}: tensor ${showName(name)} has dtype ${rec.dtype} but the model needs ${v.dtype}; was it saved by another program?`,
      );
    }
    try {
      v.assign(t);
    } finally {
      t.dispose();
    }
  }
}

/** The float variables' data, refused (before any variable changes) when a value is NaN or infinite: such weights only make NaN images. */
function floatData(
  vars: Record<string, tf.Variable>,
  recs: Record<string, TensorRecord>,
  source: string,
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const bad: string[] = [];
  for (const name of Object.keys(vars).sort()) {
    if (vars[name].dtype !== 'float32') continue;
    const data = recordToFloat32(recs[name]);
    let n = 0;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) n++;
    if (n) bad.push(`${showName(name)} (${n} of ${data.length})`);
    out.set(name, data);
  }
  if (bad.length) {
    throw new UserError(
      `${source} has NaN or infinite values in ${bad.join(', ')}; the weights are damaged (a diverged run?), restore the checkpoint or train again`,
    );
  }
  return out;
}

/** Metadata stored in every safetensors file of a checkpoint; "step" ties the files to state.json. */
export function checkpointFileMetadata(step: number, family: string): Record<string, string> {
  return { format: 'deepgen', formatVersion: String(CHECKPOINT_FORMAT_VERSION), family, step: String(step) };
}

/** Parses config.json text; `source` names the file in messages. */
export function parseCheckpointConfig(text: string, source: string): CheckpointConfigFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UserError(
      `${source} is not valid JSON (${oneLine((e as Error).message)}); the checkpoint is damaged, restore it or train again`,
    );
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new UserError(`${source} is not a JSON object; the checkpoint is damaged, restore it or train again`);
  }
  const c = v as Record<string, unknown>;
  if (c.createdBy !== 'deepgen') {
    throw new UserError(
      `${source} was not written by deepgen (createdBy is ${JSON.stringify(c.createdBy)}); pass a deepgen run folder`,
    );
  }
  if (c.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new UserError(
      `${source} has checkpoint formatVersion ${JSON.stringify(c.formatVersion)}, but this deepgen reads version ${CHECKPOINT_FORMAT_VERSION}; use the deepgen version that wrote it`,
    );
  }
  if (typeof c.family !== 'string' || c.family === '') {
    throw new UserError(
      `${source} has no model family (got ${JSON.stringify(c.family)}); the checkpoint is damaged, restore it or train again`,
    );
  }
  if (!Object.hasOwn(c, 'config'))
    throw new UserError(`${source} has no "config" section; the checkpoint is damaged, restore it or train again`);
  if (!isPlainObject(c.config)) {
    throw new UserError(
      `${source} has a "config" section that is ${c.config === null ? 'null' : Array.isArray(c.config) ? 'an array' : typeof c.config}, not an object; the checkpoint is damaged, restore it or train again`,
    );
  }
  checkConfigKeys(c, source);
  return c as CheckpointConfigFile;
}

/** Parses state.json text; `source` names the file in messages. */
export function parseCheckpointState(text: string, source: string): CheckpointState {
  const damaged = (problem: string) =>
    new UserError(`${source} ${problem}; the checkpoint is damaged, restore it or train again`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw damaged(`is not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw damaged('is not a JSON object');
  const s = v as Record<string, unknown>;
  if (!Number.isSafeInteger(s.step) || (s.step as number) < 0)
    throw damaged(`has step ${JSON.stringify(s.step)}, not a non-negative integer`);
  if (typeof s.epoch !== 'number' || !Number.isFinite(s.epoch) || s.epoch < 0)
    throw damaged(`has epoch ${JSON.stringify(s.epoch)}, not a non-negative number`);
  const rng = s.rng;
  if (!Array.isArray(rng) || rng.length !== 4 || !rng.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
    throw damaged(`has rng ${JSON.stringify(rng)}, not four uint32 integers`);
  }
  // a bad optimizerStep would otherwise surface steps later as a NaN loss blamed on the learning rate
  const count = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  const t = s.optimizerStep;
  const perGroup =
    t !== null &&
    typeof t === 'object' &&
    !Array.isArray(t) &&
    Object.keys(t).length > 0 &&
    Object.values(t).every(count);
  if (t !== undefined && !count(t) && !perGroup) {
    throw damaged(
      `has optimizerStep ${JSON.stringify(t)}, not a non-negative integer (or one per optimizer group, e.g. {"D":8,"G":4})`,
    );
  }
  const el = s.elapsedSeconds;
  if (el !== undefined && (typeof el !== 'number' || !Number.isFinite(el) || el < 0))
    throw damaged(`has elapsedSeconds ${JSON.stringify(el)}, not a non-negative number`);
  return s as CheckpointState;
}

/**
 * Checks that a safetensors file belongs to the same save as state.json. A mismatch means a save was
 * interrupted after rewriting some files (state.json is written last).
 */
export function checkFileStep(
  metadata: Record<string, string>,
  state: CheckpointState,
  file: string,
  dir: string,
): void {
  const step = metadata.step;
  if (step === undefined) {
    throw new UserError(
      `${file} in ${dir} has no "step" in its metadata, so it cannot be matched with state.json; use a checkpoint saved by deepgen`,
    );
  }
  if (step !== String(state.step)) {
    throw new UserError(
      `Checkpoint in ${dir} is inconsistent: ${file} is from step ${step} but state.json is from step ${state.step} (a save was interrupted); restore the folder from a backup or train again`,
    );
  }
}
