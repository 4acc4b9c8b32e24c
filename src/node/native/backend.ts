// Registers the TensorFlow.js backend `native`: tfjs-backend-wasm's backend instance and kernels (fast XNNPACK
// elementwise ops), with matmul, conv2d and leading-axis Sum replaced by the addon, and the kernels wasm lacks for
// training added (Conv2DBackpropFilter, UnsortedSegmentSum for the gather gradient).
// 'native' and 'wasm' share one BackendWasm instance: wasm kernels bind their wasm functions to module-level
// variables at setup, so a second wasm module would silently redirect the other backend's calls; sharing also means
// tensors never move between the two.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { loadNativeAddon, type NativeAddon, type NativeInfo } from './addon.ts';
import { nativeKernelConfigs } from './kernels.ts';

export const NATIVE_BACKEND = 'native';
/** Above wasm (2) and cpu (1): native is a superset of wasm. */
const NATIVE_PRIORITY = 3;

export type NativeRegistration = { ok: true; addon: NativeAddon; info: NativeInfo } | { ok: false; reason: string };
let registration: NativeRegistration | undefined;

type EngineInternals = { registry: Record<string, tf.KernelBackend | undefined> };

async function sharedWasmBackend(): Promise<tf.KernelBackend> {
  const engine = tf.engine() as unknown as EngineInternals;
  let backend = engine.registry.wasm;
  if (!backend) {
    const factory = tf.findBackendFactory('wasm');
    if (!factory) throw new Error('tfjs-backend-wasm is not registered');
    backend = await factory();
    engine.registry.wasm ??= backend;
    backend = engine.registry.wasm;
  }
  // The engine disposes every registry entry on reset; dispose the shared instance once.
  const b = backend as tf.KernelBackend & { __deepgenOnce?: boolean };
  if (!b.__deepgenOnce) {
    const dispose = b.dispose.bind(b);
    let done = false;
    b.dispose = () => {
      if (!done) dispose();
      done = true;
    };
    b.__deepgenOnce = true;
  }
  return backend;
}

/** Registers the backend and its kernels once; without the addon, says why. */
export function registerNativeBackend(): NativeRegistration {
  if (process.env.DEEPGEN_NO_NATIVE === '1') return { ok: false, reason: 'disabled by DEEPGEN_NO_NATIVE=1' };
  if (registration) return registration;
  const load = loadNativeAddon();
  if (!load.addon) return (registration = { ok: false, reason: load.reason });
  const addon = load.addon;
  tf.registerBackend(NATIVE_BACKEND, sharedWasmBackend, NATIVE_PRIORITY);
  for (const kernel of tf.getKernelsForBackend('wasm')) tf.registerKernel({ ...kernel, backendName: NATIVE_BACKEND });
  for (const kernel of nativeKernelConfigs(addon, NATIVE_BACKEND)) {
    if (tf.getKernel(kernel.kernelName, NATIVE_BACKEND)) tf.unregisterKernel(kernel.kernelName, NATIVE_BACKEND);
    tf.registerKernel(kernel);
  }
  return (registration = { ok: true, addon, info: addon.info() });
}
