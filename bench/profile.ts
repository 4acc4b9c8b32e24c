// npx tsx bench/profile.ts [backend]: milliseconds per training step spent in each kernel for the bench models
// (wraps every registered kernel of the backend with a timer; default backend native).
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/node/backend.ts';
import { convVae, mlpVae } from './models.ts';

const backend = process.argv[2] ?? 'native';
await initBackend(backend);
const acc = new Map<string, number>();
for (const k of tf.getKernelsForBackend(backend)) {
  const f = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, backend);
  tf.registerKernel({ ...k, kernelFunc: (a) => { const t = performance.now(); const r = f(a); acc.set(k.kernelName, (acc.get(k.kernelName) ?? 0) + performance.now() - t); return r; } });
}
await tf.setBackend('cpu');
await tf.setBackend(backend); // re-runs the kernels' setup
for (const make of tf.getKernel('Conv2DBackpropFilter', backend) ? [mlpVae, convVae] : [mlpVae]) {
  const x = tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([128, 28, 28, 1], 0, 1, 'float32', 7), 0.7), 'float32')) as tf.Tensor4D;
  const m = make(); m.step(x); acc.clear();
  const t0 = performance.now(); const n = 20; for (let i = 0; i < n; i++) m.step(x);
  const total = performance.now() - t0;
  const kern = [...acc.values()].reduce((a, b) => a + b, 0);
  console.log(make.name, 'ms/step', (total / n).toFixed(1), 'kernels', (kern / n).toFixed(1), 'img/s', (128 * n / total * 1000).toFixed(0));
  console.log([...acc.entries()].sort((a, b) => b[1] - a[1]).slice(0, 16).map(([k, v]) => `${k}:${(v / n).toFixed(2)}`).join('  '));
  m.dispose(); x.dispose();
}
