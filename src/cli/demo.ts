// `deepgen demo`: the first thing a new user runs. Draws one picture per zoo model (and the one-shot baseline beside a
// sampler) into demo/ with an index.html; `--train` instead trains a small VAE on the built-in shapes in a few minutes.
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.ts';
import type { Command } from 'commander';
import { resolveRunConfig } from '../node/run-config.ts';
import { trainRun } from '../node/run.ts';
import { hasCheckpoint } from '../node/checkpoint-store.ts';
import { BACKEND_HELP, initBackend } from '../node/backend.ts';
import { zooDemo } from '../node/zoo-demo.ts';
import { zooNames } from '../node/model-source.ts';
import { action, floatOpt, intOpt, INTERRUPT_NOTE, seedOpt, withCtrlC } from './common.ts';

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
      'draw one picture per trained model of the zoo into demo/ with an index.html (seconds); --train: train a small VAE on shapes instead (minutes)',
    )
    .option('--out <dir>', 'output folder (default demo, or runs/demo with --train)')
    .option(
      '--train',
      "train a small VAE on the built-in shapes data (a few minutes on 2 cores) instead of the zoo's pictures",
    )
    .option('--steps <n>', "sampler steps of the diffusion models (default: each model's own)", intOpt('--steps', 1))
    .option('--seed <n>', 'seed of the samples', seedOpt(), 0)
    .option('--epochs <n>', 'with --train: passes over the 20,000 shapes', floatOpt('--epochs', 0, true))
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .addHelpText(
      'after',
      `
Without --train, every picture is drawn on the spot from the models shipped in the package (deepgen models lists
them): samples of each family, a prompt grid from the text-conditional models, a column per class from the label
models, and the one-shot baseline beside diffusion on the same prompts. Open demo/index.html, then run deepgen serve.

Examples:
  deepgen demo                   the zoo's pictures in demo/ (about 20 s on 2 cores)
  deepgen demo --train           train a VAE for 3 epochs and write its pictures to runs/demo/`,
    )
    .action(
      action(
        async (f: {
          out?: string;
          train?: boolean;
          steps?: number;
          seed: number;
          epochs?: number;
          backend: string;
        }) => {
          if (f.train || !zooNames().length) {
            if (!f.train)
              process.stderr.write('deepgen demo: this deepgen ships no zoo models; training a small VAE instead\n');
            return trainDemo({ out: f.out ?? 'runs/demo', epochs: f.epochs, backend: f.backend });
          }
          if (f.epochs !== undefined)
            throw new UserError('--epochs applies to deepgen demo --train only; add --train or drop it');
          const out = f.out ?? 'demo';
          const backend = await initBackend(f.backend);
          process.stderr.write(
            `deepgen demo: drawing from the zoo's trained models on the ${backend} backend into ${out}/\n`,
          );
          const r = await zooDemo({ out, steps: f.steps, seed: f.seed, log: (l) => process.stderr.write(l + '\n') });
          process.stdout.write(
            [
              '',
              `Done in ${r.seconds.toFixed(1)} s: ${r.pictures.length} pictures. Open ${r.index}`,
              ...r.pictures.map((p) => `  ${path.join(out, p.file).padEnd(34)} ${p.headline}`),
              `Next: npx deepgen serve, then open http://127.0.0.1:8080/ to watch them generate · deepgen models · deepgen demo --train`,
              '',
            ].join('\n'),
          );
        },
      ),
    );
}

/** The training demo: a small VAE on shapes, its pictures in `out`. */
async function trainDemo(f: { out: string; epochs?: number; backend: string }): Promise<void> {
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
}
