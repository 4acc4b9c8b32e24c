// `deepgen demo`: the first thing a new user runs. Trains a small VAE on the built-in `shapes` data in a few
// minutes and writes samples, reconstructions and a loss curve to runs/demo/.
import fs from 'node:fs';
import type { Command } from 'commander';
import { resolveRunConfig } from '../node/run-config.ts';
import { trainRun } from '../node/run.ts';
import { hasCheckpoint } from '../node/checkpoint-store.ts';
import { initBackend } from '../node/backend.ts';
import { action, floatOpt, INTERRUPT_NOTE, withCtrlC } from './common.ts';

export const DEMO_CONFIG = {
  model: { arch: 'mlp', hidden: [256], latent: 16, likelihood: 'bernoulli' },
  data: { dataset: 'shapes', size: 32, trainN: 20000, testN: 1000, preprocess: 'scale01' },
  train: { epochs: 3, batchSize: 64, lr: 1e-3, logEvery: 25, sampleEvery: 250, seed: 0 },
};

/** With the native backend, a conv VAE with a gaussian decoder trains as fast and reconstructs much better. */
export const DEMO_CONV_MODEL = { arch: 'conv', latent: 32, likelihood: 'gaussian', sigma: 0.1 };

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'train a small VAE on the built-in shapes dataset (a few minutes on 2 cores) and write pictures to runs/demo/',
    )
    .option('--out <dir>', 'run folder', 'runs/demo')
    .option('--epochs <n>', 'passes over the 20,000 shapes', floatOpt('--epochs', 0, true))
    .option('--backend <name>', 'compute backend', 'auto')
    .action(
      action(async (f: { out: string; epochs?: number; backend: string }) => {
        if (hasCheckpoint(f.out)) fs.rmSync(f.out, { recursive: true, force: true });
        const backend = await initBackend(f.backend);
        const conv = backend === 'native' ? { model: DEMO_CONV_MODEL } : {};
        const cfg = resolveRunConfig(
          'vae',
          [DEMO_CONFIG, conv, f.epochs !== undefined ? { train: { epochs: f.epochs } } : {}],
          [],
          'demo',
        );
        process.stderr.write(`deepgen demo: a VAE learns 32x32 coloured shapes; pictures go to ${f.out}/\n`);
        const r = await withCtrlC((signal) =>
          trainRun({ config: cfg, out: f.out, backend: f.backend, signal, abortNote: INTERRUPT_NOTE }),
        );
        if (r.aborted) return; // stopped by Ctrl-C: trainRun said how to resume, and the pictures are not written
        process.stdout.write(
          [
            ``,
            `Done in ${Math.round(r.seconds)} s. Look at:`,
            `  ${f.out}/samples.png          64 new images decoded from z ~ N(0, I)`,
            `  ${f.out}/reconstructions.png  test images beside their reconstructions`,
            `  ${f.out}/interpolation.png    walks in latent space between two images`,
            `  ${f.out}/traversal.png        one latent dimension changed per row`,
            `  ${f.out}/loss-curve.svg       training loss`,
            `Next: deepgen sample ${f.out} --seed 1 · deepgen eval ${f.out} --iwae 100 · deepgen train vae --help`,
            ``,
          ].join('\n'),
        );
      }),
    );
}
