// The playground worker's wasm backend: where its binaries are, how many threads it runs (every logical core when the
// page is cross-origin isolated, or one on request, for comparison), and the label the page shows for it.
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/** A thread count, or 'auto': every logical core where threads can run (a cross-origin isolated page), else one. */
export type WasmThreads = number | 'auto';

/** The binaries' URLs in the build; once, at worker start, before the backend initialises. (The threaded build's
 *  pthread workers load their script through wasm-threads-plugin.ts.) */
export function setupWasm(): void {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
}

/** The thread count `threads` asks for here: 'auto' is navigator.hardwareConcurrency in an isolated page, else 1. */
export function wantedThreads(threads: WasmThreads = 'auto'): number {
  if (threads !== 'auto') return Math.max(1, Math.floor(threads));
  return self.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
}

/**
 * tf.setBackend('wasm') with `threads` threads; resolves to whether the backend started. One thread is the
 * single-threaded SIMD build (no SharedArrayBuffer, no pthread workers); more take the threaded build.
 * The threaded build caps its pool at navigator.hardwareConcurrency / 2 (its C++ init assumes two hyperthreads per
 * core), which leaves one thread on a 2-core machine; so while it starts, the worker's navigator reports twice the
 * count asked for. The choice holds for the worker's life: the backend initialises once.
 */
export async function startWasm(threads: WasmThreads = 'auto'): Promise<boolean> {
  const n = wantedThreads(threads);
  if (n === 1) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return tf.setBackend('wasm');
  }
  setThreadsCount(n);
  Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2 * n, configurable: true });
  try {
    return await tf.setBackend('wasm');
  } finally {
    // the own property goes; WorkerNavigator's getter (the real count) shows again
    delete (navigator as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
}

/** What the page shows, e.g. `wasm (2 threads, SIMD)`; call after the wasm backend started. */
export function wasmLabel(): string {
  const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? getThreadsCount() : 1;
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ', SIMD' : '';
  return `wasm (${threads} thread${threads === 1 ? '' : 's'}${simd})`;
}
