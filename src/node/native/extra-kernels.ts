// Kernels of the `native` backend written in TypeScript over the wasm heap (no addon change), added for the UNet and
// PixelCNN bench models (issue 3):
// - Identity and same-dtype Cast without a copy. The engine clones (Identity) every tensor it saves for the backward
//   pass, and tfjs-backend-wasm's Identity and same-dtype Cast copy the whole buffer: in a conv net's training step
//   that was ~10% of the time. Tensors are immutable, so sharing the buffer (reference-counted, as Reshape does) is safe.
// - DeepgenGroupNorm / DeepgenGroupNormGrad: group normalisation (NHWC) and its gradient in two passes each, in place
//   of ~20 elementwise tfjs ops (used by bench/models-unet-pixelcnn.ts through tf.customGrad).
// - ResizeNearestNeighborGrad for whole-number upscaling; OneHot with float32 output (wasm's writes int32 bits).
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

interface RefCountingBackend { incRef(dataId: object): void }
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
      if (x.dtype === 'string' || !applies(args)) return wasmKernel(kernelName)(args as unknown as Parameters<KernelFunc>[0]);
      args.backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
    }) as unknown as KernelFunc,
  });
  return [share('Identity', () => true), share('Cast', (a) => a.attrs.dtype === a.inputs.x.dtype)];
}

// ---- Group normalisation (+ optional SiLU), fused: forward and gradient in plain JS over the wasm heap.
// DeepgenGroupNorm: inputs x [B, H, W, C] (NHWC), gamma [C], beta [C]; attrs groups, epsilon, silu (boolean).
//   Outputs y = act((x - mean_g) * rstd_g * gamma + beta), mean [B, groups], rstd [B, groups].
// DeepgenGroupNormGrad: inputs dy, x, gamma, beta, mean, rstd (as above), optional sig; same attrs. Outputs dx, dgamma,
//   dbeta. With silu, dy is the gradient of SiLU's output; given sig (= sigmoid(z), e.g. computed by wasm's SIMD
//   Sigmoid in the forward pass) the kernel avoids recomputing exp, which is slow in JS.
// Not in tfjs: callers use them through tf.customGrad when tf.getKernel('DeepgenGroupNorm', backend) exists.

interface HeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
}
type GnArgs = { inputs: Record<string, TensorInfo>; backend: HeapBackend; attrs: { groups: number; epsilon: number; silu: boolean } };

function heapView(backend: HeapBackend, t: TensorInfo): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer, backend.dataIdMap.get(t.dataId).memoryOffset, tf.util.sizeFromShape(t.shape));
}

function gnCheck(x: TensorInfo, groups: number): [number, number, number] {
  if (x.shape.length !== 4) throw new Error('DeepgenGroupNorm: x must be [B, H, W, C]');
  const [B, H, W, C] = x.shape;
  if (C % groups !== 0) throw new Error(`DeepgenGroupNorm: ${C} channels do not split into ${groups} groups`);
  return [B, H * W, C];
}

function groupNormForward({ inputs, backend, attrs }: GnArgs): TensorInfo[] {
  const { x, gamma, beta } = inputs;
  const { groups: G, epsilon, silu } = attrs;
  const [B, P, C] = gnCheck(x, G);
  for (const t of [x, gamma, beta]) backend.dataIdMap.get(t.dataId); // move data onto the heap before allocating
  const yInfo = backend.makeOutput(x.shape, 'float32'), meanInfo = backend.makeOutput([B, G], 'float32'), rstdInfo = backend.makeOutput([B, G], 'float32');
  const xs = heapView(backend, x), ga = heapView(backend, gamma), be = heapView(backend, beta);
  const y = heapView(backend, yInfo), mean = heapView(backend, meanInfo), rstd = heapView(backend, rstdInfo);
  const Cg = C / G, n = P * Cg;
  const gOf = new Int32Array(C).map((_, c) => Math.floor(c / Cg));
  const pa = new Float64Array(C), pb = new Float64Array(C);
  const s1 = new Float64Array(G), s2 = new Float64Array(G), scale = new Float32Array(C), shift = new Float32Array(C);
  for (let b = 0; b < B; b++) {
    const base = b * P * C;
    s1.fill(0);
    s2.fill(0);
    // channel-outer loops with scalar accumulators: ~2x faster in V8 than channel-inner ones (the slab is in cache)
    for (let c = 0; c < C; c++) {
      let a = 0, q = 0;
      for (let i = base + c, end = base + P * C; i < end; i += C) { const v = xs[i]; a += v; q += v * v; }
      pa[c] = a;
      pb[c] = q;
    }
    for (let c = 0; c < C; c++) { s1[gOf[c]] += pa[c]; s2[gOf[c]] += pb[c]; }
    for (let g = 0; g < G; g++) {
      const m = s1[g] / n, v = Math.max(s2[g] / n - m * m, 0);
      mean[b * G + g] = m;
      rstd[b * G + g] = 1 / Math.sqrt(v + epsilon);
    }
    for (let c = 0; c < C; c++) {
      const g = gOf[c], r = rstd[b * G + g];
      scale[c] = r * ga[c];
      shift[c] = be[c] - mean[b * G + g] * scale[c];
    }
    const end = base + P * C;
    for (let c = 0; c < C; c++) {
      const a = scale[c], sh = shift[c];
      if (silu) for (let i = base + c; i < end; i += C) { const z = xs[i] * a + sh; y[i] = z / (1 + Math.exp(-z)); }
      else for (let i = base + c; i < end; i += C) y[i] = xs[i] * a + sh;
    }
  }
  return [yInfo, meanInfo, rstdInfo];
}

function groupNormGrad({ inputs, backend, attrs }: GnArgs): TensorInfo[] {
  const { dy, x, gamma, beta, mean, rstd, sig } = inputs;
  const { groups: G, silu } = attrs;
  if (sig) backend.dataIdMap.get(sig.dataId);
  const [B, P, C] = gnCheck(x, G);
  for (const t of [dy, x, gamma, beta, mean, rstd]) backend.dataIdMap.get(t.dataId);
  const dxInfo = backend.makeOutput(x.shape, 'float32'), dgInfo = backend.makeOutput([C], 'float32'), dbInfo = backend.makeOutput([C], 'float32');
  const dys = heapView(backend, dy), xs = heapView(backend, x), ga = heapView(backend, gamma), be = heapView(backend, beta);
  const mu = heapView(backend, mean), rs = heapView(backend, rstd);
  const dx = heapView(backend, dxInfo), dgamma = heapView(backend, dgInfo), dbeta = heapView(backend, dbInfo);
  const Cg = C / G, n = P * Cg;
  const gOf = new Int32Array(C).map((_, c) => Math.floor(c / Cg));
  const dg = new Float64Array(C), db = new Float64Array(C);
  const sA = new Float64Array(G), sB = new Float64Array(G);
  const m = new Float32Array(C), r = new Float32Array(C), scale = new Float32Array(C), shift = new Float32Array(C);
  const cA = new Float32Array(C), cB = new Float32Array(C);
  const pa = new Float64Array(C), pb = new Float64Array(C);
  const dzs = silu ? dx : dys;
  const sgs = silu && sig ? heapView(backend, sig) : null;
  for (let b = 0; b < B; b++) {
    const base = b * P * C, end = base + P * C;
    for (let c = 0; c < C; c++) {
      const g = gOf[c];
      m[c] = mu[b * G + g];
      r[c] = rs[b * G + g];
      scale[c] = r[c] * ga[c];
      shift[c] = be[c] - m[c] * scale[c];
    }
    // pass 1: dz (stored in dx when SiLU), per-channel sums of dz and dz * x
    for (let c = 0; c < C; c++) {
      let sa = 0, sb = 0;
      if (sgs) {
        const a = scale[c], sh = shift[c];
        for (let i = base + c; i < end; i += C) {
          const v = xs[i], z = v * a + sh, sg = sgs[i];
          const d = dys[i] * sg * (1 + z * (1 - sg));
          dx[i] = d;
          sa += d;
          sb += d * v;
        }
      } else if (silu) {
        const a = scale[c], sh = shift[c];
        for (let i = base + c; i < end; i += C) {
          const v = xs[i], z = v * a + sh, sg = 1 / (1 + Math.exp(-z));
          const d = dys[i] * sg * (1 + z * (1 - sg));
          dx[i] = d;
          sa += d;
          sb += d * v;
        }
      } else {
        for (let i = base + c; i < end; i += C) { const d = dys[i]; sa += d; sb += d * xs[i]; }
      }
      pa[c] = sa;
      pb[c] = sb;
    }
    // sum(dz * xhat) = rstd * (sum(dz * x) - mean * sum(dz))
    for (let c = 0; c < C; c++) pb[c] = r[c] * (pb[c] - m[c] * pa[c]);
    sA.fill(0);
    sB.fill(0);
    for (let c = 0; c < C; c++) {
      db[c] += pa[c];
      dg[c] += pb[c];
      sA[gOf[c]] += pa[c] * ga[c]; // sum of dxhat
      sB[gOf[c]] += pb[c] * ga[c]; // sum of dxhat * xhat
    }
    for (let c = 0; c < C; c++) {
      const g = gOf[c];
      cA[c] = sA[g] / n;
      cB[c] = sB[g] / n;
    }
    // pass 2: dx = rstd * (dz * gamma - mean(dxhat) - xhat * mean(dxhat * xhat)) = dz * k1 + x * k2 + k3 per channel
    for (let c = 0; c < C; c++) {
      const k1 = r[c] * ga[c], k2 = -r[c] * r[c] * cB[c], k3 = -r[c] * cA[c] + r[c] * r[c] * m[c] * cB[c];
      cA[c] = k1;
      cB[c] = k2;
      shift[c] = k3;
    }
    for (let c = 0; c < C; c++) {
      const k1 = cA[c], k2 = cB[c], k3 = shift[c];
      for (let i = base + c; i < end; i += C) dx[i] = dzs[i] * k1 + xs[i] * k2 + k3;
    }
  }
  for (let c = 0; c < C; c++) { dgamma[c] = dg[c]; dbeta[c] = db[c]; }
  return [dxInfo, dgInfo, dbInfo];
}

export function groupNormKernelConfigs(backendName = 'native'): KernelConfig[] {
  return [
    { kernelName: 'DeepgenGroupNorm', backendName, kernelFunc: groupNormForward as unknown as KernelFunc },
    { kernelName: 'DeepgenGroupNormGrad', backendName, kernelFunc: groupNormGrad as unknown as KernelFunc },
  ];
}

// ---- ResizeNearestNeighborGrad for whole-number upscaling (the UNet's nearest x2), summing each output block in
// JS over the heap: tfjs-backend-wasm's kernel took ~70 ms per UNet step. Other cases keep the wasm kernel.
export function resizeGradKernelConfigs(backendName = 'native'): KernelConfig[] {
  const wasm = tf.getKernel('ResizeNearestNeighborGrad', 'wasm');
  if (!wasm) return [];
  return [{
    kernelName: 'ResizeNearestNeighborGrad',
    backendName,
    setupFunc: wasm.setupFunc,
    kernelFunc: ((args: { inputs: { images: TensorInfo; dy: TensorInfo }; backend: HeapBackend; attrs: { alignCorners: boolean; halfPixelCenters: boolean } }) => {
      const { images, dy } = args.inputs;
      const { backend, attrs } = args;
      const [B, H, W, C] = images.shape, [, OH, OW] = dy.shape;
      const fy = OH / H, fx = OW / W;
      if (attrs.alignCorners || attrs.halfPixelCenters || dy.dtype !== 'float32' || images.shape.length !== 4
        || !Number.isInteger(fy) || !Number.isInteger(fx) || dy.shape[3] !== C) {
        return wasm.kernelFunc(args as unknown as Parameters<KernelFunc>[0]);
      }
      backend.dataIdMap.get(dy.dataId);
      const outInfo = backend.makeOutput(images.shape, 'float32');
      const d = heapView(backend, dy), o = heapView(backend, outInfo);
      o.fill(0);
      for (let b = 0; b < B; b++) {
        for (let y = 0; y < OH; y++) {
          const iy = (y / fy) | 0;
          for (let x = 0; x < OW; x++) {
            const src = ((b * OH + y) * OW + x) * C, dst = ((b * H + iy) * W + ((x / fx) | 0)) * C;
            for (let c = 0; c < C; c++) o[dst + c] += d[src + c];
          }
        }
      }
      return outInfo;
    }) as unknown as KernelFunc,
  }];
}

// ---- OneHot with a float32 output: tfjs-backend-wasm 4.22 ignores the dtype and writes int32 bit patterns
// (tf.oneHot(i, n, 1, 0, 'float32') gives 1.4e-45 instead of 1), so the native backend fills float32 outputs in JS.
export function oneHotKernelConfigs(backendName = 'native'): KernelConfig[] {
  const wasm = tf.getKernel('OneHot', 'wasm');
  if (!wasm) return [];
  return [{
    kernelName: 'OneHot',
    backendName,
    setupFunc: wasm.setupFunc,
    kernelFunc: ((args: { inputs: { indices: TensorInfo }; backend: HeapBackend; attrs: { depth: number; onValue: number; offValue: number; dtype: tf.DataType } }) => {
      const { indices } = args.inputs;
      const { depth, onValue, offValue, dtype } = args.attrs;
      if (dtype !== 'float32' || indices.dtype !== 'int32') return wasm.kernelFunc(args as unknown as Parameters<KernelFunc>[0]);
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
  }];
}
