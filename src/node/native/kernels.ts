// The native kernels of the `native` backend: matmul and conv2d (forward, input and filter gradients, fused bias +
// activation), leading-axis Sum, UnsortedSegmentSum and a fused Adam update, computed straight on the wasm heap. Order matters in each
// kernel: touch the inputs (which may move data onto this backend), allocate the output, and only then take
// Float32Array views, because any allocation can grow the wasm heap and detach earlier views.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvGeometry, NativeAddon } from './addon.ts';
import { FUSED_ADAM_KERNEL } from '../../core/train/adam.ts';

/** The parts of tfjs-backend-wasm's BackendWasm the kernels use. */
export interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  disposeData(dataId: object): boolean;
}

/** The fused Adam update (see FUSED_ADAM_KERNEL in core/train/adam.ts): one pass over the four arrays instead of
 *  ~14 elementwise kernels (Adam took about half of an MLP training step). tf.train.adam uses it too (backend.ts). */
export const FUSED_ADAM = FUSED_ADAM_KERNEL;

function fusedAdamLoop(
  x: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
  xo: Float32Array,
  mo: Float32Array,
  vo: Float32Array,
  beta1: number,
  beta2: number,
  lr: number,
  eps: number,
  c1: number,
  c2: number,
  decay: number,
): void {
  // double-precision intermediates, rounded to float32 on store
  const a1 = 1 - beta1,
    a2 = 1 - beta2,
    n = x.length,
    s1 = lr / c1,
    s2 = 1 / c2,
    keep = 1 - lr * decay;
  for (let i = 0; i < n; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + a1 * gi;
    const vi = beta2 * v[i] + a2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    xo[i] = keep * x[i] - (s1 * mi) / (Math.sqrt(vi * s2) + eps);
  }
}

type Args = {
  inputs: Record<string, TensorInfo | undefined>;
  backend: WasmHeapBackend;
  attrs: Record<string, unknown>;
};

const WASM_ACTIVATION_KERNEL: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  elu: 'Elu',
  leakyrelu: 'LeakyRelu',
  sigmoid: 'Sigmoid',
};

function touch(backend: WasmHeapBackend, ...ts: (TensorInfo | undefined)[]): void {
  for (const t of ts) if (t) backend.dataIdMap.get(t.dataId);
}

function view(backend: WasmHeapBackend, t: TensorInfo): Float32Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId);
  return new Float32Array(backend.wasm.HEAPU8.buffer, memoryOffset, tf.util.sizeFromShape(t.shape));
}

function wasmKernel(name: string): KernelFunc {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`tfjs-backend-wasm has no ${name} kernel`);
  return k.kernelFunc;
}

/** True when `p` (bias or PReLU alpha) repeats along the last axis of `out`, or is a single value. */
function repeatsAlongLastAxis(p: TensorInfo, out: number[]): boolean {
  const size = tf.util.sizeFromShape(p.shape);
  if (size === 1) return true;
  const last = out[out.length - 1];
  return p.shape.length <= out.length && p.shape[p.shape.length - 1] === last && size === last;
}

let ones = new Float32Array(0);
/** A cached vector of at least n ones (a JS-side array: sgemm reads it directly, it never lives on the wasm heap). */
function onesOf(n: number): Float32Array {
  if (ones.length < n) ones = new Float32Array(Math.max(n, 2 * ones.length)).fill(1);
  return ones.subarray(0, n);
}

/** out = activation(out + bias), in place when the shapes allow it, else through the wasm kernels. */
function biasActivation(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  out: TensorInfo,
  bias: TensorInfo | undefined,
  activation: string,
  leakyAlpha: number,
  prelu: TensorInfo | undefined,
): TensorInfo {
  const codes = addon.activations,
    name = activation ?? 'linear'; // the addon's activation enum by name
  const code = Object.hasOwn(codes, name) ? codes[name] : undefined;
  if (code === undefined) throw new Error(`Activation ${activation} has not been implemented for the native backend`);
  const LINEAR = codes.linear,
    PRELU = codes.prelu;
  if (!bias && code === LINEAR) return out;
  const fast =
    (!bias || (bias.dtype === 'float32' && repeatsAlongLastAxis(bias, out.shape))) &&
    (code !== PRELU || (prelu !== undefined && prelu.dtype === 'float32' && repeatsAlongLastAxis(prelu, out.shape)));
  if (fast) {
    const y = view(backend, out);
    const C = out.shape[out.shape.length - 1] ?? 1;
    if (bias && C > 1 && tf.util.sizeFromShape(bias.shape) === C && y.length > 0) {
      // unet-pixelcnn helper: the bias add as a rank-1 sgemm update (y += ones * bias, beta 1): multi-threaded and
      // ~10x faster than biasAct's per-element `i % n`; biasAct then applies the activation alone.
      const rows = y.length / C;
      addon.sgemm(false, false, rows, C, 1, 1, onesOf(rows), 1, view(backend, bias), C, 1, y, C);
      if (code !== LINEAR)
        addon.biasAct(y, null, code, leakyAlpha ?? 0.2, prelu && code === PRELU ? view(backend, prelu) : null);
      return out;
    }
    addon.biasAct(
      y,
      bias ? view(backend, bias) : null,
      code,
      leakyAlpha ?? 0.2,
      prelu && code === PRELU ? view(backend, prelu) : null,
    );
    return out;
  }
  // General broadcasting through wasm kernels; `consume` disposes the intermediate it replaces.
  const call = (name: string, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown> = {}) =>
    wasmKernel(name)({
      inputs,
      backend: backend as unknown as tf.KernelBackend,
      attrs: attrs as tf.NamedAttrMap,
    }) as TensorInfo;
  const consume = (old: TensorInfo, r: TensorInfo) => (backend.disposeData(old.dataId), r);
  let cur = out;
  if (bias) cur = consume(cur, call('Add', { a: cur, b: bias }));
  if (code === PRELU) {
    // prelu(x) = relu(x) - alpha * relu(-x), since wasm's Prelu only repeats alpha along the last axis
    const neg = call('Neg', { x: cur }),
      negPart = consume(neg, call('Relu', { x: neg }));
    const scaled = consume(negPart, call('Multiply', { a: negPart, b: prelu! }));
    const pos = consume(cur, call('Relu', { x: cur }));
    cur = call('Sub', { a: pos, b: scaled });
    backend.disposeData(pos.dataId);
    backend.disposeData(scaled.dataId);
  } else if (code !== LINEAR) {
    cur = consume(cur, call(WASM_ACTIVATION_KERNEL[activation], { x: cur }, { alpha: leakyAlpha ?? 0.2 }));
  }
  return cur;
}

/** For every output batch index, the batch index into a and b (numpy broadcasting of the leading dimensions). */
function batchIndices(aBatch: number[], bBatch: number[], outBatch: number[]): [Int32Array, Int32Array] {
  const n = tf.util.sizeFromShape(outBatch);
  const ai = new Int32Array(n),
    bi = new Int32Array(n);
  const r = outBatch.length;
  for (let i = 0; i < n; i++) {
    let rem = i,
      a = 0,
      b = 0,
      aStride = 1,
      bStride = 1;
    for (let d = r - 1; d >= 0; d--) {
      const c = rem % outBatch[d];
      rem = Math.floor(rem / outBatch[d]);
      const da = d - (r - aBatch.length),
        db = d - (r - bBatch.length);
      if (da >= 0) {
        if (aBatch[da] !== 1) a += c * aStride;
        aStride *= aBatch[da];
      }
      if (db >= 0) {
        if (bBatch[db] !== 1) b += c * bStride;
        bStride *= bBatch[db];
      }
    }
    ai[i] = a;
    bi[i] = b;
  }
  return [ai, bi];
}

function matMul(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): TensorInfo {
  const ra = a.shape.length,
    rb = b.shape.length;
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  tf.util.assert(
    K === Kb,
    () =>
      `Error in matMul: inner shapes (${K}) and (${Kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
  );
  const aBatch = a.shape.slice(0, -2),
    bBatch = b.shape.slice(0, -2);
  const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(aBatch, bBatch);
  touch(backend, a, b);
  const out = backend.makeOutput([...outBatch, M, N], 'float32');
  const A = view(backend, a),
    B = view(backend, b),
    C = view(backend, out);
  if (C.length === 0) return out;
  if (tf.util.sizeFromShape(aBatch) === 1 && tf.util.sizeFromShape(bBatch) === 1) {
    addon.sgemm(transposeA, transposeB, M, N, K, 1, A, transposeA ? M : K, B, transposeB ? K : N, 0, C, N);
  } else {
    const [ai, bi] = batchIndices(aBatch, bBatch, outBatch);
    addon.batchMatMul(A, B, C, ai, bi, M, N, K, transposeA, transposeB);
  }
  return out;
}

function convGeometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  if (info.dataFormat !== 'channelsLast')
    throw new Error('The native backend supports NHWC (channelsLast) conv2d only');
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outChannels,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
}

type ConvAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: ConvAttrs,
  dilations: number | [number, number] = attrs.dilations ?? 1,
) {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC'),
  );
}

function conv2d(
  addon: NativeAddon,
  backend: WasmHeapBackend,
  x: TensorInfo,
  filter: TensorInfo,
  attrs: ConvAttrs,
): TensorInfo {
  const info = convInfo(x.shape, filter.shape, attrs);
  const geometry = convGeometry(info);
  touch(backend, x, filter);
  const out = backend.makeOutput(info.outShape, 'float32');
  addon.conv2d(view(backend, x), view(backend, filter), view(backend, out), geometry);
  return out;
}

const isFloat = (...ts: (TensorInfo | undefined)[]) => ts.every((t) => !t || t.dtype === 'float32');

/** The kernels the native backend adds to (or overrides in) the copied wasm kernel set. */
export function nativeKernelConfigs(addon: NativeAddon, backendName = 'native'): KernelConfig[] {
  const k = (kernelName: string, fn: (args: Args) => TensorInfo, floatInputs: string[]): KernelConfig => ({
    kernelName,
    backendName,
    // The wasm kernel's setup binds its wasm function, which the fallback path calls.
    setupFunc: tf.getKernel(kernelName, 'wasm')?.setupFunc,
    kernelFunc: ((args: Args) => {
      // Non-float inputs keep tfjs-backend-wasm's behaviour (which rejects them for these ops, as cpu casts do not apply).
      if (!isFloat(...floatInputs.map((n) => args.inputs[n])))
        return wasmKernel(kernelName)(args as unknown as Parameters<KernelFunc>[0]);
      return fn(args);
    }) as unknown as KernelFunc,
  });
  return [
    k(
      'BatchMatMul',
      ({ inputs, backend, attrs }) =>
        matMul(addon, backend, inputs.a!, inputs.b!, attrs.transposeA as boolean, attrs.transposeB as boolean),
      ['a', 'b'],
    ),
    k(
      '_FusedMatMul',
      ({ inputs, backend, attrs }) => {
        const out = matMul(
          addon,
          backend,
          inputs.a!,
          inputs.b!,
          attrs.transposeA as boolean,
          attrs.transposeB as boolean,
        );
        return biasActivation(
          addon,
          backend,
          out,
          inputs.bias,
          attrs.activation as string,
          attrs.leakyreluAlpha as number,
          inputs.preluActivationWeights,
        );
      },
      ['a', 'b'],
    ),
    k(
      'Sum',
      ({ inputs, backend, attrs }) => {
        // Native only for reductions over leading axes (bias gradients); anything else stays with wasm.
        const x = inputs.x!;
        const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((p, q) => p - q);
        if (axes.length === 0 || !axes.every((a, i) => a === i))
          return wasmKernel('Sum')({ inputs, backend, attrs } as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
        const outer = tf.util.sizeFromShape(x.shape.slice(0, axes.length)),
          innerShape = x.shape.slice(axes.length);
        const outShape = attrs.keepDims ? [...axes.map(() => 1), ...innerShape] : innerShape;
        touch(backend, x);
        const out = backend.makeOutput(outShape, 'float32');
        addon.sumOuter(view(backend, x), view(backend, out), outer, tf.util.sizeFromShape(innerShape));
        return out;
      },
      ['x'],
    ),
    // Missing in tfjs-backend-wasm; the gradient of tf.gather (embeddings) needs it. Plain JS over the heap.
    {
      kernelName: 'UnsortedSegmentSum',
      backendName,
      kernelFunc: ((args: Args) => {
        const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
        const numSegments = args.attrs.numSegments as number;
        const { backend } = args;
        if (x.dtype !== 'float32' && x.dtype !== 'int32')
          throw new Error(`UnsortedSegmentSum: unsupported dtype ${x.dtype}`);
        const n = tf.util.sizeFromShape(segmentIds.shape),
          inner = tf.util.sizeFromShape(x.shape.slice(segmentIds.shape.length));
        touch(backend, x, segmentIds);
        const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
        const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
        const Ctor = x.dtype === 'float32' ? Float32Array : Int32Array;
        const xs = new Ctor(heap, backend.dataIdMap.get(x.dataId).memoryOffset, n * inner);
        const ys = new Ctor(heap, backend.dataIdMap.get(out.dataId).memoryOffset, numSegments * inner);
        const ids = new Int32Array(heap, backend.dataIdMap.get(segmentIds.dataId).memoryOffset, n);
        ys.fill(0);
        for (let i = 0; i < n; i++) {
          const s = ids[i];
          if (s < 0 || s >= numSegments) continue; // like TensorFlow: out-of-range ids are dropped
          for (let j = 0, o = s * inner, q = i * inner; j < inner; j++) ys[o + j] += xs[q + j];
        }
        return out;
      }) as unknown as KernelFunc,
    },
    {
      kernelName: FUSED_ADAM,
      backendName,
      kernelFunc: ((args: Args) => {
        const { x, m, v, g } = args.inputs as Record<string, TensorInfo>;
        const a = args.attrs as Record<string, number>;
        for (const t of [x, m, v, g]) {
          if (!t || t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, x.shape))
            throw new Error(`${FUSED_ADAM}: x, m, v and g must be float32 of one shape`);
        }
        const { backend } = args;
        touch(backend, x, m, v, g);
        const xo = backend.makeOutput(x.shape, 'float32'),
          mo = backend.makeOutput(x.shape, 'float32'),
          vo = backend.makeOutput(x.shape, 'float32');
        fusedAdamLoop(
          view(backend, x),
          view(backend, m),
          view(backend, v),
          view(backend, g),
          view(backend, xo),
          view(backend, mo),
          view(backend, vo),
          a.beta1,
          a.beta2,
          a.learningRate,
          a.epsilon,
          a.c1,
          a.c2,
          a.decay ?? 0,
        );
        return [xo, mo, vo];
      }) as unknown as KernelFunc,
    },
    k(
      'Conv2D',
      ({ inputs, backend, attrs }) => conv2d(addon, backend, inputs.x!, inputs.filter!, attrs as unknown as ConvAttrs),
      ['x', 'filter'],
    ),
    k(
      'FusedConv2D',
      ({ inputs, backend, attrs }) => {
        const out = conv2d(addon, backend, inputs.x!, inputs.filter!, attrs as unknown as ConvAttrs);
        return biasActivation(
          addon,
          backend,
          out,
          inputs.bias,
          attrs.activation as string,
          attrs.leakyreluAlpha as number,
          inputs.preluActivationWeights,
        );
      },
      ['x', 'filter'],
    ),
    k(
      'Conv2DBackpropInput',
      ({ inputs, backend, attrs }) => {
        const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
        const a = attrs as unknown as ConvAttrs & { inputShape: number[] };
        const info = convInfo(a.inputShape, filter.shape, a, 1);
        const geometry = convGeometry(info);
        touch(backend, dy, filter);
        const out = backend.makeOutput(a.inputShape, 'float32');
        addon.conv2dBackpropInput(view(backend, dy), view(backend, filter), view(backend, out), geometry);
        return out;
      },
      ['dy', 'filter'],
    ),
    k(
      'Conv2DBackpropFilter',
      ({ inputs, backend, attrs }) => {
        const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
        const a = attrs as unknown as ConvAttrs & { filterShape: number[] };
        const info = convInfo(x.shape, a.filterShape, a, 1);
        const geometry = convGeometry(info);
        touch(backend, x, dy);
        const out = backend.makeOutput(a.filterShape, 'float32');
        addon.conv2dBackpropFilter(view(backend, x), view(backend, dy), view(backend, out), geometry);
        return out;
      },
      ['x', 'dy'],
    ),
  ];
}
