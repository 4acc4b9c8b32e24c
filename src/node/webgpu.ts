// The webgpu backend in Node: TF.js's WebGPU kernels (@tensorflow/tfjs-backend-webgpu) on Dawn's Node bindings (npm
// `webgpu`), both optional peer dependencies loaded only when asked for. Adds the synchronous read (dataSync) that
// TF.js does through an OffscreenCanvas in browsers and Node lacks, and one-line errors for each way it can fail.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../core/errors.ts';
import { isSoftwareGpu } from '../core/gpu.ts';

/** What a user runs to get the webgpu backend (the TF.js kernels must match deepgen's tfjs-core exactly). */
export const WEBGPU_INSTALL = 'npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0';
const PACKAGES = ['webgpu', '@tensorflow/tfjs-backend-webgpu'] as const;

/** The adapter Dawn gave, as `deepgen info` shows it. */
export interface WebgpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (SwiftShader, llvmpipe/lavapipe, a fallback adapter): correct, but no GPU speed. */
  software: boolean;
}

// The few WebGPU shapes used here (typed locally: the DOM lib's and @webgpu/types' declarations need not be present).
interface Gpu {
  requestAdapter(o?: { powerPreference?: string }): Promise<Adapter | null>;
}
interface Adapter {
  info?: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>>;
  isFallbackAdapter?: boolean;
  features: Set<string>;
  limits: Record<string, number>;
  requestDevice(d?: object): Promise<Device>;
}
interface Device {
  lost: Promise<{ reason?: string; message?: string }>;
  limits: Record<string, number>;
  destroy(): void;
  addEventListener(type: 'uncapturederror', f: (e: Event) => void): void;
}
interface MapReadBuffer {
  size: number;
  mapState: string;
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
}

const requireHere = createRequire(import.meta.url);

/** The optional packages that are not installed (resolved from deepgen's own folder, as its imports are). */
export function missingWebgpuPackages(resolve: (id: string) => string = requireHere.resolve): string[] {
  return PACKAGES.filter((p) => {
    try {
      resolve(`${p}/package.json`);
      return false;
    } catch {
      return true;
    }
  });
}

let gpuPromise: Promise<Gpu> | undefined;
/** Loads Dawn once and puts its WebGPU globals (GPUBufferUsage, GPUMapMode, ...) and navigator.gpu on globalThis. */
function loadDawn(): Promise<Gpu> {
  gpuPromise ??= (async () => {
    const { create, globals } = (await import('webgpu')) as unknown as {
      create: (flags: string[]) => Gpu;
      globals: Record<string, unknown>;
    };
    for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) Object.assign(globalThis, { [k]: v });
    const gpu = create([]);
    const nav = (globalThis as { navigator?: object }).navigator;
    if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
    return gpu;
  })();
  return gpuPromise;
}

function describe(a: Adapter): WebgpuAdapter {
  const i = a.info ?? {};
  const r = {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
  };
  return { ...r, software: isSoftwareGpu(Object.values(r).join(' '), !!a.isFallbackAdapter) };
}

/** The adapter Dawn offers (high-performance preference), or null without one; needs the packages. */
export async function probeWebgpuAdapter(): Promise<WebgpuAdapter | null> {
  const a = await (await loadDawn()).requestAdapter({ powerPreference: 'high-performance' });
  return a ? describe(a) : null;
}

/**
 * Whether this machine may have a GPU, without loading Dawn (130 MB): on Linux a DRM render node or an NVIDIA device
 * (or WSL's /dev/dxg); elsewhere yes. Keeps `auto` from loading Dawn on the CPU-only machines most runs are on.
 */
export function mayHaveGpu(): boolean {
  if (process.platform !== 'linux') return true;
  try {
    if (existsSync('/dev/nvidia0') || existsSync('/dev/dxg')) return true;
    return readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** Why the registered webgpu device stopped, once it has. */
let lostReason: string | undefined;
let registered: Promise<WebgpuAdapter> | undefined;

/** The device-lost error, one line. */
const lostError = () =>
  new UserError(
    `The WebGPU device was lost (${lostReason}); the GPU driver reset or the device was destroyed: rerun, or use --backend native`,
  );

/**
 * Registers the 'webgpu' TF.js backend on deepgen's tfjs-core (once): Dawn, an adapter and a device, the TF.js WebGPU
 * kernels and a synchronous read for Node. Throws a one-line UserError when the packages or an adapter are missing.
 */
export function registerWebgpuBackend(): Promise<WebgpuAdapter> {
  registered ??= setUp();
  return registered;
}

/** The one-line error for missing packages, or nothing when both are there. */
export function checkWebgpuPackages(missing = missingWebgpuPackages()): void {
  if (missing.length)
    throw new UserError(
      `The webgpu backend needs the optional package${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}: run \`${WEBGPU_INSTALL}\``,
    );
}

async function setUp(): Promise<WebgpuAdapter> {
  checkWebgpuPackages();
  const gpu = await loadDawn();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter)
    throw new UserError(
      'No WebGPU adapter: the webgpu backend needs a GPU driver with Vulkan (Linux), Metal or D3D12; ' +
        'without a GPU, VK_ICD_FILENAMES can point at a software Vulkan driver such as SwiftShader (slow, for tests)',
    );
  // the limits TF.js's own factory asks for (larger buffers and workgroups than the defaults)
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      // AddN binds every input; TF.js asks for the default 8 (deepgen also splits larger sums: splitAddN)
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
  void device.lost.then((i) => {
    lostReason = i.message || i.reason || 'unknown reason';
  });
  // a validation or out-of-memory error would otherwise only be printed, and the results read as zeros
  device.addEventListener('uncapturederror', (e) => {
    gpuError ??= String((e as { error?: { message?: string } }).error?.message ?? e).split('\n')[0];
  });
  const { WebGPUBackend } = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as {
    WebGPUBackend: (new (device: Device, info?: unknown) => tf.KernelBackend) & { prototype: object };
  };
  installSyncRead(WebGPUBackend.prototype);
  splitAddN(device.limits.maxStorageBuffersPerShaderStage - 1);
  // the package registered a factory that asks navigator.gpu again; ours hands TF.js the device made above
  tf.removeBackend('webgpu');
  // (priority 0, below cpu: deepgen always chooses its backend; TF.js's own default stays cpu)
  tf.registerBackend('webgpu', () => new WebGPUBackend(device, adapter.info), 0);
  registeredAdapter = describe(adapter);
  return registeredAdapter;
}

let registeredAdapter: WebgpuAdapter | undefined;
/** The adapter the webgpu backend runs on, once registered. */
export function webgpuAdapter(): WebgpuAdapter | undefined {
  return registeredAdapter;
}

/** The first uncaptured WebGPU error (validation, out of memory), once there has been one. */
let gpuError: string | undefined;

/** Throws the device-lost UserError if the webgpu device has been lost, or the first WebGPU error since set-up. */
export function assertWebgpuAlive(): void {
  if (lostReason !== undefined) throw lostError();
  if (gpuError !== undefined) throw new Error(`WebGPU error: ${gpuError}`);
}

/**
 * TF.js's WebGPU AddN binds all n inputs in one shader, which fails past the device's storage-buffer limit (8 by
 * default; a gradient's global norm sums one term per parameter). Larger sums are added `max` at a time.
 */
function splitAddN(max: number): void {
  const own = tf.getKernel('AddN', 'webgpu');
  if (!own) return;
  const addN = own.kernelFunc as unknown as (a: {
    inputs: tf.TensorInfo[];
    backend: tf.KernelBackend;
  }) => tf.TensorInfo;
  const sum = (inputs: tf.TensorInfo[], backend: tf.KernelBackend): tf.TensorInfo => {
    if (inputs.length <= max) return addN({ inputs, backend });
    const parts: tf.TensorInfo[] = [];
    for (let i = 0; i < inputs.length; i += max) parts.push(sum(inputs.slice(i, i + max), backend));
    const out = sum(parts, backend);
    for (const p of parts) backend.disposeData(p.dataId);
    return out;
  };
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({
    ...own,
    kernelFunc: ({ inputs, backend }) => sum(Object.values(inputs) as tf.TensorInfo[], backend as tf.KernelBackend),
  });
}

// --- synchronous read-back ---------------------------------------------------------------------------------------
// Dawn resolves mapAsync in a ProcessEvents callback that it schedules with the global setImmediate (a native
// function). Those callbacks are recorded here (they still run from the event loop as usual) so that readSync can run
// them itself, in a loop, until the staging buffer is mapped: dataSync without returning to the event loop.
const dawnCallbacks = new Map<() => void, NodeJS.Immediate>();
let hooked = false;
function hookSetImmediate(): void {
  if (hooked) return;
  hooked = true;
  const real = globalThis.setImmediate;
  const hook = (fn: (...a: unknown[]) => void, ...args: unknown[]) => {
    const native =
      typeof fn === 'function' &&
      !fn.name.startsWith('bound ') &&
      /\[native code\]/.test(Function.prototype.toString.call(fn));
    if (!native) return real(fn, ...args);
    const once = () => {
      if (!dawnCallbacks.delete(once)) return;
      fn(...args);
    };
    const handle = real(once);
    dawnCallbacks.set(once, handle);
    return handle;
  };
  globalThis.setImmediate = Object.assign(hook, real) as typeof setImmediate;
}

/** Runs the oldest pending Dawn callback now (cancelling its turn in the event loop, so none pile up); false if none. */
function runDawnCallback(): boolean {
  const next = dawnCallbacks.entries().next();
  if (next.done) return false;
  const [once, handle] = next.value;
  clearImmediate(handle);
  once();
  return true;
}

/** Sleeps ms on this thread (between polls of Dawn, so SwiftShader's worker threads get the cores). */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

/** Maps `buffer` for reading, synchronously: runs Dawn's event callbacks until it is mapped. */
function mapSync(buffer: MapReadBuffer): void {
  let failed: unknown;
  buffer.mapAsync(1 /* GPUMapMode.READ */).catch((e: unknown) => {
    failed = e;
  });
  let lastEvent = performance.now();
  for (let polls = 0; buffer.mapState !== 'mapped'; polls++) {
    if (lostReason !== undefined) throw lostError();
    if (failed) throw new Error(`WebGPU read-back failed: ${(failed as Error).message ?? failed}`);
    const ran = runDawnCallback();
    if (ran) lastEvent = performance.now();
    else if (performance.now() - lastEvent > 60_000)
      throw new Error('WebGPU read-back stalled: Dawn scheduled no event processing for 60 s');
    if (polls > 100 || !ran) sleep(polls > 10_000 ? 1 : 0.05);
  }
}

interface TensorData {
  values: unknown;
  dtype: string;
  resource: unknown;
  complexTensorInfos?: { real: { dataId: object }; imag: { dataId: object } };
}
interface Backend {
  tensorMap: { get(id: object): TensorData };
  bufferManager: { acquireBuffer(size: number, usage: number): MapReadBuffer; releaseBuffer(b: MapReadBuffer): void };
  commandEncoder: { copyBufferToBuffer(a: unknown, ao: number, b: unknown, bo: number, size: number): void };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  convertAndCacheOnCPU(id: object, v: tf.backend_util.BackendValues): tf.backend_util.BackendValues;
  readSync(id: object): tf.backend_util.BackendValues;
}

/** Replaces WebGPUBackend.readSync (an OffscreenCanvas copy, browsers only) with a staging-buffer copy mapped as above. */
function installSyncRead(proto: object): void {
  hookSetImmediate();
  (proto as Backend).readSync = function (this: Backend, dataId: object) {
    const d = this.tensorMap.get(dataId);
    if (d.values != null || d.dtype === 'string') return d.values as tf.backend_util.BackendValues;
    if (d.dtype === 'complex64') {
      const re = this.readSync(d.complexTensorInfos!.real.dataId) as Float32Array;
      const im = this.readSync(d.complexTensorInfos!.imag.dataId) as Float32Array;
      return this.convertAndCacheOnCPU(dataId, tf.backend_util.mergeRealAndImagArrays(re, im));
    }
    assertWebgpuAlive();
    const src = d.resource as { size?: number };
    if (typeof src?.size !== 'number') throw new Error('webgpu readSync: the tensor is not in a GPU buffer');
    // COPY_DST | MAP_READ, as WebGPUBackend.getBufferData
    const staging = this.bufferManager.acquireBuffer(src.size, 0x0008 | 0x0001);
    this.ensureCommandEncoderReady();
    this.endComputePassEncoder();
    this.commandEncoder.copyBufferToBuffer(src, 0, staging, 0, src.size);
    this.submitQueue();
    mapSync(staging);
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    this.bufferManager.releaseBuffer(staging);
    return this.convertAndCacheOnCPU(dataId, tf.util.convertBackendValuesAndArrayBuffer(bytes, d.dtype as tf.DataType));
  };
}
