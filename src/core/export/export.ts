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
