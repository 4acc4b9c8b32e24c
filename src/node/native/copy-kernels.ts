// Concat, SplitV and Slice for the `native` backend: float32/int32 data moves with the addon's threaded strided copy
// (tfjs-backend-wasm's Slice, also behind its SplitV, first copies the whole input out of the heap). Other dtypes
// keep the wasm kernels.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.ts';
import type { WasmHeapBackend } from './kernels.ts';

type Backend = WasmHeapBackend & { incRef(dataId: object): void };
type Args = { inputs: unknown; backend: Backend; attrs: Record<string, unknown> };

const copyable = (dtype: tf.DataType) => dtype === 'float32' || dtype === 'int32';

/** A 4-byte view of a tensor on the heap (the copy moves bits, so a Float32Array serves int32 too). */
function view(backend: Backend, t: TensorInfo): Float32Array {
  return new Float32Array(
    backend.wasm.HEAPU8.buffer,
    backend.dataIdMap.get(t.dataId).memoryOffset,
    tf.util.sizeFromShape(t.shape),
  );
}

/** Row-major strides including the last (1). */
const stridesOf = (shape: number[]) => [...tf.util.computeStrides(shape), ...(shape.length ? [1] : [])];

function concat(addon: NativeAddon, { inputs, backend, attrs }: Args): TensorInfo {
  const ins = inputs as TensorInfo[];
  const axis = tf.util.parseAxisParam(attrs.axis as number, ins[0].shape)[0];
  const shapes = ins.map((t) => t.shape);
  tf.backend_util.assertParamsConsistent(shapes, axis);
  const outShape = tf.backend_util.computeOutShape(shapes, axis);
  const nonEmpty = ins.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
  const dtype = ins[0].dtype;
  if (nonEmpty.length === 1) {
    // the output is that input: share its buffer (tensors are immutable), as the native Identity does
    backend.incRef(nonEmpty[0].dataId);
    return { dataId: nonEmpty[0].dataId, shape: outShape, dtype };
  }
  for (const t of nonEmpty) backend.dataIdMap.get(t.dataId);
  const out = backend.makeOutput(outShape, dtype);
  if (nonEmpty.length === 0) return out;
  const outer = tf.util.sizeFromShape(outShape.slice(0, axis)),
    total = tf.util.sizeFromShape(outShape.slice(axis));
  const dst = view(backend, out);
  let offset = 0;
  for (const t of nonEmpty) {
    const inner = tf.util.sizeFromShape(t.shape.slice(axis));
    addon.copyStrided(view(backend, t), 0, dst, offset, [outer, inner], [inner, 1], [total, 1]);
    offset += inner;
  }
  return out;
}

function splitV(addon: NativeAddon, { inputs, backend, attrs }: Args): TensorInfo[] {
  const { x } = inputs as { x: TensorInfo };
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x, attrs.numOrSizeSplits as number | number[], axis);
  backend.dataIdMap.get(x.dataId);
  const outs = sizes.map((s) => {
    const shape = x.shape.slice();
    shape[axis] = s;
    return backend.makeOutput(shape, x.dtype);
  });
  const outer = tf.util.sizeFromShape(x.shape.slice(0, axis)),
    row = tf.util.sizeFromShape(x.shape.slice(axis + 1));
  const total = x.shape[axis] * row;
  if (outer * total === 0) return outs;
  const src = view(backend, x);
  let offset = 0;
  outs.forEach((o, i) => {
    const inner = sizes[i] * row;
    if (inner > 0) addon.copyStrided(src, offset, view(backend, o), 0, [outer, inner], [total, 1], [inner, 1]);
    offset += inner;
  });
  return outs;
}

function slice(addon: NativeAddon, { inputs, backend, attrs }: Args): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  const [begin, size] = tf.slice_util.parseSliceParams(
    x,
    attrs.begin as number | number[],
    attrs.size as number | number[],
  );
  tf.slice_util.assertParamsValid(x, begin, size);
  backend.dataIdMap.get(x.dataId);
  const out = backend.makeOutput(size, x.dtype);
  if (tf.util.sizeFromShape(size) === 0) return out;
  const xStrides = stridesOf(x.shape);
  const offset = begin.reduce((s, b, i) => s + b * xStrides[i], 0);
  addon.copyStrided(view(backend, x), offset, view(backend, out), 0, size, xStrides, stridesOf(size));
  return out;
}

/** Concat, SplitV and Slice through addon.copyStrided for float32/int32; other dtypes (and ranks > 8) use wasm's. */
export function copyKernelConfigs(addon: NativeAddon, backendName = 'native'): KernelConfig[] {
  const k = (
    kernelName: string,
    applies: (args: Args) => boolean,
    fn: (addon: NativeAddon, args: Args) => TensorInfo | TensorInfo[],
  ): KernelConfig => {
    const wasm = tf.getKernel(kernelName, 'wasm');
    return {
      kernelName,
      backendName,
      setupFunc: wasm?.setupFunc,
      kernelFunc: ((args: Args) => {
        if (applies(args)) return fn(addon, args);
        if (!wasm) throw new Error(`tfjs-backend-wasm has no ${kernelName} kernel`);
        return wasm.kernelFunc(args as unknown as Parameters<KernelFunc>[0]);
      }) as unknown as KernelFunc,
    };
  };
  const single = (a: Args) => {
    const { x } = a.inputs as { x: TensorInfo };
    return copyable(x.dtype) && x.shape.length <= 8;
  };
  return [
    k(
      'Concat',
      (a) => {
        const ins = a.inputs as TensorInfo[];
        return ins.length > 0 && copyable(ins[0].dtype) && ins.every((t) => t.dtype === ins[0].dtype);
      },
      concat,
    ),
    k('SplitV', single, splitV),
    k('Slice', single, slice),
  ];
}
