// `deepgen pictures RUN` and `deepgen interpolate RUN`: the family's teaching pictures from test images.
import path from 'node:path';
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { select } from '../core/data/batches.ts';
import { interpolate } from '../core/families/vae/sample.ts';
import { VaeModel } from '../core/families/vae/index.ts';
import { preprocessedSet, writeFamilyPictures } from '../node/family-tools.ts';
import { writeImageGrid } from '../node/pictures.ts';
import { loadRun, loadSplit } from '../node/run.ts';
import { withDataDir } from '../node/run-config.ts';
import { action, intOpt, IMAGE_LIMIT_HELP, RUN_ARG_HELP } from './common.ts';
import { condKindOf } from '../core/conditioning/config.ts';
import { BACKEND_HELP } from '../node/backend.ts';

export function registerPictures(program: Command): void {
  program
    .command('pictures')
    .argument('<run>', RUN_ARG_HELP)
    .description(
      'write the family pictures (reconstructions, interpolation, latent traversal, 2-d manifold) from test images',
    )
    .option('--out <dir>', 'output folder (default RUN)')
    .option('--data-dir <dir>', 'folder with the dataset files')
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .addHelpText('after', IMAGE_LIMIT_HELP)
    .action(
      action(async (run: string, f: { out?: string; dataDir?: string; backend: string }) => {
        const r = await loadRun(run, { backend: f.backend });
        const cfg = withDataDir(r.cfg, f.dataDir);
        const out = f.out ?? r.outDir;
        fs.mkdirSync(out, { recursive: true });
        const files = await writeFamilyPictures(r.model, cfg, loadSplit(cfg, 'test'), out);
        r.model.dispose();
        if (!files.length)
          throw new UserError(`The ${r.family} family has no pictures besides samples; use \`deepgen sample\``);
        process.stdout.write(`Wrote ${files.join(', ')}\n`);
      }),
    );

  program
    .command('interpolate')
    .argument('<run>', `${RUN_ARG_HELP} of an ae or vae`)
    .description('decode a straight line in latent space between two encoded test images')
    .option('--a <index>', 'first test image index', intOpt('--a'), 0)
    .option('--b <index>', 'second test image index', intOpt('--b'), 1)
    .option('--steps <n>', 'points on the line, endpoints included', intOpt('--steps', 2), 10)
    .option('--out <file>', 'output PNG (default RUN/interpolate-A-B.png)')
    .option('--data-dir <dir>', 'folder with the dataset files')
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .addHelpText('after', IMAGE_LIMIT_HELP)
    .action(
      action(
        async (
          run: string,
          f: { a: number; b: number; steps: number; out?: string; dataDir?: string; backend: string },
        ) => {
          const r = await loadRun(run, { backend: f.backend });
          if (!(r.model instanceof VaeModel))
            throw new UserError(`interpolate needs an encoder (ae or vae); ${run} is a ${r.family}`);
          const nets = r.model.nets;
          const cfg = withDataDir(r.cfg, f.dataDir);
          const test = loadSplit(cfg, 'test');
          for (const i of [f.a, f.b])
            if (i >= test.n)
              throw new UserError(
                `Test image index ${i} is out of range: the test set has ${test.n} images (0..${test.n - 1})`,
              );
          const pair = select(test, [f.a, f.b]);
          const { x, labels } = preprocessedSet(pair, cfg);
          const conditional = condKindOf(cfg) === 'label';
          const imgs = tf.tidy(() =>
            interpolate(
              nets,
              tf.slice(x, 0, 1),
              tf.slice(x, 1, 1),
              f.steps,
              conditional && labels ? [labels[0], labels[1]] : undefined,
            ),
          );
          const out = f.out ?? path.join(r.outDir, `interpolate-${f.a}-${f.b}.png`);
          await writeImageGrid(out, imgs, { cols: f.steps });
          tf.dispose([x, imgs]);
          r.model.dispose();
          process.stdout.write(`Wrote ${out}\n`);
        },
      ),
    );
}
