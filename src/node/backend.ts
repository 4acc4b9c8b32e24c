// Backend choice, in one place: --backend cpu|wasm|native|auto. 'auto' picks the fastest one that can run the model:
// native (wasm's kernels + BLAS matmul/conv from the addon, see ./native/) -> wasm -> cpu.
// The wasm backend (XNNPACK, SIMD) runs dense nets ~5x faster than pure-JS cpu but has no conv weight-gradient kernel.
import * as tf from '@tensorflow/tfjs-core';
// Every op's gradient, registered on the shared tfjs-core: tfjs-core's own ESM gradients module cannot be imported
// from Node (extensionless imports), so scripts/vendor-gradients.mjs bundles it (instead of the 140 MB umbrella package).
import '../../vendor/tfjs-gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { UserError } from '../core/errors.ts';
import { registerNativeBackend } from './native/backend.ts';

export const BACKENDS = ['auto', 'cpu', 'wasm', 'native'] as const;
export type BackendName = (typeof BACKENDS)[number];

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
  const order = requested === 'auto' ? ['native', 'wasm', 'cpu'] : [requested];
  for (const name of order) {
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
