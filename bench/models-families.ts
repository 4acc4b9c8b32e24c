// Bench figures of deepgen's own families (not standalone copies): the diffusion family's sampler as shipped, DDIM
// 50 steps for 64 images at 28x28x1 with the default UNet (32/64/128, attention), label-conditional with classifier-free
// guidance (two network passes per step, batched), from an untrained model (the speed does not depend on the weights);
// and one training step of the text-conditional family on 32x32x3 shapes captions (batch 64, Adam), as `train` runs it.
import * as tf from '@tensorflow/tfjs-core';
import { diffusionFamily } from '../src/core/families/diffusion/index.ts';
import type { DataInfo } from '../src/core/family.ts';
import type { BenchEntry } from './run.ts';
import { generateShapes } from '../src/core/data/shapes.ts';
import { words } from '../src/core/conditioning/tokenizer.ts';

const info: DataInfo = {
  height: 28,
  width: 28,
  channels: 1,
  numClasses: 10,
  classNames: Array.from({ length: 10 }, (_, i) => `class ${i}`),
};

function familyDdim(guidance: number): BenchEntry['run'] {
  return (backend, time) => {
    const n = 64,
      steps = 50;
    const timedSteps = backend === 'cpu' ? 1 : backend === 'wasm' ? 3 : steps;
    const cfg = diffusionFamily.modelSchema.parse({ ...diffusionFamily.defaults.model, cond: { kind: 'label' } });
    const model = diffusionFamily.create(cfg, info, 1);
    let check = 0;
    const t = time(() => {
      const x = model.sample(n, 5, { steps: timedSteps, guidance, sampler: 'ddim' });
      check = tf.tidy(() => tf.sum(x).dataSync()[0]);
      x.dispose();
    });
    model.dispose();
    if (!Number.isFinite(check)) throw new Error('non-finite samples');
    const perRun = (t.perRun * steps) / timedSteps;
    return {
      value: n / perRun,
      runs: t.runs,
      seconds: t.seconds,
      note: timedSteps < steps ? `timed ${timedSteps} of ${steps} DDIM steps, extrapolated to ${steps}` : undefined,
    };
  };
}

function familyTrainText(): BenchEntry['run'] {
  return (backend, time) => {
    const B = 64;
    const data = generateShapes({ n: B, seed: 3, size: 32 });
    const textInfo: DataInfo = {
      height: 32,
      width: 32,
      channels: 3,
      numClasses: 5,
      classNames: data.classNames,
      vocabulary: [...new Set(data.captions!.flatMap((c) => words(c)))].sort(),
    };
    const cfg = diffusionFamily.modelSchema.parse({ ...diffusionFamily.defaults.model, cond: { kind: 'text' } });
    const model = diffusionFamily.create(cfg, textInfo, 1);
    const x = tf.tidy(() =>
      tf.sub(tf.div(tf.tensor4d(data.images, [B, 32, 32, 3], 'float32'), 127.5), 1),
    ) as tf.Tensor4D;
    const opt = tf.train.adam(2e-4);
    const vars = Object.values(model.params.vars);
    let step = 0,
      check = 0;
    const t = time(() => {
      const loss = opt.minimize(() => model.loss(x, null, step++, data.captions!).loss as tf.Scalar, true, vars);
      check = loss!.dataSync()[0];
      loss!.dispose();
    });
    model.dispose();
    opt.dispose();
    x.dispose();
    if (!Number.isFinite(check)) throw new Error('non-finite loss');
    void backend;
    return { value: B / t.perRun, runs: t.runs, seconds: t.seconds };
  };
}

export const entries: BenchEntry[] = [
  { name: 'diffusion family train shapes-text b64', unit: 'images/s', run: familyTrainText() },
  { name: 'diffusion family ddim 64x50', unit: 'images/s', run: familyDdim(1) },
  { name: 'diffusion family ddim 64x50 guided', unit: 'images/s', run: familyDdim(3) },
];
