// `deepgen cond-eval RUN`: how often a conditional model's samples show what was asked for, judged by the project's
// classifier for the dataset (trained and cached on first use); writes RUN/cond-eval.json and a preview picture.
import path from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../node/fs-atomic.ts';
import { conditionalEval, isEmojiAccuracy, type CondEvalResult, type EmojiAccuracy } from '../node/cond-eval.ts';
import { writeImageGrid } from '../node/pictures.ts';
import { createProgress, formatDuration } from '../node/progress.ts';
import { loadRun } from '../node/run.ts';
import { BACKEND_HELP } from '../node/backend.ts';
import {
  action,
  checkSamplingFlags,
  floatOpt,
  intOpt,
  samplerOption,
  seedOpt,
  temperatureOption,
  RUN_ARG_HELP,
} from './common.ts';

const pct = (v: number) => (Number.isNaN(v) ? '  n/a' : `${(100 * v).toFixed(1).padStart(5)}%`);

export function registerCondEval(program: Command): void {
  program
    .command('cond-eval')
    .argument('<run>', `${RUN_ARG_HELP} of a label- or text-conditional model (fashion-mnist, shapes or emoji)`)
    .description(
      "generate samples for every class (or colour+shape prompts, or emoji captions) and measure how often the project's classifier recognises what was asked for",
    )
    .option(
      '--n <count>',
      'samples per set (text models on shapes and emoji also get a set of this size for held-out pairs or names)',
      intOpt('--n', 1),
      1000,
    )
    .option('--guidance <w>', "classifier-free guidance weight (default: the model's)", floatOpt('--guidance', 0))
    .option('--steps <n>', "sampler steps (default: the model's)", intOpt('--steps', 1))
    .option(...samplerOption())
    .option(...temperatureOption())
    .option('--seed <n>', 'random seed', seedOpt(), 0)
    .option('--batch-size <n>', 'samples generated at once', intOpt('--batch-size', 1), 100)
    .option('--no-ema', 'use the raw weights even when the run kept an EMA')
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .option('--json', 'print the result as JSON')
    .action(
      action(
        async (
          run: string,
          f: {
            n: number;
            guidance?: number;
            steps?: number;
            sampler?: string;
            temperature?: number;
            seed: number;
            batchSize: number;
            ema: boolean;
            backend: string;
            json?: boolean;
          },
        ) => {
          const r = await loadRun(run, { backend: f.backend, useEma: f.ema });
          checkSamplingFlags(r.family, run, [
            ['guidance', f.guidance],
            ['steps', f.steps],
            ['sampler', f.sampler],
            ['temperature', f.temperature],
          ]);
          // the total is known once generation starts (text models on shapes add a held-out set)
          let progress: ReturnType<typeof createProgress> | undefined;
          const res = await conditionalEval(r, {
            n: f.n,
            seed: f.seed,
            guidance: f.guidance,
            steps: f.steps,
            sampler: f.sampler,
            temperature: f.temperature,
            batchSize: f.batchSize,
            onProgress: (d, total) =>
              (progress ??= createProgress('cond-eval', total, { every: Math.max(1, Math.floor(total / 10)) })).update(
                d,
                `${d}/${total} samples`,
              ),
          });
          progress?.stop();
          const { preview, ...rest } = res;
          const full = {
            run,
            family: r.family,
            step: r.step,
            weights: r.usedEma ? 'ema' : 'raw',
            backend: r.backend,
            ...rest,
            seconds: Math.round(res.seconds * 10) / 10,
          };
          writeFileAtomic(path.join(r.outDir, 'cond-eval.json'), JSON.stringify(full, null, 2) + '\n');
          const pic = path.join(r.outDir, 'cond-eval.png');
          await writeImageGrid(pic, preview, {
            cols: res.kind === 'label' || res.labels ? Math.min(10, r.info.numClasses) : 8,
          });
          preview.dispose();
          r.model.dispose();
          if (f.json) {
            process.stdout.write(JSON.stringify(full, null, 2) + '\n');
            return;
          }
          const clfAcc = Object.entries(res.classifier.testAccuracy)
            .map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`)
            .join(', ');
          const lines = [
            `${r.family} (${res.kind}-conditional) at step ${r.step}, guidance ${f.guidance ?? 'default'}${f.sampler || f.steps ? `, ${f.sampler ?? 'default sampler'} ${f.steps ?? 'default'} steps` : ''}, ${formatDuration(res.seconds)}; judged by the ${res.classifier.dataset} classifier (its test accuracy on real images: ${clfAcc})`,
          ];
          lines.push(...accuracyLines(res));
          process.stdout.write(lines.join('\n') + `\nWrote ${path.join(r.outDir, 'cond-eval.json')} and ${pic}\n`);
        },
      ),
    );
}

/**
 * The accuracy lines of cond-eval (and score): share recognised as the intended class, overall and per class; for
 * shapes prompts, colour and shape both right on the seen pairs (`seenName`) and on the held-out ones; for emoji
 * captions, the category right and the vendors drawn on seen and held-out names, then the category per category.
 */
export function accuracyLines(
  res: Pick<CondEvalResult, 'labels' | 'seen' | 'heldOut'>,
  seenName = 'pairs seen in training',
): string[] {
  const lines: string[] = [];
  if (res.labels) {
    lines.push(
      `  recognised as the intended class: ${pct(res.labels.overall)} of ${res.labels.n}${res.labels.vendors ? `; ${vendorsText(res.labels.vendors)}` : ''}`,
    );
    res.labels.classNames.forEach((c, i) =>
      lines.push(`    ${c.padEnd(18)} ${pct(res.labels!.perClass[i])} of ${res.labels!.counts[i]}`),
    );
  }
  if (res.seen && isEmojiAccuracy(res.seen)) return [...lines, ...emojiLines(res.seen, res.heldOut as EmojiAccuracy)];
  for (const [name, a] of [
    [seenName, res.seen],
    [`held-out pairs (${(res.heldOut as { pairs?: string[] })?.pairs?.join(', ')})`, res.heldOut],
  ] as const) {
    if (!a || isEmojiAccuracy(a)) continue;
    lines.push(
      `  ${name}: colour and shape both right ${pct(a.both)} of ${a.n} (shape ${pct(a.kind)}, colour ${pct(a.color)})`,
    );
  }
  return lines;
}

/** "vendor drawn: google 51.0%, twitter 49.0%". */
function vendorsText(v: Record<string, number>): string {
  return `vendor drawn: ${Object.entries(v)
    .map(([k, x]) => `${k} ${pct(x).trim()}`)
    .join(', ')}`;
}

/** Emoji captions: one line per set (category right, vendors drawn), then a table of the category per category. */
function emojiLines(seen: EmojiAccuracy, held: EmojiAccuracy | undefined): string[] {
  const sets = [
    ['names seen in training', seen],
    ['held-out names', held],
  ] as const;
  const lines: string[] = [];
  for (const [name, a] of sets)
    if (a)
      lines.push(
        `  ${`${name} (${a.names} names):`.padEnd(36)} category right ${pct(a.overall)} of ${a.n} samples; ${vendorsText(a.vendors)}`,
      );
  const cell = (a: EmojiAccuracy | undefined, i: number) =>
    a ? `${pct(a.perClass[i]).padStart(6)} of ${String(a.counts[i]).padStart(4)}` : '';
  lines.push(
    `    ${'category right'.padEnd(18)} ${'seen'.padStart(14)}   ${held ? 'held-out'.padStart(14) : ''}`.trimEnd(),
  );
  seen.classNames.forEach((c, i) => lines.push(`    ${c.padEnd(18)} ${cell(seen, i)}   ${cell(held, i)}`.trimEnd()));
  return lines;
}
