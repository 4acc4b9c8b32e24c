// `deepgen sample RUN`: a grid of samples from a trained model, seeded.
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { labelIndex } from '../core/api/labels.ts';
import { loadRun } from '../node/run.ts';
import type * as tf from '@tensorflow/tfjs-core';
import { MAX_GRID_SAMPLES, sampleFileName, writeSampleFiles } from '../node/sample-files.ts';
import { createProgress } from '../node/progress.ts';
import { DEFAULT_SAMPLE_CHUNK } from '../core/sample-chunks.ts';
import type { SampleOptions } from '../core/family.ts';
import { writeGif } from '../node/gif.ts';
import { concatHorizontal, floatsToUint8, makeGrid, upscale, type ImageU8 } from '../core/viz/grid.ts';
import {
  action,
  checkSamplingFlags,
  collect,
  floatOpt,
  intOpt,
  samplerOption,
  temperatureOption,
  familiesTaking,
  seedOpt,
  RUN_ARG_HELP,
  PROMPT_WORDS_HELP,
} from './common.ts';
import { condKindOf } from '../core/conditioning/config.ts';
import { BACKEND_HELP } from '../node/backend.ts';

/** One animation frame: the current images [n,H,W,C] in [0,1] as a grid. */
function gridToImage(x: tf.Tensor4D, cols: number, scale: number): ImageU8 {
  const [n, h, w, c] = x.shape;
  return upscale(makeGrid(floatsToUint8(x.dataSync()), n, h, w, c, { cols }), scale);
}

export function registerSample(program: Command): void {
  program
    .command('sample')
    .argument('<run>', RUN_ARG_HELP)
    .description('write a grid of samples from a trained model')
    .option(
      '--n <count>',
      'number of samples (drawn --batch-size at a time and written as they finish)',
      intOpt('--n', 1),
      64,
    )
    .option(
      '--label <class>',
      'class to generate (index or name) for label-conditional models; default: every class in turn',
    )
    .option(
      '--prompt <text>',
      'prompt for text-conditional models (repeatable: cycled over the samples); default: unconditional. ' +
        PROMPT_WORDS_HELP,
      collect,
      [],
    )
    .option(
      '--guidance <w>',
      `classifier-free guidance weight w: eps_uncond + w (eps_cond - eps_uncond) (a GAN: its condition embedding pushed alike); 0 = unconditional, 1 = plain conditional (${familiesTaking('guidance').join(', ')}; default: the model's)`,
      floatOpt('--guidance', 0),
    )
    .option('--steps <n>', "sampler steps (diffusion DDIM; default: the model's)", intOpt('--steps', 1))
    .option(...samplerOption())
    .option('--eta <eta>', 'DDIM eta: 0 deterministic, 1 like DDPM (diffusion)', floatOpt('--eta', 0))
    .option(...temperatureOption())
    .option(
      '--animate <file.gif>',
      'also write a GIF of the sampling as it happens (the first --batch-size samples): diffusion from noise to image step by step, beside the x_0 the model predicts at each step (right); autoregressive models row by row',
    )
    .option('--seed <n>', 'random seed (same seed, same images)', seedOpt(), 0)
    .option('--cols <n>', 'grid columns', intOpt('--cols', 1))
    .option(
      '--scale <k>',
      'enlarge the grid (and the animation) k times, each pixel a k x k block (small images)',
      (v: string) => {
        const k = intOpt('--scale', 1)(v);
        if (k > 16) throw new InvalidArgumentError(`--scale must be at most 16, got "${v}".`);
        return k;
      },
      1,
    )
    .option('--out <file>', `output grid PNG (default RUN/samples-seed<seed>.png; up to ${MAX_GRID_SAMPLES} samples)`)
    .option(
      '--files <dir>',
      `write each sample as a numbered PNG (0000.png, 0001.png, ...) in DIR instead of one grid (default RUN/samples-seed<seed>/ above ${MAX_GRID_SAMPLES} samples)`,
    )
    .option(
      '--batch-size <k>',
      'samples drawn per forward pass: memory grows with it, not with --n; the images of a seed are the same for any value',
      intOpt('--batch-size', 1),
      DEFAULT_SAMPLE_CHUNK,
    )
    .option('--no-ema', 'use the raw weights even when the run kept an EMA')
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .action(
      action(
        async (
          run: string,
          f: {
            n: number;
            files?: string;
            batchSize: number;
            label?: string;
            prompt: string[];
            guidance?: number;
            steps?: number;
            sampler?: string;
            eta?: number;
            temperature?: number;
            animate?: string;
            seed: number;
            cols?: number;
            scale: number;
            out?: string;
            ema: boolean;
            backend: string;
          },
        ) => {
          if (f.out !== undefined && !f.out.toLowerCase().endsWith('.png'))
            throw new UserError(`--out ${f.out} must end in .png`);
          if (f.animate !== undefined && !f.animate.toLowerCase().endsWith('.gif'))
            throw new UserError(`--animate ${f.animate} must end in .gif`);
          if (f.out !== undefined && f.files !== undefined)
            throw new UserError(
              '--out (one grid) and --files (numbered PNGs) are two ways to write the samples; pass one of them',
            );
          const r = await loadRun(run, { backend: f.backend, useEma: f.ema });
          const kind = condKindOf(r.cfg);
          let labels: number[] | undefined;
          if (f.label !== undefined) {
            if (kind !== 'label')
              throw new UserError(
                `This ${r.family} is not label-conditional, so --label does not apply; train with --conditional to use labels`,
              );
            labels = [labelIndex(f.label, r.info.classNames, r.info.numClasses)];
          } else if (kind === 'label') {
            labels = Array.from({ length: r.info.numClasses }, (_, i) => i);
          }
          const prompts = f.prompt.length ? f.prompt : undefined;
          if (prompts && kind !== 'text')
            throw new UserError(
              `This ${r.family} is not text-conditional, so --prompt does not apply; train with --set model.cond.kind=text to use prompts`,
            );
          checkSamplingFlags(r.family, run, [
            ['guidance', f.guidance],
            ['steps', f.steps],
            ['sampler', f.sampler],
            ['eta', f.eta],
            ['temperature', f.temperature],
            ['animate', f.animate],
          ]);
          const cols =
            f.cols ??
            ((labels?.length ?? prompts?.length ?? 0) > 1
              ? (labels?.length ?? prompts!.length)
              : Math.ceil(Math.sqrt(f.n)));
          // above MAX_GRID_SAMPLES, numbered files by default (one grid of 100,000 images is a 262 MB picture)
          const dir =
            f.files ??
            (f.out === undefined && f.n > MAX_GRID_SAMPLES ? path.join(r.outDir, `samples-seed${f.seed}`) : undefined);
          const out = dir === undefined ? (f.out ?? path.join(r.outDir, `samples-seed${f.seed}.png`)) : undefined;
          const frames: ImageU8[] = [];
          const animated = Math.min(f.n, f.batchSize);
          const animCols = Math.min(cols, animated);
          const base: SampleOptions = {
            labels,
            prompts,
            guidance: f.guidance,
            steps: f.steps,
            sampler: f.sampler,
            eta: f.eta,
            temperature: f.temperature,
          };
          // the animation follows the first chunk: its frames are all in memory until the GIF is written
          // diffusion: x_t's grid (left) beside the grid of x0hat, the x_0 predicted at that step (right)
          let withX0 = false;
          const onFrame: SampleOptions['onFrame'] = f.animate
            ? (img, _step, _total, more) => {
                const xt = gridToImage(img, animCols, f.scale);
                const x0 = more?.x0?.();
                withX0 = !!x0;
                frames.push(x0 ? concatHorizontal([xt, gridToImage(x0, animCols, f.scale)], { pad: 4 * f.scale }) : xt);
              }
            : undefined;
          const progress = createProgress('sample', f.n, { quiet: f.n <= f.batchSize });
          const t0 = performance.now();
          try {
            await writeSampleFiles(r.model, {
              n: f.n,
              seed: f.seed,
              image: r.info,
              chunk: f.batchSize,
              scale: f.scale,
              opts: (first) => (first === 0 ? { ...base, onFrame } : base),
              grid: out === undefined ? undefined : { file: out, cols },
              dir,
              onChunk: (done) =>
                progress.update(done, `${(done / ((performance.now() - t0) / 1000)).toFixed(1)} samples/s`),
            });
          } finally {
            progress.stop();
            r.model.dispose();
          }
          if (f.animate) {
            const last = frames[frames.length - 1];
            for (let i = 0; i < 15 && last; i++) frames.push(last); // hold the final image for 1.2 s
            writeGif(f.animate, frames, { delayMs: 80 });
            process.stdout.write(
              `Wrote the sampling (${frames.length - 15} steps${animated < f.n ? `, the first ${animated} samples` : ''}${withX0 ? '; x_t on the left, the predicted x_0 on the right' : ''}) to ${f.animate}\n`,
            );
          }
          process.stdout.write(
            dir === undefined
              ? `Wrote ${f.n} samples to ${out}\n`
              : `Wrote ${f.n} samples to ${dir}/ (${sampleFileName(0, f.n)} to ${sampleFileName(f.n - 1, f.n)})\n`,
          );
        },
      ),
    );
}
