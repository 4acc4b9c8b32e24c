// How far the zoo's float16 weights sample from the float32 runs they were packed from: the same seed and options
// through both, per model the largest pixel difference (0-255) and the share of pixels that differ.
// Usage: npx tsx scripts/zoo-float16.ts [RUNS_DIR]   (RUNS_DIR: the runs scripts/build-zoo.sh trained, default zoo-runs)
import fs from 'node:fs';
import path from 'node:path';
import { initBackend } from '../src/node/backend.ts';
import { loadModel } from '../src/node/load-model.ts';
import { ZOO_DIR, zooNames } from '../src/node/model-source.ts';

const runs = process.argv[2] ?? 'zoo-runs';
await initBackend('auto');
for (const name of zooNames()) {
  const run = path.join(runs, name);
  if (!fs.existsSync(path.join(run, 'config.json'))) {
    console.log(`${name}: no run at ${run}`);
    continue;
  }
  const a = await loadModel(run);
  const b = await loadModel(path.join(ZOO_DIR, name));
  const cap = a.capabilities;
  const opts = {
    n: 16,
    seed: 1,
    ...(cap.conditioning === 'label' ? { label: [...Array(16).keys()].map((i) => i % 10) } : {}),
    ...(cap.conditioning === 'text' ? { prompt: 'a large red circle in the center' } : {}),
  };
  const x = (await a.sample(opts)).images.data;
  const y = (await b.sample(opts)).images.data;
  let max = 0;
  let differ = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    max = Math.max(max, d);
    if (d) differ++;
  }
  console.log(
    `${name.padEnd(24)} ${cap.generation.padEnd(8)} max |diff| ${String(max).padStart(3)} of 255, ${((100 * differ) / x.length).toFixed(2)}% of values differ`,
  );
  a.dispose();
  b.dispose();
}
