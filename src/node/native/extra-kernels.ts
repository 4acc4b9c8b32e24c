// Kernels of the `native` backend added for the UNet and PixelCNN bench models (issue 3), in TypeScript over the wasm
// heap except group norm (the addon):
// - Identity and same-dtype Cast without a copy. The engine clones (Identity) every tensor it saves for the backward
//   pass, and tfjs-backend-wasm's Identity and same-dtype Cast copy the whole buffer: in a conv net's training step
//   that was ~10% of the time. Tensors are immutable, so sharing the buffer (reference-counted, as Reshape does) is safe.
// - DeepgenGroupNorm / DeepgenGroupNormGrad: group normalisation (NHWC, + optional SiLU) and its gradient through the
//   addon, in place of ~20 elementwise tfjs ops (used by src/core/nn/group-norm.ts through tf.customGrad).
// - ResizeNearestNeighborGrad for whole-number upscaling; OneHot with float32 output (wasm's writes int32 bits).
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.ts';

interface RefCountingBackend {
  incRef(dataId: object): void;
}
type Args = { inputs: { x: TensorInfo }; backend: RefCountingBackend; attrs: Record<string, unknown> };

function wasmKernel(name: string): KernelFunc {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`tfjs-backend-wasm has no ${name} kernel`);
  return k.kernelFunc;
}

/** Identity and same-dtype Cast share the input's buffer; strings and real casts keep the wasm kernels. */
export function zeroCopyKernelConfigs(backendName = 'native'): KernelConfig[] {
  const share = (kernelName: string, applies: (args: Args) => boolean): KernelConfig => ({
    kernelName,
    backendName,
    setupFunc: tf.getKernel(kernelName, 'wasm')?.setupFunc,
    kernelFunc: ((args: Args) => {
      const { x } = args.inputs;
      if (x.dtype === 'string' || !applies(args))
        return wasmKernel(kernelName)(args as unknown as Parameters<KernelFunc>[0]);
      args.backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
    }) as unknown as KernelFunc,
  });
  return [share('Identity', () => true), share('Cast', (a) => a.attrs.dtype === a.inputs.x.dtype)];
}

// ---- Group normalisation (+ optional SiLU), fused, computed by the addon (native/src/norm.cc, threaded over the batch).
// DeepgenGroupNorm: inputs x [B, H, W, C] (NHWC), gamma and beta [C] or [B, C] (per image: AdaGN's scale and shift
//   folded in); attrs groups, epsilon, silu (boolean).
//   Outputs y = act((x - mean_g) * rstd_g * gamma + beta) (act = SiLU when silu, else identity), mean and rstd [B, groups].
// DeepgenGroupNormGrad: inputs dy, x, gamma, beta, mean, rstd (as above); same attrs. Outputs dx, dgamma, dbeta (gamma's shape). With
//   silu, dy is the gradient of SiLU's output and the kernel recomputes the sigmoid.
// Not in tfjs: src/core/nn/group-norm.ts uses them through tf.customGrad when tf.getKernel('DeepgenGroupNorm', backend) exists.

interface HeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
}
type GnArgs = {
  inputs: Record<string, TensorInfo>;
  backend: HeapBackend;
  attrs: { groups: number; epsilon: number; silu: boolean };
};

function heapView(backend: HeapBackend, t: TensorInfo): Float32Array {
  return new Float32Array(
    backend.wasm.HEAPU8.buffer,
    backend.dataIdMap.get(t.dataId).memoryOffset,
    tf.util.sizeFromShape(t.shape),
  );
}

/** [B, H * W, C] after checking shapes and dtypes. */
function gnCheck(
  name: string,
  x: TensorInfo,
  groups: number,
  inputs: Record<string, TensorInfo>,
  names: string[],
): [number, number, number] {
  if (x.shape.length !== 4) throw new Error(`${name}: x must be [B, H, W, C]`);
  const [B, H, W, C] = x.shape;
  const { gamma, beta } = inputs;
  const affine = (s: number[]) => (s.length === 1 && s[0] === C) || (s.length === 2 && s[0] === B && s[1] === C);
  if (!gamma || !beta || !affine(gamma.shape) || gamma.shape.join() !== beta.shape.join())
    throw new Error(`${name}: gamma and beta must both be [C] or [B, C]`);
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0)
    throw new Error(`${name}: ${C} channels do not split into ${groups} groups`);
  for (const n of names) {
    const t = inputs[n];
    if (!t || t.dtype !== 'float32') throw new Error(`${name}: ${n} must be a float32 tensor`);
  }
  return [B, H * W, C];
}

function groupNormForward(addon: NativeAddon, { inputs, backend, attrs }: GnArgs): TensorInfo[] {
  const { x, gamma, beta } = inputs;
  const { groups: G, epsilon, silu } = attrs;
  const [B, P, C] = gnCheck('DeepgenGroupNorm', x, G, inputs, ['x', 'gamma', 'beta']);
  for (const t of [x, gamma, beta]) backend.dataIdMap.get(t.dataId); // move data onto the heap before allocating
  const y = backend.makeOutput(x.shape, 'float32'),
    mean = backend.makeOutput([B, G], 'float32'),
    rstd = backend.makeOutput([B, G], 'float32');
  addon.groupNorm(
    heapView(backend, x),
    heapView(backend, gamma),
    heapView(backend, beta),
    heapView(backend, y),
    heapView(backend, mean),
    heapView(backend, rstd),
    B,
    P,
    C,
    G,
    epsilon ?? 1e-5,
    !!silu,
  );
  return [y, mean, rstd];
}

function groupNormGrad(addon: NativeAddon, { inputs, backend, attrs }: GnArgs): TensorInfo[] {
  const { dy, x, gamma, beta, mean, rstd } = inputs;
  const { groups: G, silu } = attrs;
  const [B, P, C] = gnCheck('DeepgenGroupNormGrad', x, G, inputs, ['dy', 'x', 'gamma', 'beta', 'mean', 'rstd']);
  for (const t of [dy, x, gamma, beta, mean, rstd]) backend.dataIdMap.get(t.dataId);
  const dx = backend.makeOutput(x.shape, 'float32'),
    dgamma = backend.makeOutput(gamma.shape, 'float32'),
    dbeta = backend.makeOutput(beta.shape, 'float32');
  addon.groupNormGrad(
    heapView(backend, dy),
    heapView(backend, x),
    heapView(backend, gamma),
    heapView(backend, beta),
    heapView(backend, mean),
    heapView(backend, rstd),
    heapView(backend, dx),
    heapView(backend, dgamma),
    heapView(backend, dbeta),
    B,
    P,
    C,
    G,
    !!silu,
  );
  return [dx, dgamma, dbeta];
}

export function groupNormKernelConfigs(addon: NativeAddon, backendName = 'native'): KernelConfig[] {
  return [
    {
      kernelName: 'DeepgenGroupNorm',
      backendName,
      kernelFunc: ((args: GnArgs) => groupNormForward(addon, args)) as unknown as KernelFunc,
    },
    {
      kernelName: 'DeepgenGroupNormGrad',
      backendName,
      kernelFunc: ((args: GnArgs) => groupNormGrad(addon, args)) as unknown as KernelFunc,
    },
  ];
}

// ---- ResizeNearestNeighborGrad for whole-number upscaling (the UNet's nearest x2), summing each output block in
// JS over the heap: tfjs-backend-wasm's kernel took ~70 ms per UNet step. Other cases keep the wasm kernel.
export function resizeGradKernelConfigs(backendName = 'native'): KernelConfig[] {
  const wasm = tf.getKernel('ResizeNearestNeighborGrad', 'wasm');
  if (!wasm) return [];
  return [
    {
      kernelName: 'ResizeNearestNeighborGrad',
      backendName,
      setupFunc: wasm.setupFunc,
      kernelFunc: ((args: {
        inputs: { images: TensorInfo; dy: TensorInfo };
        backend: HeapBackend;
        attrs: { alignCorners: boolean; halfPixelCenters: boolean };
      }) => {
        const { images, dy } = args.inputs;
        const { backend, attrs } = args;
        const [B, H, W, C] = images.shape,
          [, OH, OW] = dy.shape;
        const fy = OH / H,
          fx = OW / W;
        if (
          attrs.alignCorners ||
          attrs.halfPixelCenters ||
          dy.dtype !== 'float32' ||
          images.shape.length !== 4 ||
          !Number.isInteger(fy) ||
          !Number.isInteger(fx) ||
          dy.shape[3] !== C
        ) {
          return wasm.kernelFunc(args as unknown as Parameters<KernelFunc>[0]);
        }
        backend.dataIdMap.get(dy.dataId);
        const outInfo = backend.makeOutput(images.shape, 'float32');
        const d = heapView(backend, dy),
          o = heapView(backend, outInfo);
        o.fill(0);
        for (let b = 0; b < B; b++) {
          for (let y = 0; y < OH; y++) {
            const iy = (y / fy) | 0;
            for (let x = 0; x < OW; x++) {
              const src = ((b * OH + y) * OW + x) * C,
                dst = ((b * H + iy) * W + ((x / fx) | 0)) * C;
              for (let c = 0; c < C; c++) o[dst + c] += d[src + c];
            }
          }
        }
        return outInfo;
      }) as unknown as KernelFunc,
    },
  ];
}

// ---- OneHot with a float32 output: tfjs-backend-wasm 4.22 ignores the dtype and writes int32 bit patterns
// (tf.oneHot(i, n, 1, 0, 'float32') gives 1.4e-45 instead of 1), so the native backend fills float32 outputs in JS.
export function oneHotKernelConfigs(backendName = 'native'): KernelConfig[] {
  const wasm = tf.getKernel('OneHot', 'wasm');
  if (!wasm) return [];
  return [
    {
      kernelName: 'OneHot',
      backendName,
      setupFunc: wasm.setupFunc,
      kernelFunc: ((args: {
        inputs: { indices: TensorInfo };
        backend: HeapBackend;
        attrs: { depth: number; onValue: number; offValue: number; dtype: tf.DataType };
      }) => {
        const { indices } = args.inputs;
        const { depth, onValue, offValue, dtype } = args.attrs;
        if (dtype !== 'float32' || indices.dtype !== 'int32')
          return wasm.kernelFunc(args as unknown as Parameters<KernelFunc>[0]);
        const { backend } = args;
        backend.dataIdMap.get(indices.dataId);
        const out = backend.makeOutput([...indices.shape, depth], 'float32');
        const n = tf.util.sizeFromShape(indices.shape);
        const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
        const ids = new Int32Array(heap, backend.dataIdMap.get(indices.dataId).memoryOffset, n);
        const o = heapView(backend, out);
        o.fill(offValue);
        for (let i = 0; i < n; i++) if (ids[i] >= 0 && ids[i] < depth) o[i * depth + ids[i]] = onValue;
        return out;
      }) as unknown as KernelFunc,
    },
  ];
}
