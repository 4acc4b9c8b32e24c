// `deepgen classifier train|show`: the project's evaluation classifiers (judges of conditional samples, FID features),
// trained once per dataset and image size and cached under $DEEPGEN_CACHE, <repo>/.cache or ~/.cache/deepgen (classifiers/).
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { BACKEND_HELP, BACKENDS } from '../node/backend.ts';
import {
  CLASSIFIER_DATASETS,
  CLASSIFIER_RECIPES,
  classifierDir,
  formatAccuracy,
  getClassifier,
  partsText,
  parseClassifierDataset,
  readClassifierInfo,
} from '../node/classifier-store.ts';
import { action, choiceOpt, floatOpt, intOpt, seedOpt } from './common.ts';

export interface ClassifierFlags {
  dataset?: string;
  size?: number;
  epochs?: number;
  seed?: number;
  dataDir?: string;
  force?: boolean;
  backend: string;
  quiet?: boolean;
}

function datasetOf(f: ClassifierFlags): ReturnType<typeof parseClassifierDataset> {
  if (!f.dataset) throw new UserError(`Name the dataset with --dataset ${CLASSIFIER_DATASETS.join('|')}`);
  return parseClassifierDataset(f.dataset);
}

const recipes = CLASSIFIER_DATASETS.map((d) => {
  const r = CLASSIFIER_RECIPES[d];
  const aug = r.augment
    ? `, ${[r.augment.flip && 'flipped', r.augment.shift && `shifted up to ${r.augment.shift} px`].filter(Boolean).join(' and ')}`
    : '';
  return `${d}: ${r.size}x${r.size}, ${r.epochs} epochs on ${r.trainN ?? 'all'} training images${aug}`;
}).join('; ');

/** `deepgen classifier train` (also `deepgen train classifier`): train a dataset's classifier and cache it. */
export async function trainClassifier(f: ClassifierFlags): Promise<void> {
  const dataset = datasetOf(f);
  const dir = classifierDir(dataset, f.size);
  const cached = f.force ? null : readClassifierInfo(dir);
  if (cached) {
    process.stdout.write(
      `${dataset} classifier already cached in ${dir}: test accuracy ${formatAccuracy(cached.testAccuracy)} (use --force to train again)\n`,
    );
    return;
  }
  const r = await getClassifier(dataset, {
    size: f.size,
    epochs: f.epochs,
    seed: f.seed,
    dataDir: f.dataDir,
    force: true,
    backend: f.backend,
    log: f.quiet ? () => {} : undefined,
  });
  process.stdout.write(
    `${dataset} classifier: test accuracy ${formatAccuracy(r.info.testAccuracy)} on ${r.info.testN} images${partsText(r.info.testParts)}, trained in ${r.info.trainSeconds.toFixed(0)} s on ${r.info.backend}; cached in ${r.dir}\n`,
  );
  r.classifier.dispose();
}

export function registerClassifier(program: Command): void {
  const cmd = program
    .command('classifier')
    .description(
      'train or inspect the cached evaluation classifiers (they judge conditional samples and give FID features)',
    );
  cmd.addHelpText(
    'after',
    `
Classifiers are cached in $DEEPGEN_CACHE/classifiers/<dataset>-<H>x<W>/ (default: <repo>/.cache/ in a checkout,
$XDG_CACHE_HOME/deepgen/ or ~/.cache/deepgen/ for an installed package); commands that need one train it on first use. Recipes: ${recipes}.

Examples:
  deepgen classifier train --dataset fashion-mnist
  deepgen classifier train --dataset shapes --force
  deepgen classifier train --dataset emoji      (also judges emoji-google and emoji-twitter runs)
  deepgen classifier show --dataset shapes`,
  );

  cmd
    .command('train')
    .description("train a dataset's classifier and cache it (does nothing when cached, unless --force)")
    .option(
      '--dataset <name>',
      `dataset: ${CLASSIFIER_DATASETS.join(', ')}`,
      choiceOpt('--dataset', CLASSIFIER_DATASETS),
    )
    .option(
      '--size <px>',
      'square image side (default 28 for fashion-mnist, 32 for shapes and emoji)',
      intOpt('--size', 8),
    )
    .option('--epochs <n>', 'training epochs (default: the dataset recipe)', floatOpt('--epochs', 0.001))
    .option('--seed <n>', 'random seed (default 0)', seedOpt())
    .option('--data-dir <dir>', 'folder with the Fashion-MNIST idx files, or the emoji folder')
    .option('--force', 'train again even when a classifier is cached')
    .option('--backend <name>', BACKEND_HELP, choiceOpt('--backend', BACKENDS), 'auto')
    .option('--quiet', 'no progress lines')
    .action(action(trainClassifier));

  cmd
    .command('show')
    .description("print a cached classifier's test accuracy and folder")
    .option(
      '--dataset <name>',
      `dataset: ${CLASSIFIER_DATASETS.join(', ')}`,
      choiceOpt('--dataset', CLASSIFIER_DATASETS),
    )
    .option(
      '--size <px>',
      'square image side (default 28 for fashion-mnist, 32 for shapes and emoji)',
      intOpt('--size', 8),
    )
    .option('--json', 'print the stored info as JSON')
    .action(
      action(async (f: ClassifierFlags & { json?: boolean }) => {
        const dataset = datasetOf(f);
        const dir = classifierDir(dataset, f.size);
        const info = readClassifierInfo(dir);
        if (!info)
          throw new UserError(
            `No ${dataset} classifier cached in ${dir}; train it with \`deepgen classifier train --dataset ${dataset}${f.size ? ` --size ${f.size}` : ''}\``,
          );
        if (f.json) {
          process.stdout.write(JSON.stringify({ dir, ...info }, null, 2) + '\n');
          return;
        }
        const parts = Object.entries(info.testParts ?? {}).map(
          ([k, p]) => `  ${k}: ${formatAccuracy(p.accuracy)} on ${p.n} test images\n`,
        );
        process.stdout.write(
          `${dataset} classifier in ${dir}\n  test accuracy: ${formatAccuracy(info.testAccuracy)} on ${info.testN} test images\n` +
            parts.join('') +
            `  trained: ${info.epochs} epochs on ${info.trainN} images, seed ${info.seed}, ${info.trainSeconds.toFixed(0)} s on ${info.backend}, ${info.createdAt}\n`,
        );
      }),
    );
}
