// What `deepgen info` needs to show about the engine: the backend in use, the BLAS the addon found, threads, SIMD,
// and a short sgemm GFLOPS check on the current backend.
import * as tf from '@tensorflow/tfjs-core';
import { loadNativeAddon, type NativeInfo } from './addon.ts';
import { webgpuAdapter, type WebgpuAdapter } from '../webgpu.ts';

export interface EngineReport {
  backend: string;
  native: NativeInfo | { unavailable: string };
  /** The GPU adapter, when the backend is webgpu. */
  webgpu?: WebgpuAdapter;
  /** sgemm GFLOPS through tf.matMul on `backend`, measured for about `seconds`. */
  sgemmGflops: number;
}

/** Times n x n x n matMuls on the current backend for about `seconds`; returns GFLOPS. */
export function measureSgemmGflops(seconds = 1, n = 512): number {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1),
    b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  tf.dispose(tf.matMul(a, b)); // warm-up
  let runs = 0;
  const t0 = performance.now();
  do {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    runs++;
  } while (performance.now() - t0 < seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  tf.dispose([a, b]);
  return (2 * n * n * n * runs) / elapsed / 1e9;
}

export function engineReport(seconds = 1): EngineReport {
  const load = loadNativeAddon();
  return {
    backend: tf.getBackend(),
    native: load.addon ? load.addon.info() : { unavailable: load.reason },
    ...(tf.getBackend() === 'webgpu' && webgpuAdapter() ? { webgpu: webgpuAdapter() } : {}),
    sgemmGflops: measureSgemmGflops(seconds),
  };
}

/** One line per fact, for the CLI. */
export function formatEngineReport(r: EngineReport): string {
  const n = r.native;
  const blas =
    'unavailable' in n
      ? `native addon unavailable: ${n.unavailable}`
      : `BLAS ${n.blas}${n.blasPath ? ` (${n.blasPath})` : ''}, ${n.threads} thread${n.threads === 1 ? '' : 's'}, SIMD ${n.simd}${n.warning ? `; ${n.warning}` : ''}`;
  const w = r.webgpu;
  return [
    `backend: ${r.backend}`,
    ...(w
      ? [
          `WebGPU adapter: ${[w.vendor, w.architecture, w.device, w.description].filter(Boolean).join(', ') || 'unnamed'}` +
            (w.software ? ' (a software rasteriser on the CPU: correct, not GPU speed)' : ''),
        ]
      : []),
    blas,
    `sgemm: ${r.sgemmGflops.toFixed(1)} GFLOPS (512x512x512 through tf.matMul)`,
  ].join('\n');
}
