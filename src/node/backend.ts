// Backend choice, in one place: --backend cpu|wasm|native|webgpu|auto. 'auto' picks the fastest one that can run the
// model: webgpu on a real GPU (only with the optional packages installed, see ./webgpu.ts) -> native (wasm's kernels +
// BLAS matmul/conv from the addon, see ./native/) -> wasm -> cpu.
// The wasm backend (XNNPACK, SIMD) runs dense nets ~5x faster than pure-JS cpu but has no conv weight-gradient kernel.
import * as tf from '@tensorflow/tfjs-core';
// Every op's gradient, registered on the shared tfjs-core: tfjs-core's own ESM gradients module cannot be imported
// from Node (extensionless imports), so scripts/vendor-gradients.mjs bundles it (instead of the 140 MB umbrella package).
import '../../vendor/tfjs-gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { UserError } from '../core/errors.ts';
import { registerNativeBackend } from './native/backend.ts';
import {
  mayHaveGpu,
  missingWebgpuPackages,
  probeWebgpuAdapter,
  registerWebgpuBackend,
  WEBGPU_INSTALL,
} from './webgpu.ts';

export const BACKENDS = ['auto', 'cpu', 'wasm', 'native', 'webgpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** The --backend help of every command that takes one. */
export const BACKEND_HELP =
  `compute backend: ${BACKENDS.join(', ')} (auto: webgpu on a real GPU, else native -> wasm -> cpu; ` +
  `webgpu needs \`${WEBGPU_INSTALL}\` and a GPU driver with Vulkan, Metal or D3D12)`;

/**
 * Whether 'auto' should take webgpu: the optional packages are installed, the machine may have a GPU, and Dawn's
 * adapter is a real GPU (not SwiftShader, llvmpipe or a fallback adapter). DEEPGEN_NO_WEBGPU=1 leaves it out.
 * Costs one file-system check when the packages are absent.
 */
async function autoWantsWebgpu(): Promise<boolean> {
  if (process.env.DEEPGEN_NO_WEBGPU || missingWebgpuPackages().length || !mayHaveGpu()) return false;
  try {
    const adapter = await probeWebgpuAdapter();
    return !!adapter && !adapter.software;
  } catch {
    return false;
  }
}

export interface BackendNeeds {
  /** Training a conv net needs Conv2DBackpropFilter, which tfjs-backend-wasm 4.22 lacks. */
  convTraining?: boolean;
}

function canRun(name: string, needs: BackendNeeds): boolean {
  if (needs.convTraining && !tf.getKernel('Conv2DBackpropFilter', name)) return false;
  return true;
}

/** Initialise a backend and return its name; prints nothing. */
export async function initBackend(requested: string = 'auto', needs: BackendNeeds = {}): Promise<string> {
  if (!(BACKENDS as readonly string[]).includes(requested))
    throw new UserError(`Unknown --backend "${requested}"; use one of ${BACKENDS.join(', ')}`);
  if (requested === 'native') {
    const native = registerNativeBackend();
    if (!native.ok)
      throw new UserError(`The native backend is unavailable (${native.reason}); use --backend wasm or cpu (or auto)`);
  }
  if (requested === 'webgpu') await registerWebgpuBackend();
  const order =
    requested === 'auto' ? [...((await autoWantsWebgpu()) ? ['webgpu'] : []), 'native', 'wasm', 'cpu'] : [requested];
  for (const name of order) {
    if (name === 'webgpu' && requested === 'auto') await registerWebgpuBackend().catch(() => undefined);
    if (name === 'native' && !registerNativeBackend().ok) continue;
    if (requested === 'auto' && !canRun(name, needs)) continue;
    if (requested !== 'auto' && !canRun(name, needs))
      throw new UserError(
        `The ${name} backend cannot train this model (no Conv2DBackpropFilter kernel); use --backend cpu or auto`,
      );
    try {
      if (tf.getBackend() !== name) {
        const ok = await tf.setBackend(name);
        if (!ok) throw new Error(`setBackend(${name}) returned false`);
      }
      await tf.ready();
      silenceNodeHint();
      return name;
    } catch (e) {
      if (requested !== 'auto')
        throw new UserError(`Could not start the ${name} backend: ${(e as Error).message}; try --backend cpu`);
    }
  }
  await tf.setBackend('cpu');
  silenceNodeHint();
  return 'cpu';
}

/** tfjs-backend-cpu prints a "use tfjs-node" banner on first use in Node; we chose our backends deliberately. */
function silenceNodeHint(): void {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}
