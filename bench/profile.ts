// npx tsx bench/profile.ts [figure name] [runs] [backend]: milliseconds per run spent in each kernel (calls per run
// beside), for any bench training/sampling figure, e.g. "train unet-ddpm b128" or "pixelcnn sample 16".
// Wraps every registered kernel of the backend (default native) with a timer; conv kernels are keyed by shape.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/node/backend.ts';
import { convVae, mlpVae, type BenchModel } from './models.ts';
import { entries as ganFlowEntries } from './models-gan-flow.ts';
import { entries as unetPixelEntries } from './models-unet-pixelcnn.ts';
import { entries as familyEntries } from './models-families.ts';
import { entries as autoregressiveEntries } from './models-autoregressive.ts';
import type { BenchEntry } from './run.ts';

const [name = 'train unet-ddpm b128', runsArg = '3', backend = 'native'] = process.argv.slice(2);
const modelEntry = (label: string, make: () => BenchModel): BenchEntry => ({
  name: label,
  unit: 'images/s',
  run: (_b, time) => {
    const x = tf.tidy(() =>
      tf.cast(tf.greater(tf.randomUniform([128, 28, 28, 1], 0, 1, 'float32', 7), 0.7), 'float32'),
    ) as tf.Tensor4D;
    const m = make();
    const t = time(() => m.step(x));
    m.dispose();
    x.dispose();
    return { value: 128 / t.perRun, runs: t.runs, seconds: t.seconds };
  },
});
const all = [
  modelEntry('train mlp-vae b128', mlpVae),
  modelEntry('train conv-vae b128', convVae),
  ...ganFlowEntries,
  ...unetPixelEntries,
  ...familyEntries,
  ...autoregressiveEntries,
];
const entry = all.find((e) => e.name === name);
if (!entry) {
  console.error(`profile: unknown figure "${name}"; one of: ${all.map((e) => `"${e.name}"`).join(', ')}`);
  process.exit(2);
}

await initBackend(backend);
const ms = new Map<string, number>(),
  calls = new Map<string, number>();
const shapeKey = (
  kernel: string,
  a: { inputs: Record<string, { shape: number[] } | undefined>; attrs: Record<string, unknown> },
) => {
  if (!/^(Conv2D|FusedConv2D|Conv2DBackpropInput|Conv2DBackpropFilter)$/.test(kernel)) return kernel;
  const x = a.inputs.x ?? a.inputs.dy,
    f = a.inputs.filter?.shape ?? a.attrs.filterShape;
  return `${kernel} ${JSON.stringify(x?.shape)} * ${JSON.stringify(f)} s${a.attrs.strides}`;
};
for (const k of tf.getKernelsForBackend(backend)) {
  const f = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, backend);
  tf.registerKernel({
    ...k,
    kernelFunc: (a) => {
      const t = performance.now();
      const r = f(a);
      const key = shapeKey(k.kernelName, a as unknown as Parameters<typeof shapeKey>[1]);
      ms.set(key, (ms.get(key) ?? 0) + performance.now() - t);
      calls.set(key, (calls.get(key) ?? 0) + 1);
      return r;
    },
  });
}
await tf.setBackend('cpu');
await tf.setBackend(backend); // re-runs the kernels' setup
const runs = Number(runsArg);
let total = 0;
entry.run(backend, (fn) => {
  fn(); // warm-up
  ms.clear();
  calls.clear();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) fn();
  total = performance.now() - t0;
  return { perRun: total / runs / 1000, runs, seconds: total / 1000 };
});
const kernels = [...ms.values()].reduce((a, b) => a + b, 0);
console.log(
  `${name} on ${backend}: ${(total / runs).toFixed(1)} ms per run, ${(kernels / runs).toFixed(1)} in kernels`,
);
console.log('   ms/run  calls  kernel');
for (const [k, v] of [...ms.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${(v / runs).toFixed(2).padStart(9)} ${String(calls.get(k)! / runs).padStart(6)}  ${k}`);
}
