// The CLI's command table: name, arguments and one-line summary of each command, and the module that defines it.
// main.ts loads only the module of the command being run, so `deepgen --help` starts without tfjs or the models.
import type { Command } from 'commander';

export interface CommandEntry {
  name: string;
  /** Arguments as commander writes them, for the top-level help. */
  args: string;
  summary: string;
  /** The module's register function (it defines the command's options, help and action). */
  load(): Promise<(program: Command) => void>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'demo',
    args: '',
    summary:
      'draw one picture per trained model of the zoo into demo/ with an index.html (seconds); --train: train a small VAE',
    load: async () => (await import('./demo.ts')).registerDemo,
  },
  {
    name: 'train',
    args: '[family]',
    summary: 'train a model (or continue one with --resume) and write a run folder',
    load: async () => (await import('./train.ts')).registerTrain,
  },
  {
    name: 'sample',
    args: '<run>',
    summary: 'write a grid of samples from a trained model',
    load: async () => (await import('./sample.ts')).registerSample,
  },
  {
    name: 'eval',
    args: '<run>',
    summary: 'test-set bits/dim (exact or a bound) and sample quality (FID, KID, precision/recall) of a trained model',
    load: async () => (await import('./eval.ts')).registerEval,
  },
  {
    name: 'pictures',
    args: '<run>',
    summary:
      'write the family pictures (reconstructions, interpolation, latent traversal, 2-d manifold) from test images',
    load: async () => (await import('./pictures.ts')).registerPictures,
  },
  {
    name: 'interpolate',
    args: '<run>',
    summary: 'decode a straight line in latent space between two encoded test images',
    load: async () => (await import('./pictures.ts')).registerPictures,
  },
  {
    name: 'datasets',
    args: '',
    summary: 'list the datasets deepgen can train on, whether each is available here, and where',
    load: async () => (await import('./datasets.ts')).registerDatasets,
  },
  {
    name: 'info',
    args: '',
    summary: 'show the compute backend deepgen uses, the BLAS library found, threads and a quick GFLOPS check',
    load: async () => (await import('./info.ts')).registerInfo,
  },
  {
    name: 'classifier',
    args: '',
    summary:
      'train or inspect the cached evaluation classifiers (they judge conditional samples and give FID features)',
    load: async () => (await import('./classifier.ts')).registerClassifier,
  },
  {
    name: 'cond-eval',
    args: '<run>',
    summary: "how often the project's classifier recognises the class (or colour+shape prompt) asked for",
    load: async () => (await import('./cond-eval.ts')).registerCondEval,
  },
  {
    name: 'score',
    args: '<images>',
    summary:
      'FID, KID, precision/recall and class accuracy of any images (a folder of PNGs or a grid) against a dataset',
    load: async () => (await import('./score.ts')).registerScore,
  },
  {
    name: 'export',
    args: '<run> <out>',
    summary: 'write a run as a PyTorch package: model.py, weights, train.py (DistributedDataParallel), sample.py',
    load: async () => (await import('./torch.ts')).registerExport,
  },
  {
    name: 'import',
    args: '<pt_dir>',
    summary: 'read a PyTorch package (and what its train.py wrote) back into a deepgen run folder',
    load: async () => (await import('./torch.ts')).registerImport,
  },
  {
    name: 'pack',
    args: '<run> <out>',
    summary: 'write a trained run as a model folder to share: float16 weights, config, figures, model card, sha256s',
    load: async () => (await import('./pack.ts')).registerPack,
  },
  {
    name: 'leaderboard',
    args: '[runs...]',
    summary: 'one table of every run: size, training time, bits/dim, FID/KID/precision/recall, conditional accuracy',
    load: async () => (await import('./leaderboard.ts')).registerLeaderboard,
  },
  {
    name: 'serve',
    args: '[runs...]',
    summary: 'open the playground in the browser: watch the models in the given run folders generate, on localhost',
    load: async () => (await import('./serve.ts')).registerServe,
  },
  {
    name: 'models',
    args: '',
    summary: 'list the zoo: trained models shipped with deepgen (use one as zoo:NAME), with their headline figures',
    load: async () => (await import('./models.ts')).registerModels,
  },
  {
    name: 'compare',
    args: '<runs...>',
    summary: 'the one-shot baseline beside generative models: samples side by side, variance, sharpness, FID, accuracy',
    load: async () => (await import('./compare.ts')).registerCompare,
  },
];

/** The command a command line runs (`deepgen help NAME` counts as NAME), or undefined (top-level help, a typo). */
export function commandOf(argv: readonly string[]): CommandEntry | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  return COMMANDS.find((c) => c.name === name);
}
