// `deepgen train <family>`: train (or resume) a model into a run folder.
import path from 'node:path';
import type { Command } from 'commander';
import { PREPROCESS } from '../core/config/schema.ts';
import type { PlainObject } from '../core/config/overrides.ts';
import { trainClassifier } from './classifier.ts';
import { CLASSIFIER_DATASETS } from '../node/classifier-store.ts';
import { UserError } from '../core/errors.ts';
import { getFamily } from '../core/registry.ts';
import { registry } from '../core/registry.ts';
import { hasCheckpoint, readCheckpointConfig } from '../node/checkpoint-store.ts';
import { choosesPreprocess, readConfigFile, resolveRunConfig } from '../node/run-config.ts';
import { trainRun } from '../node/run.ts';
import { downloadProgress } from '../node/model-source.ts';
import { initConfigLayer, readInitModel } from '../node/train/init.ts';
import { BACKEND_HELP } from '../node/backend.ts';
import { DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV } from '../node/data/image-check.ts';
import {
  action,
  choiceOpt,
  collect,
  floatOpt,
  intListOpt,
  intOpt,
  INTERRUPT_NOTE,
  seedOpt,
  withCtrlC,
} from './common.ts';

interface TrainFlags {
  [k: string]: unknown;
  set: string[];
}

/** Map flags onto config paths; only flags the user gave are set. */
export function flagsToConfig(f: TrainFlags): PlainObject {
  const pick = (entries: [string, unknown][]) => Object.fromEntries(entries.filter(([, v]) => v !== undefined));
  return {
    model: pick([
      ['arch', f.arch],
      ['hidden', f.hidden],
      ['latent', f.latent],
      ['beta', f.beta],
      ['likelihood', f.likelihood],
      ['sigma', f.sigma],
      ['learnSigma', f.learnSigma],
      ['cond', f.cond ? { kind: f.cond } : f.conditional ? { kind: 'label' } : undefined],
    ]),
    data: pick([
      ['dataset', f.dataset],
      ['dataDir', f.dataDir],
      ['size', f.size],
      ['trainN', f.trainN],
      ['testN', f.testN],
      ['preprocess', f.preprocess],
      ['holdOut', f.holdOut],
      ['maxImagePixels', f.maxImagePixels],
    ]),
    train: pick([
      ['seed', f.seed],
      ['epochs', f.epochs],
      ['steps', f.steps],
      ['batchSize', f.batchSize],
      ['lr', f.lr],
      ['lrSchedule', f.lrSchedule],
      ['warmupSteps', f.warmup],
      ['clipNorm', f.clipNorm],
      ['ema', f.ema],
      ['logEvery', f.logEvery],
      ['sampleEvery', f.sampleEvery],
      ['checkpointEvery', f.checkpointEvery],
    ]),
  };
}

export function addTrainOptions(cmd: Command): Command {
  return cmd
    .option(
      '--dataset <name>',
      'fashion-mnist | mnist | shapes | emoji | emoji-google | emoji-twitter | folder:PATH (see `deepgen datasets`; emoji first needs `deepgen datasets get emoji`)',
    )
    .option('--data-dir <dir>', 'folder with the idx files (default /usr/share/datasets/fashion-mnist)')
    .option('--size <px>', 'image side for resizable datasets (shapes, folders)', intOpt('--size', 4))
    .option('--train-n <n>', 'use only the first n training images (0 = all)', intOpt('--train-n'))
    .option('--test-n <n>', 'use only the first n test images (0 = all)', intOpt('--test-n'))
    .option(
      '--max-image-pixels <n>',
      `folder:PATH: refuse images of more pixels (width x height) before decoding, against decompression bombs (default $${MAX_IMAGE_PIXELS_ENV} or ${DEFAULT_MAX_IMAGE_PIXELS}); data.maxImagePixels`,
      intOpt('--max-image-pixels', 1),
    )
    .option(
      '--preprocess <mode>',
      `pixel preprocessing: ${PREPROCESS.join(', ')}`,
      choiceOpt('--preprocess', PREPROCESS),
    )
    .option('--arch <arch>', 'network: mlp or conv', choiceOpt('--arch', ['mlp', 'conv'] as const))
    .option(
      '--hidden <sizes>',
      'MLP hidden sizes, e.g. 512,256 (decoder mirrors); flow: one width, e.g. 64',
      intListOpt('--hidden'),
    )
    .option('--latent <dim>', 'latent size (default 20)', intOpt('--latent', 1))
    .option('--beta <b>', 'KL weight of the beta-VAE (default 1)', floatOpt('--beta', 0))
    .option(
      '--likelihood <p>',
      'decoder p(x|z): bernoulli (cross-entropy), gaussian (MSE) or logistic (discretized logistic: bits/dim of the 8-bit data)',
      choiceOpt('--likelihood', ['bernoulli', 'gaussian', 'logistic'] as const),
    )
    .option('--sigma <s>', 'fixed std of the gaussian decoder (default 0.1)', floatOpt('--sigma', 1e-6))
    .option('--learn-sigma', 'learn the gaussian decoder variance')
    .option(
      '--cond <kind>',
      'condition on y: none, label (class) or text (caption prompts); model.cond.kind',
      choiceOpt('--cond', ['none', 'label', 'text'] as const),
    )
    .option('--conditional', 'same as --cond label')
    .option(
      '--hold-out <pairs>',
      'shapes only: colour+shape pairs kept out of training, e.g. "red circle,blue square" (data.holdOut)',
      (v: string) =>
        v
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean),
    )
    .option('--epochs <n>', 'passes over the training set (default 10)', floatOpt('--epochs', 0, true))
    .option('--steps <n>', 'total optimiser steps (overrides --epochs)', intOpt('--steps', 1))
    .option('--batch-size <n>', 'images per step (default 128)', intOpt('--batch-size', 1))
    .option('--lr <rate>', 'Adam learning rate (default 1e-3)', floatOpt('--lr', 0))
    .option(
      '--lr-schedule <s>',
      'constant, cosine or linear decay',
      choiceOpt('--lr-schedule', ['constant', 'cosine', 'linear'] as const),
    )
    .option('--warmup <steps>', 'linear learning-rate warmup steps', intOpt('--warmup'))
    .option('--clip-norm <n>', 'clip gradients to this global norm (0 = off)', floatOpt('--clip-norm', 0))
    .option('--ema <decay>', 'keep an EMA of weights for sampling, e.g. 0.999 (0 = off)', floatOpt('--ema', 0))
    .option('--seed <n>', 'random seed (default 0)', seedOpt())
    .option('--log-every <steps>', 'metrics.jsonl and progress line interval', intOpt('--log-every', 1))
    .option('--sample-every <steps>', 'write a samples grid every N steps (0 = off)', intOpt('--sample-every'))
    .option(
      '--animate <file.gif>',
      'when training stops, write the --sample-every grids (the same noise each time) as a GIF',
    )
    .option(
      '--checkpoint-every <steps>',
      'save a checkpoint every N steps (0 = only at the end)',
      intOpt('--checkpoint-every'),
    )
    .option(
      '--stop-at <step>',
      'stop with a checkpoint at this step (resume later with --resume)',
      intOpt('--stop-at', 1),
    )
    .option('--config <file>', 'JSON config file (sections family, model, data, train)')
    .option('--set <key=value>', 'override any config key, e.g. --set train.lr=5e-4 (repeatable)', collect, [])
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .option('--quiet', 'no progress output');
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .argument(
      '[family]',
      `model family: ${Object.keys(registry).join(', ')}; or classifier (the evaluation classifier of a dataset, as \`deepgen classifier train\`)`,
    )
    .description('train a model (or continue one with --resume) and write a run folder')
    .option('--out <dir>', 'run folder (default runs/<family>)')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option(
      '--init <spec>',
      'fine-tune: start a new run from a trained model (run folder, zoo:NAME, https URL, hf:OWNER/REPO): its config and (EMA) weights, under your flags; data of its image shape',
    )
    .option(
      '--reset-optimizer',
      'with --resume: restart Adam from zero moments instead of loading optimizer.safetensors (e.g. when it is lost); prints a warning, the run then differs from an uninterrupted one',
    )
    .option(
      '--reset-ema',
      'with --resume: restart the EMA of the weights from the weights of the checkpoint instead of loading ema.safetensors (e.g. when it is lost); prints a warning',
    );
  addTrainOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  deepgen train vae --dataset fashion-mnist --epochs 10 --latent 20 --beta 1 --likelihood bernoulli --out runs/vae
  deepgen train vae --dataset shapes --preprocess scale01 --arch conv --out runs/shapes-vae
  deepgen train ae --latent 2 --out runs/ae2
  deepgen train gan --set model.loss=wgan-gp --sample-every 100 --animate runs/gan/progress.gif
  deepgen train --resume --out runs/vae --epochs 20     (continue, extending to 20 epochs)
  deepgen train --init zoo:vae-fmnist --dataset folder:my-pics --steps 300 --lr 2e-4 --out runs/my-vae
                                                        (fine-tune a trained model on your images)
  deepgen train classifier --dataset fashion-mnist      (the FID/cond-eval feature network, cached)`,
  );
  cmd.action(
    action(async (family: string | undefined, f: TrainFlags) => {
      if (family === 'classifier') return trainClassifierFromTrainFlags(f);
      const layers: PlainObject[] = [];
      let fam = family;
      if (f.init !== undefined && f.resume)
        throw new UserError(
          '--init starts a new run from a trained model and --resume continues the run in --out; drop one of them',
        );
      const init =
        f.init !== undefined
          ? await readInitModel(f.init as string, { onProgress: downloadProgress() }, (l) =>
              process.stderr.write(l + '\n'),
            )
          : undefined;
      fam = fam ?? init?.config.family;
      const out = (f.out as string | undefined) ?? (fam ? path.join('runs', fam) : undefined);
      if (!out)
        throw new UserError('Name the model family to train, e.g. `deepgen train vae`, or pass --resume --out RUN');
      if (f.resume) {
        if (!hasCheckpoint(out))
          throw new UserError(
            `Cannot resume: no checkpoint in ${out}; check --out or start a new run without --resume`,
          );
        // config only: trainRun loads (and checks) the weights
        const saved = readCheckpointConfig(out);
        if (fam && fam !== saved.family)
          throw new UserError(`Cannot resume: ${out} holds a ${saved.family} run, not ${fam}`);
        fam = saved.family;
        layers.push(saved.config as PlainObject);
      }
      const fileLayer = f.config ? readConfigFile(f.config as string) : undefined;
      const flagLayer = flagsToConfig(f);
      if (init) layers.push(initConfigLayer(init, family, [fileLayer, flagLayer], f.set));
      if (fileLayer) layers.push(fileLayer);
      // binarization (the family default, right for MNIST-like data) would wreck colour images
      const ds = (flagLayer.data as PlainObject).dataset;
      const famDefault = fam ? (getFamily(fam).defaults.data.preprocess ?? '') : '';
      if (
        !f.resume &&
        !init &&
        famDefault.startsWith('binarize') &&
        typeof ds === 'string' &&
        !/mnist/.test(ds) &&
        !choosesPreprocess([fileLayer, flagLayer], f.set)
      ) {
        (flagLayer.data as PlainObject).preprocess = 'scale01';
      }
      // --hidden is a list for the MLP families; a family whose model.hidden is one width (flow) takes a single number
      const hidden = (flagLayer.model as PlainObject).hidden;
      if (fam && Array.isArray(hidden) && typeof getFamily(fam).defaults.model.hidden === 'number') {
        if (hidden.length !== 1)
          throw new UserError(
            `--hidden ${hidden.join(',')}: ${fam} takes one width (its coupling networks' channels or units), e.g. --hidden 64`,
          );
        (flagLayer.model as PlainObject).hidden = hidden[0];
      }
      layers.push(flagLayer);
      const cfg = resolveRunConfig(fam!, layers, f.set, 'flags and --config');
      if (f.animate !== undefined && !String(f.animate).toLowerCase().endsWith('.gif'))
        throw new UserError(`--animate ${String(f.animate)} must end in .gif`);
      if (f.animate !== undefined && cfg.train.sampleEvery === 0)
        throw new UserError('--animate needs sample grids during training: pass --sample-every N');
      await withCtrlC((signal) =>
        trainRun({
          config: cfg,
          out,
          backend: f.backend as string,
          resume: Boolean(f.resume),
          init,
          resetOptimizer: Boolean(f.resetOptimizer),
          resetEma: Boolean(f.resetEma),
          quiet: Boolean(f.quiet),
          stopAtStep: f.stopAt as number | undefined,
          animate: f.animate as string | undefined,
          signal,
          abortNote: INTERRUPT_NOTE,
        }),
      );
    }),
  );
}

/** Flags of `deepgen train classifier` (the evaluation classifier, see `deepgen classifier train`); others do not apply. */
const CLASSIFIER_FLAGS = ['dataset', 'size', 'epochs', 'seed', 'dataDir', 'backend', 'quiet', 'set'];

/** `deepgen train classifier --dataset D`: the same as `deepgen classifier train --dataset D`. */
async function trainClassifierFromTrainFlags(f: TrainFlags): Promise<void> {
  const given = Object.entries(f)
    .filter(([k, v]) => v !== undefined && !CLASSIFIER_FLAGS.includes(k))
    .map(([k]) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()));
  if (given.length || (f.set as string[]).length) {
    throw new UserError(
      `deepgen train classifier takes --dataset, --size, --epochs, --seed, --data-dir, --backend and --quiet only; drop ${[...given, ...((f.set as string[]).length ? ['--set'] : [])].join(', ')}`,
    );
  }
  if (f.dataset !== undefined && !(CLASSIFIER_DATASETS as readonly string[]).includes(f.dataset as string)) {
    throw new UserError(
      `deepgen train classifier: --dataset must be one of ${CLASSIFIER_DATASETS.join(', ')}, got "${String(f.dataset)}"`,
    );
  }
  await trainClassifier({
    dataset: f.dataset as string | undefined,
    size: f.size as number | undefined,
    epochs: f.epochs as number | undefined,
    seed: f.seed as number | undefined,
    dataDir: f.dataDir as string | undefined,
    backend: f.backend as string,
    quiet: f.quiet as boolean | undefined,
  });
}
