// Per-family figures (issue 8): for every family in the registry, training images/s (batch 64, igpt 16; one step as
// `deepgen train <family>` runs it) and sampling images/s (model.sample with the family's default options), on one
// fixed setup: Fashion-MNIST-shaped 28x28x1 random 8-bit images, 10 classes, unconditional, the default configs.
import * as tf from '@tensorflow/tfjs-core';
import { preprocessBatch, type Preprocess } from '../src/core/data/preprocess.ts';
import type { DataInfo, GenerativeModel } from '../src/core/family.ts';
import { registry, type FamilyName } from '../src/core/registry.ts';
import { Rng, mixSeed } from '../src/core/tensor/rng.ts';
import { trainModelStep, trainerFor } from '../src/core/train/model-step.ts';
import type { Trainer } from '../src/core/train/trainer.ts';
import { resolveRunConfig, type ResolvedRunConfig } from '../src/node/run-config.ts';
import type { BenchEntry } from './run.ts';

type Timer = Parameters<BenchEntry['run']>[1];
type Result = ReturnType<BenchEntry['run']>;

const [H, W, C, CLASSES] = [28, 28, 1, 10];
/** Fashion-MNIST's training split: sets the step count that lr schedules (warmup, cosine) are laid out over. */
const TRAIN_IMAGES = 60000;
const TRAIN_BATCH = 64;
/** igpt: attention over 784 tokens at batch 64 needs ~9.4 GB, over the 4 GB wasm heap (the model refuses it); 16 is
 *  its default train batch. */
const TRAIN_BATCH_OF: Partial<Record<FamilyName, number>> = { igpt: 16 };
const trainBatch = (family: FamilyName) => TRAIN_BATCH_OF[family] ?? TRAIN_BATCH;
/** The pure-JS cpu figures skipped for taking minutes to hours; DEEPGEN_BENCH_CPU_SLOW=1 measures them anyway. */
const CPU_SLOW = process.env.DEEPGEN_BENCH_CPU_SLOW === '1';
/** Images per sample() call: full raster sampling of the autoregressive families costs one network step per pixel. */
const SAMPLE_N: Partial<Record<FamilyName, number>> = { pixelcnn: 16, igpt: 16 };
const DEFAULT_SAMPLE_N = 64;
/** diffusion on the slow backends: DDIM steps timed out of the default 50 (each step is one UNet pass on n images). */
const DIFFUSION_TIMED_STEPS: Record<string, number> = { cpu: 1, wasm: 3 };

const info: DataInfo = {
  height: H,
  width: W,
  channels: C,
  numClasses: CLASSES,
  classNames: Array.from({ length: CLASSES }, (_, i) => `class ${i}`),
};

/** What `deepgen train <family> --dataset fashion-mnist --batch-size B` resolves: default model, data and train config. */
function runConfig(family: FamilyName): ResolvedRunConfig {
  // the figures are unconditional: a family that is conditional by default (oneshot: labels) runs with cond.kind none
  const kind = (registry[family].defaults.model.cond as { kind?: string } | undefined)?.kind ?? 'none';
  const model = kind === 'none' ? {} : { model: { cond: { kind: 'none' } } };
  return resolveRunConfig(
    family,
    [{ data: { dataset: 'fashion-mnist' }, train: { batchSize: trainBatch(family) }, ...model }],
    [],
    'bench',
  );
}

/** Seeded random 8-bit images [n,H,W,C] as the float32 0..255 values the data pipeline's batchToTensor gives. */
function randomImages(n: number, seed: number): Float32Array {
  const rng = new Rng(seed),
    out = new Float32Array(n * H * W * C);
  for (let i = 0; i < out.length; i++) out[i] = rng.int(256);
  return out;
}

/** A conv net (rank-4 filters): wasm cannot train it (no Conv2DBackpropFilter) and the pure-JS cpu takes minutes a step. */
const hasConv = (model: GenerativeModel) => Object.values(model.params.vars).some((v) => v.rank === 4);

const skip = (note: string): Result => ({ value: null, runs: 0, seconds: 0, note });

function create(family: FamilyName, cfg: ResolvedRunConfig): GenerativeModel {
  return registry[family].create(cfg.model as never, info, mixSeed(cfg.train.seed, 1));
}

/** A trainer exactly as `deepgen train` builds it (the step count lays out lr schedules over the default epochs). */
function makeTrainer(cfg: ResolvedRunConfig, model: GenerativeModel): Trainer {
  return trainerFor(
    model,
    cfg.train,
    Math.max(1, Math.ceil(cfg.train.epochs * Math.ceil(TRAIN_IMAGES / cfg.train.batchSize))),
  );
}

function tensorsLeft(fn: () => void): number {
  const before = tf.memory().numTensors;
  fn();
  return tf.memory().numTensors - before;
}

/** Runs fn(model) and disposes the model; throws if any tensor outlives them (the contract suite checks the same). */
function withModel(family: FamilyName, cfg: ResolvedRunConfig, fn: (model: GenerativeModel) => Result): Result {
  let r: Result | undefined;
  const leaked = tensorsLeft(() => {
    const model = create(family, cfg);
    try {
      r = fn(model);
    } finally {
      model.dispose();
    }
  });
  if (leaked !== 0) throw new Error(`family ${family}: ${leaked} tensors leaked`);
  return r!;
}

function trainFigure(family: FamilyName): BenchEntry['run'] {
  return (backend: string, time: Timer) => {
    const cfg = runConfig(family);
    return withModel(family, cfg, (model) => {
      if (hasConv(model) && !tf.getKernel('Conv2DBackpropFilter', backend))
        return skip('cannot train conv nets (no Conv2DBackpropFilter)');
      if (backend === 'cpu' && !CPU_SLOW) {
        if (hasConv(model))
          return skip(
            'skipped on cpu: its conv filter gradient (~0.02 GFLOPS) makes one step take minutes; DEEPGEN_BENCH_CPU_SLOW=1 measures it',
          );
        if (family === 'igpt')
          return skip(
            'skipped on cpu: ~45 GFLOP a step (full 784x784 attention) at ~1 GFLOPS takes about a minute; DEEPGEN_BENCH_CPU_SLOW=1 measures it',
          );
      }
      const B = cfg.train.batchSize;
      const trainer = makeTrainer(cfg, model);
      const images = randomImages(B, 8);
      const mode = cfg.data.preprocess as Preprocess;
      let loss = NaN;
      // as src/node/run.ts: the batch's tensors are made (and freed) inside the step; seeds from (train.seed, step)
      const step = () => {
        const s = trainer.step;
        loss = trainModelStep(
          trainer,
          model,
          () => {
            const xU8 = tf.tensor4d(images, [B, H, W, C], 'float32');
            const x = preprocessBatch(xU8, mode, mixSeed(cfg.train.seed, s, 2));
            xU8.dispose();
            return { x, y: null, captions: null };
          },
          mixSeed(cfg.train.seed, s, 3),
        ).loss;
      };
      try {
        step(); // warm-up: first-use costs and data-dependent init (the flow's actnorm) stay out of the figure
        const t = time(step);
        if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss}`);
        return { value: B / t.perRun, runs: t.runs, seconds: t.seconds };
      } finally {
        trainer.dispose();
      }
    });
  };
}

function sampleFigure(family: FamilyName): BenchEntry['run'] {
  return (backend: string, time: Timer) => {
    const cfg = runConfig(family),
      n = SAMPLE_N[family] ?? DEFAULT_SAMPLE_N;
    // DDIM's cost is linear in its steps: every step is one UNet pass on the n images and an elementwise update
    const steps =
      family === 'diffusion' ? Math.min((cfg.model as { steps: number }).steps, (cfg.model as { T: number }).T) : 0;
    const timedSteps = family === 'diffusion' ? Math.min(steps, DIFFUSION_TIMED_STEPS[backend] ?? steps) : 0;
    if (family === 'pixelcnn' && backend === 'cpu' && !CPU_SLOW) {
      // its cropped sampler's per-pixel cost varies with the crop (smaller near the top and left), so no extrapolation
      return skip(
        "skipped on cpu: 784 sequential network passes take about an hour for 16 images (the standalone 'pixelcnn sample 16' ran at 0.003 images/s); DEEPGEN_BENCH_CPU_SLOW=1 measures it",
      );
    }
    return withModel(family, cfg, (model) => {
      let seed = 5,
        check = 0;
      const t = time(() => {
        const x = model.sample(n, seed++, timedSteps < steps ? { steps: timedSteps } : {});
        check = tf.tidy(() => tf.sum(x).dataSync()[0]);
        x.dispose();
      });
      if (!Number.isFinite(check)) throw new Error('non-finite samples');
      const perRun = timedSteps < steps ? (t.perRun * steps) / timedSteps : t.perRun;
      return {
        value: n / perRun,
        runs: t.runs,
        seconds: t.seconds,
        note:
          timedSteps < steps
            ? `timed ${timedSteps} of ${steps} DDIM steps (one UNet pass each), extrapolated linearly to ${steps}`
            : undefined,
      };
    });
  };
}

/** The fixed configuration, for the JSON report. */
export const perFamilySettings = {
  data: `random 8-bit images ${H}x${W}x${C} (seeded), ${CLASSES} classes, unconditional, the family's data.preprocess`,
  config: "each family's defaults, as `deepgen train <family> --dataset fashion-mnist --batch-size 64` resolves them",
  train: `batch ${TRAIN_BATCH} (${Object.entries(TRAIN_BATCH_OF)
    .map(([f, b]) => `${f} ${b}`)
    .join(
      ', ',
    )}), one trainModelStep per run after a warm-up step (the default train config: Adam, schedule, clipping, EMA)`,
  sample: `model.sample(n) with the default options; n = ${DEFAULT_SAMPLE_N} (${Object.entries(SAMPLE_N)
    .map(([f, k]) => `${f} ${k}`)
    .join(', ')}: full raster sampling)`,
  preprocess: Object.fromEntries(Object.keys(registry).map((f) => [f, runConfig(f as FamilyName).data.preprocess])),
};

export const entries: BenchEntry[] = (Object.keys(registry) as FamilyName[]).flatMap((family) => [
  { name: `family ${family} train b${trainBatch(family)}`, unit: 'images/s', run: trainFigure(family) },
  {
    name: `family ${family} sample n${SAMPLE_N[family] ?? DEFAULT_SAMPLE_N}`,
    unit: 'images/s',
    run: sampleFigure(family),
  },
]);
