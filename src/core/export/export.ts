// deepgen model -> PyTorch package contents: model.py from the traced networks, the weights in PyTorch layouts, the
// constants the networks read; and back: PyTorch weights -> deepgen records, names and shapes checked.
import type * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import type { GenerativeModel } from '../family.ts';
import type { TensorRecord } from '../checkpoint/safetensors.ts';
import { fromTorchPerm, layoutOf, permuteShape, permuteValues, toTorchPerm } from './layout.ts';
import { buildProgram, type Program } from './program.ts';
import { emitModelPy, type ParamInfo } from './torch.ts';

export interface TorchPackage {
  modelPy: string;
  programs: Program[];
  params: ParamInfo[];
  /** Non-scalar constants by their model.py buffer name. */
  constants: Record<string, TensorRecord>;
}

/** Traces every network of `model` and writes model.py; throws a UserError for a model without networks(). */
export function torchPackage(model: GenerativeModel, family: string, header: string): TorchPackage {
  if (!model.networks)
    throw new UserError(`the ${family} family cannot be exported to PyTorch yet: it does not list its networks`);
  const all = model.params.all();
  const programs = model.networks().map((n) => buildProgram(n, all));
  const params: ParamInfo[] = Object.keys(all)
    .sort()
    .map((name) => ({ name, shape: all[name].shape.slice(), trainable: name in model.params.vars }));
  const constants: Record<string, TensorRecord> = {};
  for (const p of programs)
    p.constants.forEach((c, i) => {
      if (!('values' in c) || c.values.shape.length === 0) return;
      const v = c.values;
      constants[`const_${p.name}_${i}`] =
        v.dtype === 'float32'
          ? { dtype: 'F32', shape: v.shape, data: Float32Array.from(v.values) }
          : { dtype: 'I64', shape: v.shape, data: BigInt64Array.from(Array.from(v.values, (x) => BigInt(x))) };
    });
  return { modelPy: emitModelPy(programs, params, header), programs, params, constants };
}

/** deepgen weights (float32 records by name) -> PyTorch layouts. */
export function toTorchRecords(records: Record<string, TensorRecord>): Record<string, TensorRecord> {
  const out: Record<string, TensorRecord> = {};
  for (const [name, r] of Object.entries(records)) {
    const perm = toTorchPerm(layoutOf(name, r.shape));
    out[name] = {
      dtype: r.dtype,
      shape: permuteShape(r.shape, perm),
      data: permuteValues(r.data as Float32Array, r.shape, perm),
    };
  }
  return out;
}

/**
 * PyTorch weights -> deepgen records for a model whose variables are `expected` (name -> deepgen shape). Every
 * missing, unexpected or mis-shaped tensor is named in one error; F16/F64 are not accepted (float32 only).
 */
export function fromTorchRecords(
  records: Record<string, TensorRecord>,
  expected: Record<string, tf.Tensor | { shape: number[] }>,
  source: string,
): Record<string, TensorRecord> {
  const missing = Object.keys(expected).filter((k) => !(k in records));
  const unexpected = Object.keys(records).filter((k) => !(k in expected));
  const wrong: string[] = [];
  const out: Record<string, TensorRecord> = {};
  for (const [name, v] of Object.entries(expected)) {
    const r = records[name];
    if (!r) continue;
    const layout = layoutOf(name, v.shape);
    const want = permuteShape(v.shape, toTorchPerm(layout));
    if (r.shape.join() !== want.join()) {
      wrong.push(`${name} is [${r.shape.join(', ')}], the model needs [${want.join(', ')}]`);
      continue;
    }
    if (r.dtype !== 'F32') {
      wrong.push(`${name} is ${r.dtype}, import reads F32 (save with tensor.float())`);
      continue;
    }
    const perm = fromTorchPerm(layout);
    out[name] = { dtype: 'F32', shape: v.shape.slice(), data: permuteValues(r.data as Float32Array, r.shape, perm) };
  }
  const parts = [
    missing.length
      ? `missing ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` and ${missing.length - 8} more` : ''}`
      : '',
    unexpected.length
      ? `unexpected ${unexpected.slice(0, 8).join(', ')}${unexpected.length > 8 ? ` and ${unexpected.length - 8} more` : ''}`
      : '',
    ...wrong.slice(0, 8),
  ].filter(Boolean);
  if (parts.length)
    throw new UserError(
      `${source} does not fit the exported model: ${parts.join('; ')}; import the weights saved by the exported train.py (model.save) with its config.json`,
    );
  return out;
}

/** Adam's group of a variable in train.py: 'D' or 'G' for a GAN (deepgen's "D/" and "G/" key prefixes), else 'model'. */
const TORCH_GROUP = 'model';

/**
 * deepgen's optimizer.safetensors ("[group/]name.m", ".v", Adam's t per group) -> train.py's ("group/name.m", ".v",
 * ".t" per parameter), moments in PyTorch layouts.
 */
export function toTorchOptimizer(
  records: Record<string, TensorRecord>,
  steps: number | Record<string, number> | undefined,
): Record<string, TensorRecord> {
  const out: Record<string, TensorRecord> = {};
  for (const [key, r] of Object.entries(records)) {
    const m = /^(?:([^/]+)\/)?(.+)\.(m|v)$/.exec(key);
    if (!m) continue;
    const [, group = TORCH_GROUP, name, which] = m;
    const perm = toTorchPerm(layoutOf(name, r.shape));
    out[`${group}/${name}.${which}`] = {
      dtype: 'F32',
      shape: permuteShape(r.shape, perm),
      data: permuteValues(r.data as Float32Array, r.shape, perm),
    };
    const t = typeof steps === 'number' ? steps : (steps?.[group] ?? 0);
    out[`${group}/${name}.t`] = { dtype: 'F32', shape: [1], data: new Float32Array([t]) };
  }
  return out;
}

/** train.py's optimizer.safetensors -> deepgen's records and Adam's t (one number, or one per GAN group). */
export function fromTorchOptimizer(
  records: Record<string, TensorRecord>,
  expected: Record<string, { shape: number[] }>,
): { records: Record<string, TensorRecord>; steps: number | Record<string, number> } {
  const out: Record<string, TensorRecord> = {};
  const steps: Record<string, number> = {};
  for (const [key, r] of Object.entries(records)) {
    const m = /^([^/]+)\/(.+)\.(m|v|t)$/.exec(key);
    if (!m || !(m[2] in expected) || r.dtype !== 'F32') continue;
    const [, group, name, which] = m;
    if (which === 't') {
      steps[group] = Math.max(steps[group] ?? 0, Math.round((r.data as Float32Array)[0]));
      continue;
    }
    const want = expected[name].shape;
    const perm = fromTorchPerm(layoutOf(name, want));
    if (permuteShape(want, toTorchPerm(layoutOf(name, want))).join() !== r.shape.join()) continue;
    out[`${group === TORCH_GROUP ? '' : `${group}/`}${name}.${which}`] = {
      dtype: 'F32',
      shape: want.slice(),
      data: permuteValues(r.data as Float32Array, r.shape, perm),
    };
  }
  const groups = Object.keys(steps);
  return { records: out, steps: groups.length === 1 && groups[0] === TORCH_GROUP ? steps[TORCH_GROUP] : steps };
}
