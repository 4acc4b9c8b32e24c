// The playground's TensorFlow.js backends and how the worker picks one: `auto` takes WebGPU on a real GPU, then WebGL
// on a real GPU, then wasm (every core when the page is cross-origin isolated), then the pure-JS cpu backend. A
// software adapter (SwiftShader, llvmpipe) is skipped by auto, since wasm beats it on the same CPU, but can be chosen.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { UserError } from '../core/errors.ts';
import { isSoftwareGpu } from '../core/gpu.ts';

/** What the page's backend menu offers (`?backend=`). */
export const PAGE_BACKENDS = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

/** A GPU API's device as the browser reports it; `software` when it is a CPU emulation. */
export interface Device {
  name: string;
  software: boolean;
}

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<AdapterInfoLike>;
}
interface GpuLike {
  requestAdapter(o?: { powerPreference?: string }): Promise<AdapterLike | null>;
}

/** The WebGPU adapter the webgpu backend will get (it asks for the high-performance one), or null without one. */
export async function webgpuDevice(): Promise<Device | null> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return null;
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.().catch(() => undefined)) ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  return { name, software: isSoftwareGpu(name, !!(info.isFallbackAdapter ?? adapter.isFallbackAdapter)) };
}

/** The WebGL 2 renderer (an OffscreenCanvas works in a worker), or null without WebGL 2. */
export function webglDevice(): Device | null {
  if (typeof OffscreenCanvas === 'undefined') return null;
  let gl: WebGL2RenderingContext | null;
  try {
    gl = new OffscreenCanvas(1, 1).getContext('webgl2');
  } catch {
    return null;
  }
  if (!gl) return null;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const name = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? 'unknown renderer');
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return { name, software: isSoftwareGpu(name) };
}

interface ReadableBackend {
  readSync(dataId: object): unknown;
  tensorMap: { get(dataId: object): { values?: unknown; dtype?: string } | undefined };
}

/**
 * WebGPU has no synchronous read from the GPU. TF.js's webgpu backend emulates one through a canvas, which is slow
 * and which some adapters answer with zeros (SwiftShader in headless Chromium, which then loses the device). The
 * worker reads asynchronously instead (step-wise samplers run with sampleAsync, weights are read once after loading),
 * so a synchronous read of data on the GPU is a bug: it throws a one-line message instead of returning garbage.
 */
const refusing = new WeakSet<object>();
/** Values kept on the CPU for synchronous reads, by tensor data id (keepReadable). */
const kept = new WeakMap<object, unknown>();

/**
 * Keeps a copy of these tensors' values (a model's weights) on the CPU, so that code which reads weights
 * synchronously (a flow's 1x1 convolution inverse, a VAE's code statistics) works on WebGPU: the backend drops its own
 * CPU copy once a tensor is on the GPU. Weights do not change while the playground samples.
 */
export async function keepReadable(tensors: tf.Tensor[]): Promise<void> {
  for (const t of tensors) kept.set(t.dataId, (await t.data()).slice());
}

function refuseSyncReads(): void {
  const b = tf.backend() as unknown as ReadableBackend;
  if (refusing.has(b)) return;
  refusing.add(b);
  const read = b.readSync.bind(b);
  b.readSync = (dataId: object) => {
    const d = b.tensorMap.get(dataId);
    if (d?.values != null || d?.dtype === 'string') return read(dataId); // still on the CPU
    if (kept.has(dataId)) return kept.get(dataId);
    throw new UserError(
      'this step reads a result back from WebGPU synchronously, which WebGPU cannot do; choose the wasm backend for it',
    );
  };
}

/** The order in which `name` is tried: auto skips software GPUs and says why in `skipped`. */
export async function backendOrder(name: string): Promise<{ order: string[]; skipped: string[] }> {
  if (!(PAGE_BACKENDS as readonly string[]).includes(name))
    throw new UserError(`unknown backend "${name}"; choose one of ${PAGE_BACKENDS.join(', ')}`);
  if (name !== 'auto') return { order: [name], skipped: [] };
  const order: string[] = [];
  const skipped: string[] = [];
  const gpu = await webgpuDevice();
  if (gpu && !gpu.software) order.push('webgpu');
  else skipped.push(gpu ? `WebGPU is ${gpu.name}, a CPU emulation` : 'no WebGPU adapter');
  const gl = webglDevice();
  if (gl && !gl.software) order.push('webgl');
  else skipped.push(gl ? `WebGL is ${gl.name}, a CPU emulation` : 'no WebGL 2');
  order.push('wasm', 'cpu');
  return { order, skipped };
}

/**
 * Starts `name` (or auto's first that starts) and returns the header's label, e.g. "webgpu (nvidia ampere)"; `wasm`
 * starts the wasm backend (with its threads, wasm-setup.ts) and describes it once it runs.
 */
export async function startBackend(
  name: string,
  wasm: { start: () => Promise<boolean>; label: () => string },
): Promise<string> {
  const { order, skipped } = await backendOrder(name);
  const failed: string[] = [];
  for (const b of order) {
    if (!tf.findBackendFactory(b)) {
      failed.push(`${b} is not in this browser`);
      continue;
    }
    try {
      if (tf.getBackend() !== b && !(await (b === 'wasm' ? wasm.start() : tf.setBackend(b))))
        throw new Error('it did not initialise');
      await tf.ready();
    } catch (e) {
      failed.push(`${b}: ${(e as Error)?.message ?? String(e)}`);
      continue;
    }
    let label = b;
    if (b === 'wasm') label = wasm.label();
    if (b === 'webgpu') {
      refuseSyncReads();
      label = `webgpu (${(await webgpuDevice())?.name ?? 'adapter'})`;
    }
    if (b === 'webgl') label = `webgl (${webglDevice()?.name ?? 'renderer'})`;
    const why = [...skipped, ...failed];
    return name === 'auto' && why.length ? `${label}; auto: ${why.join('; ')}` : label;
  }
  throw new UserError(
    `the ${name} backend cannot start in this browser (${failed.join('; ') || 'unavailable'}); choose auto or cpu`,
  );
}
