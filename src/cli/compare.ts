// `deepgen compare RUN...`: the one-shot baseline beside generative models for the same class labels or prompts - one
// picture (per condition: real images, then each run's samples, the mean image last) and one table per condition.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { upscale } from '../core/viz/grid.ts';
import { compareMarkdown, compareRuns, sharedConditioning, type Condition } from '../node/compare.ts';
import { writeFileAtomic } from '../node/fs-atomic.ts';
import { encodePng } from '../node/png.ts';
import { loadRun, loadSplit, type LoadedRun } from '../node/run.ts';
import {
  action,
  collect,
  floatOpt,
  intOpt,
  seedOpt,
  IMAGE_LIMIT_HELP,
  PROMPT_WORDS_HELP,
  RUNS_ARG_HELP,
} from './common.ts';
import { labelIndex } from '../core/api/labels.ts';
import { loadEmoji } from '../node/data/emoji.ts';
import { EMOJI_EXAMPLE_PROMPTS } from '../core/data/emoji.ts';
import { BACKEND_HELP } from '../node/backend.ts';

/** Shapes test images generated to find the real images of each prompt. */
const SHAPES_TEST_N = 20000;

/** Prompts used when a text-conditional comparison is given none: four colour + shape pairs of the shapes data. */
export const DEFAULT_PROMPTS = [
  'a large green circle in the center',
  'a large red square at the top left',
  'a medium blue triangle at the bottom',
  'a large yellow diamond at the right',
];

/** Prompts for emoji runs: three names seen in training and two held out of it ("butterfly", "black cat"). */
export const EMOJI_DEFAULT_PROMPTS = [...EMOJI_EXAMPLE_PROMPTS.seen, ...EMOJI_EXAMPLE_PROMPTS.heldOut];

export function registerCompare(program: Command): void {
  program
    .command('compare')
    .argument(
      '<runs...>',
      `${RUNS_ARG_HELP} of label- or text-conditional models on the same data (e.g. a oneshot run and generative runs)`,
    )
    .description(
      'the one-shot baseline beside generative models: for each class or prompt, samples side by side and per run the per-pixel variance across samples, sharpness, distance to the class-mean image, FID/KID against the real images of that class and classifier accuracy',
    )
    .option(
      '--label <class>',
      'class to compare (index or name; repeatable); default: every class (label models)',
      collect,
      [],
    )
    .option(
      '--prompt <text>',
      `prompt to compare (repeatable): on shapes it names a colour and a shape, default ${DEFAULT_PROMPTS.map((p) => `"${p}"`).join(', ')}; on emoji an emoji's name, default ${EMOJI_DEFAULT_PROMPTS.map((p) => `"${p}"`).join(', ')} (the last two never seen in training), with both vendors' drawings as the real images. ${PROMPT_WORDS_HELP}`,
      collect,
      [],
    )
    .option('--n <count>', 'samples per run and condition (and real test images of it)', intOpt('--n', 4), 64)
    .option('--show <count>', 'samples per run and condition in the picture', intOpt('--show', 1), 8)
    .option(
      '--guidance <w>',
      "classifier-free guidance weight for the runs that take it (default: each model's)",
      floatOpt('--guidance', 0),
    )
    .option('--steps <n>', "sampler steps for the runs that take them (default: each model's)", intOpt('--steps', 1))
    .option('--seed <n>', 'random seed', seedOpt(), 0)
    .option('--out <file.png>', 'the picture; the tables go beside it as .md and .json', 'compare.png')
    .option('--scale <k>', 'enlarge the picture k times', intOpt('--scale', 1), 2)
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .addHelpText('after', IMAGE_LIMIT_HELP)
    .action(
      action(
        async (
          dirs: string[],
          f: {
            label: string[];
            prompt: string[];
            n: number;
            show: number;
            guidance?: number;
            steps?: number;
            seed: number;
            out: string;
            scale: number;
            backend: string;
          },
        ) => {
          if (!f.out.toLowerCase().endsWith('.png')) throw new UserError(`--out ${f.out} must end in .png`);
          if (f.scale > 8) throw new UserError(`--scale must be at most 8, got ${f.scale}`);
          const runs: LoadedRun[] = [];
          try {
            for (const d of dirs) runs.push(await loadRun(d, { backend: f.backend }));
            const kind = sharedConditioning(runs);
            const first = runs[0];
            let conditions: Condition[];
            if (kind === 'label') {
              if (f.prompt.length) throw new UserError('these runs are label-conditional: use --label, not --prompt');
              const names = first.info.classNames ?? [];
              const labels = f.label.length
                ? f.label.map((l) => labelIndex(l, names, first.info.numClasses))
                : Array.from({ length: first.info.numClasses }, (_, i) => i);
              conditions = labels.map((l) => ({ name: names[l] ?? `class ${l}`, label: l }));
            } else {
              if (f.label.length) throw new UserError('these runs are text-conditional: use --prompt, not --label');
              const emoji = first.cfg.data.dataset.startsWith('emoji');
              const prompts = f.prompt.length ? f.prompt : emoji ? EMOJI_DEFAULT_PROMPTS : DEFAULT_PROMPTS;
              conditions = prompts.map((p) => ({ name: `"${p}"`, prompt: p }));
            }
            // shapes are generated: a large test set finds enough real images of even a fully specified prompt;
            // an emoji name has one drawing per vendor, in either split
            const data = first.cfg.data;
            const test = data.dataset.startsWith('emoji')
              ? loadEmoji(data.dataset, { split: 'all', size: data.size, skinTones: data.skinTones, dir: data.dataDir })
              : loadSplit(
                  first.cfg.data.dataset === 'shapes'
                    ? {
                        ...first.cfg,
                        data: { ...first.cfg.data, testN: Math.max(first.cfg.data.testN, SHAPES_TEST_N) },
                      }
                    : first.cfg,
                  'test',
                );
            const res = await compareRuns(runs, conditions, test, {
              n: f.n,
              seed: f.seed,
              show: f.show,
              sampling: { guidance: f.guidance, steps: f.steps },
              onProgress: (l) => process.stderr.write(`${l}\n`),
            });
            const md = `Rows of ${f.out}, per condition: real test images, then ${runs.map((r) => r.dir).join(', ')}; the last column is the mean image.\n\n${compareMarkdown(res)}`;
            fs.mkdirSync(path.dirname(path.resolve(f.out)), { recursive: true });
            writeFileAtomic(f.out, encodePng(upscale(res.picture, f.scale)));
            const stem = f.out.replace(/\.png$/i, '');
            writeFileAtomic(`${stem}.md`, md);
            const { picture: _p, ...json } = res;
            writeFileAtomic(
              `${stem}.json`,
              `${JSON.stringify({ runs: dirs, seed: f.seed, guidance: f.guidance, steps: f.steps, ...json }, null, 2)}\n`,
            );
            process.stdout.write(`${md}\nWrote ${f.out}, ${stem}.md and ${stem}.json\n`);
          } finally {
            for (const r of runs) r.model.dispose();
          }
        },
      ),
    );
}
