// `deepgen leaderboard [RUN ...]`: one table of every run (size, training cost, bits/dim, FID/KID, conditional
// accuracy) from the files in the run folders, as markdown or JSON; --out FILE.md also writes FILE.json.
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { writeFileAtomic } from '../node/fs-atomic.ts';
import { leaderboardJson, leaderboardMarkdown, leaderboardOf } from '../node/leaderboard.ts';
import { action } from './common.ts';

export function registerLeaderboard(program: Command): void {
  program
    .command('leaderboard')
    .argument(
      '[runs...]',
      'run folders written by `deepgen train` (default: runs/*), and score files of `deepgen score --out`',
    )
    .description(
      'one table of every run: parameters, training time and speed, test bits/dim (exact or bound), FID/KID/precision/recall and conditional accuracy, read from the run folders',
    )
    .option('--json', 'print JSON instead of the markdown table')
    .option('--out <file.md>', 'also write the markdown to FILE.md and the JSON beside it as FILE.json')
    .addHelpText(
      'after',
      `
Nothing is computed: each row reads config.json, state.json, the header of model.safetensors, eval.json
(\`deepgen eval\`) and cond-eval.json (\`deepgen cond-eval\`) of a run. Runs not evaluated are listed with n/a and
a note. Rows are sorted by dataset, family, run. Among several folders (as runs/* expands to), folders without
config.json are skipped with a warning; a single one is an error.
A score file (\`deepgen score IMAGES ... --out FILE.json\`: images from another tool, or a real set) is a row of
its own, marked "external: NAME (NOTES)" in the notes, with its figures and n/a for training and likelihood.

Columns:
  params       parameters in model.safetensors (k = thousand, M = million)
  steps        training steps done (state.json; gan: generator updates)
  train time   wall-clock training time over all sessions of the run (state.json elapsedSeconds)
  img/s        steps x batch size / train time, training images per second averaged over the whole run
  bits/dim     -log2 P(x) per dimension of the 8-bit test images (lower is better), from eval.json
  kind         exact (pixelcnn, igpt); bound = an upper bound on it (flow: dequantization, IWAE with --iwae;
               vae with a discretized logistic/categorical decoder: IWAE or -ELBO; diffusion: variational bound);
               n/a for gan and ae (no likelihood) and for a vae with a bernoulli or gaussian decoder (a density
               on continuous values, not a probability of 8-bit data)
  FID, KID     Frechet and kernel distances (KID +- its std over 100 subsets) between n samples and n test images,
               on the features of deepgen's own classifier for the dataset, NOT Inception: compare runs of one
               dataset at the same n, never with published FIDs; lower is better
  precision,   k-NN precision (samples that look real) and recall (real images the samples cover), k = 3, in [0, 1];
  recall       higher is better
  n            samples (and test images) behind FID/KID/precision/recall
  ms/sample    sampling time per image, in milliseconds
  cond acc     cond-eval.json, in %: label models, the share of samples classified as the class asked for; text
               models on shapes, colour and shape both right, on pairs seen in training and on held-out pairs;
               on emoji, the category right, on names seen in training and on held-out names
  notes        why a figure is n/a, stale or from the quick end-of-training evaluation
Under the table: the floor of each dataset, the same figures for n real training images against the test images.

Examples:
  deepgen leaderboard runs/*                    (npm run leaderboard)
  deepgen leaderboard runs/flow-* --out docs/leaderboard.md
  deepgen leaderboard runs/pixelcnn-fmnist --json
  deepgen leaderboard runs/* bench/external/*.json     the runs beside outside models' scored samples`,
    )
    .action(
      action((runs: string[], f: { json?: boolean; out?: string }) => {
        if (f.out !== undefined && !/\.md$/i.test(f.out))
          throw new UserError(`--out must name a .md file (the JSON is written beside it as .json), got "${f.out}"`);
        const board = leaderboardOf(runs);
        const md = leaderboardMarkdown(board);
        const json = leaderboardJson(board);
        if (f.out) {
          const jsonFile = f.out.replace(/\.md$/i, '.json');
          writeFileAtomic(f.out, md);
          writeFileAtomic(jsonFile, json);
          process.stderr.write(`Wrote ${f.out} and ${jsonFile}\n`);
        }
        process.stdout.write(f.json ? json : md);
      }),
    );
}
