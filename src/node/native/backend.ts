// Registers the TensorFlow.js backend `native`: tfjs-backend-wasm's backend instance and kernels (fast XNNPACK
// elementwise ops), with matmul, conv2d, leading-axis Sum, Concat/SplitV/Slice and group norm through the addon, and
// the kernels wasm lacks for training added (Conv2DBackpropFilter, UnsortedSegmentSum for the gather gradient).
// tf.train.adam's update runs as one fused kernel per variable on this backend (useFusedAdam below).
// 'native' and 'wasm' share one BackendWasm instance: wasm kernels bind their wasm functions to module-level
// variables at setup, so a second wasm module would silently redirect the other backend's calls; sharing also means
// tensors never move between the two.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { loadNativeAddon, type NativeAddon, type NativeInfo } from './addon.ts';
import { FUSED_ADAM, nativeKernelConfigs } from './kernels.ts';
import {
  groupNormKernelConfigs,
  oneHotKernelConfigs,
  resizeGradKernelConfigs,
  zeroCopyKernelConfigs,
} from './extra-kernels.ts';
import { copyKernelConfigs } from './copy-kernels.ts';

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
  for (const kernel of [
    ...nativeKernelConfigs(addon, NATIVE_BACKEND),
    ...zeroCopyKernelConfigs(NATIVE_BACKEND),
    ...groupNormKernelConfigs(addon, NATIVE_BACKEND),
    ...copyKernelConfigs(addon, NATIVE_BACKEND),
    ...resizeGradKernelConfigs(NATIVE_BACKEND),
    ...oneHotKernelConfigs(NATIVE_BACKEND),
  ]) {
    if (tf.getKernel(kernel.kernelName, NATIVE_BACKEND)) tf.unregisterKernel(kernel.kernelName, NATIVE_BACKEND);
    tf.registerKernel(kernel);
  }
  useFusedAdam();
  return (registration = { ok: true, addon, info: addon.info() });
}

type AdamInternals = {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
  incrementIterations(): void;
  applyGradients(g: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void;
};

/**
 * tf.train.adam on the native backend: the same state (moments, accBeta1/2, iterations) and arithmetic as
 * AdamOptimizer.applyGradients, but one FUSED_ADAM kernel per variable instead of ~14 elementwise wasm kernels.
 * Other backends, and non-float32 variables, keep the original method.
 */
function useFusedAdam(): void {
  const proto = tf.AdamOptimizer.prototype as unknown as AdamInternals & { __deepgenFused?: boolean };
  if (proto.__deepgenFused) return;
  proto.__deepgenFused = true;
  const original = proto.applyGradients;
  proto.applyGradients = function (
    this: AdamInternals,
    variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[],
  ) {
    const list = Array.isArray(variableGradients);
    const names = list ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const grads = names.map((name, i) => (list ? variableGradients[i].tensor : variableGradients[name]));
    const vars = tf.engine().registeredVariables;
    if (
      tf.getBackend() !== NATIVE_BACKEND ||
      !tf.getKernel(FUSED_ADAM, NATIVE_BACKEND) ||
      names.some((name, i) => vars[name]?.dtype !== 'float32' || (grads[i] != null && grads[i].dtype !== 'float32'))
    ) {
      return original.call(this, variableGradients);
    }
    const c1 = 1 - this.accBeta1.dataSync()[0],
      c2 = 1 - this.accBeta2.dataSync()[0];
    const attrs = {
      beta1: this.beta1,
      beta2: this.beta2,
      learningRate: this.learningRate,
      epsilon: this.epsilon,
      c1,
      c2,
    };
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = vars[name];
        this.accumulatedFirstMoment[i] ??= {
          originalName: `${name}/m`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        };
        this.accumulatedSecondMoment[i] ??= {
          originalName: `${name}/v`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        };
        const g = grads[i];
        if (g == null) return;
        const m = this.accumulatedFirstMoment[i].variable,
          v = this.accumulatedSecondMoment[i].variable;
        const [x2, m2, v2] = tf.engine().runKernel(FUSED_ADAM, { x: value, m, v, g }, attrs) as tf.Tensor[];
        m.assign(m2);
        v.assign(v2);
        value.assign(x2);
      });
      this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
      this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
    });
    this.incrementIterations();
  };
}
