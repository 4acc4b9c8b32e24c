// `deepgen score IMAGES --dataset NAME [--labels FILE | --prompts FILE]`: FID, KID, precision/recall and classifier
// accuracy of any images (a folder of PNGs or a grid PNG), as `eval` and `cond-eval` give them for runs; --out FILE.json
// records them with what was scored, for `deepgen leaderboard` to show as an external row.
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { BACKEND_HELP, initBackend } from '../node/backend.ts';
import { CLASSIFIER_DATASETS, formatAccuracy } from '../node/classifier-store.ts';
import { readFileOrUserError, writeFileAtomic } from '../node/fs-atomic.ts';
import { SCORE_FORMAT } from '../node/leaderboard.ts';
import { sha256Hex } from '../node/pack.ts';
import { formatDuration } from '../node/progress.ts';
import { SCORE_METRICS, scoreImageShape, scoreImages, SHAPES_PROMPT_WORDS, type ScoreMetric } from '../node/score.ts';
import { parseTile, readLines, readScoreImages } from '../node/score-input.ts';
import { accuracyLines } from './cond-eval.ts';
import { qualityTable } from './eval.ts';
import { action, intOpt, seedOpt } from './common.ts';

interface ScoreFlags {
  dataset?: string;
  labels?: string;
  prompts?: string;
  holdOut?: string;
  tile?: string;
  cols?: number;
  pad?: number;
  size?: number;
  n?: number;
  metrics?: string;
  seed: number;
  name?: string;
  notes?: string;
  family?: string;
  dataDir?: string;
  backend: string;
  json?: boolean;
  out?: string;
}

export function registerScore(program: Command): void {
  program
    .command('score')
    .argument('<images>', 'a folder of PNG images (one image each), or one grid PNG with --tile')
    .description(
      "score any images (another tool's samples, a real set) as `deepgen eval` and `cond-eval` score a run's samples: FID, KID and precision/recall against the dataset's test images beside the real floor, and with --labels or --prompts the share the project's classifier recognises as asked",
    )
    .option('--dataset <name>', `the data the images imitate: ${CLASSIFIER_DATASETS.join(', ')}`)
    .option(
      '--labels <file>',
      'the class of each image, one a line: an index or a class name (shapes: its kind; emoji: its category)',
    )
    .option(
      '--prompts <file>',
      'the prompt of each image, one a line: on shapes naming a colour and a shape; on fashion-mnist a class name',
    )
    .option(
      '--hold-out <pairs>',
      'shapes prompts: "<color> <kind>" pairs held out of the model\'s training, scored apart',
    )
    .option('--tile <HxW>', 'cut one grid PNG into tiles of HxW (or one side, e.g. 28); the padding is found')
    .option('--cols <n>', "the grid's columns, when its layout is ambiguous", intOpt('--cols', 1))
    .option('--pad <px>', "the grid's padding between tiles, when its layout is ambiguous", intOpt('--pad', 0))
    .option(
      '--size <n>',
      'image side (default: fashion-mnist 28, shapes 32); the dataset is resized or drawn at it',
      intOpt('--size', 8),
    )
    .option('--n <count>', 'score the first n images (default all); as many test and training images', intOpt('--n', 1))
    .option(
      '--metrics <list>',
      `comma-separated: ${SCORE_METRICS.join(', ')} (default fid,kid,pr, and acc with --labels or --prompts)`,
    )
    .option('--seed <n>', "seed of KID's random subsets", seedOpt(), 0)
    .option('--name <text>', 'what the images are, for the leaderboard (default: the file or folder name)')
    .option('--notes <text>', 'free text for the leaderboard, e.g. "PyTorch DDPM, 25 min 1 core, DDIM 50, guidance 3"')
    .option('--family <text>', "the leaderboard's family column (default external), e.g. diffusion")
    .option('--data-dir <dir>', 'folder with the Fashion-MNIST idx files (default /usr/share/datasets/fashion-mnist)')
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .option('--json', 'print the result as JSON')
    .option('--out <file.json>', 'write the result as JSON (atomically), e.g. for `deepgen leaderboard FILE.json`')
    .addHelpText(
      'after',
      `
Images: a folder of .png files, read in natural name order (2.png before 10.png); or one grid picture cut into
tiles with --tile. The grid's padding and border are found from its size and its separator lines (every pixel
between and around the tiles of one colour): paddings 0 to 16 px, with an outer border of the same width (as
torchvision's make_grid and deepgen's own grids) or none; --cols and --pad settle an ambiguous layout. Cells at
the end of the grid that are all the padding colour (no padding: all black or all white) are empty, and dropped.
Every image must be the dataset's size: fashion-mnist 28x28 grey, shapes 32x32 colour (--size for others); RGB
pictures of a grey dataset are made grey (0.299 R + 0.587 G + 0.114 B), with a note.

Figures: FID, KID (+- its std over 100 subsets) and k-NN precision/recall (k = 3) of the n images against the
first n test images, on the features of deepgen's own classifier for the dataset (trained on first use, a few
minutes, and cached: \`deepgen classifier train\`), beside the same figures for n real training images against
the same test images: the floor a perfect generator reaches at this n. Not Inception figures: compare them with
\`deepgen eval\` figures of the same dataset at the same n, not with published FIDs.
--labels: the share of images the classifier puts in the class given for it, overall and per class.
--prompts on shapes: the share with colour and shape both right (as cond-eval), held-out pairs apart with
--hold-out; each prompt names one colour and one shape:
  ${SHAPES_PROMPT_WORDS}.
--prompts on fashion-mnist: class names (the captions of its text-conditional models), judged as --labels.
A labels or prompts file has one line per image, in the images' order. Fashion-MNIST has 10,000 test images:
more images are scored up to that many.

--out FILE.json records the figures with the name, notes, the images' path and sha256 (a folder's: of its
sha256sum listing) and the labels file's; \`deepgen leaderboard runs/* FILE.json\` shows it as a row marked
external.

Examples:
  deepgen score samples/ --dataset fashion-mnist                     a folder of 28x28 PNGs
  deepgen score grid.png --tile 28 --dataset fashion-mnist --n 1000
  deepgen score shapes-samples/ --dataset shapes --prompts prompts.txt --hold-out "red circle"
  deepgen score ../shared/anchors/ddpm-fmnist-pytorch-1000.png --tile 28 --dataset fashion-mnist \\
      --labels ../shared/anchors/ddpm-fmnist-pytorch-1000.labels.txt --name ddpm-fmnist-pytorch-1000 \\
      --family diffusion --notes "PyTorch DDPM, 25 min 1 core, DDIM 50, guidance 3" \\
      --out bench/external/ddpm-fmnist-pytorch-1000.json
  deepgen leaderboard runs/* bench/external/*.json`,
    )
    .action(
      action(async (images: string, f: ScoreFlags) => {
        if (!f.dataset)
          throw new UserError(`score needs --dataset: the data the images imitate (${CLASSIFIER_DATASETS.join(', ')})`);
        if (f.out !== undefined && !/\.json$/i.test(f.out))
          throw new UserError(`--out must name a .json file, got "${f.out}"`);
        if (f.labels && f.prompts) throw new UserError('pass --labels or --prompts, not both');
        const shape = scoreImageShape(f.dataset, f.size);
        const read = readScoreImages(images, {
          shape,
          dataset: f.dataset,
          tile: f.tile !== undefined ? parseTile(f.tile) : undefined,
          cols: f.cols,
          pad: f.pad,
        });
        const linesOf = (file: string | undefined, what: string) =>
          file === undefined ? undefined : { lines: readLines(file, what), source: file };
        const opts = {
          dataset: f.dataset,
          size: f.size,
          dataDir: f.dataDir,
          // checked by scoreImages, which names the metrics it knows
          metrics: f.metrics?.split(',').map((t) => t.trim().toLowerCase()) as ScoreMetric[] | undefined,
          labels: linesOf(f.labels, 'label'),
          prompts: linesOf(f.prompts, 'prompt'),
          holdOut: f.holdOut?.split(',').map((s) => s.trim()),
          n: f.n,
          seed: f.seed,
        };
        for (const note of read.notes) process.stderr.write(note + '\n');
        const backend = await initBackend(f.backend, { convTraining: true });
        const res = await scoreImages(read.images, opts);
        const conditions = f.labels ?? f.prompts;
        const full = {
          format: SCORE_FORMAT,
          name: f.name ?? path.basename(images.replace(/[\\/]+$/, '')).replace(/\.png$/i, ''),
          ...(f.notes !== undefined ? { notes: f.notes } : {}),
          ...(f.family !== undefined ? { family: f.family } : {}),
          images: { ...read.source, n: read.images.n },
          ...(conditions !== undefined
            ? {
                [f.labels ? 'labelsFile' : 'promptsFile']: {
                  path: conditions,
                  sha256: sha256Hex(readFileOrUserError(conditions, 'a text file')),
                },
              }
            : {}),
          ...res,
          backend,
          seconds: Math.round(res.seconds * 10) / 10,
        };
        const json = JSON.stringify(full, null, 2) + '\n';
        if (f.out) writeFileAtomic(f.out, json);
        for (const note of res.messages) process.stderr.write(note + '\n');
        if (f.json) {
          process.stdout.write(json);
          return;
        }
        const lines = [
          `${res.n} images from ${images} scored against ${res.testImages} (${res.size}), ${formatDuration(res.seconds)}`,
        ];
        if (res.sampleQuality)
          lines.push(`  features: ${res.sampleQuality.features}`, ...qualityTable(res.sampleQuality, 'images'));
        if (res.labels || res.seen) {
          lines.push(
            `  judged by the ${res.dataset} classifier (its test accuracy on real images: ${formatAccuracy(res.classifier.testAccuracy)})`,
          );
          lines.push(...accuracyLines(res, res.heldOut ? 'pairs not held out' : 'all prompts'));
        }
        process.stdout.write(lines.join('\n') + '\n' + (f.out ? `Wrote ${f.out}\n` : ''));
      }),
    );
}
