// `deepgen models`: the zoo shipped in the package's models/ folder, one line per model with its family, data and
// headline figure (conditional accuracy, else bits/dim, else FID) read from its eval.json / cond-eval.json.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { formatParams } from '../node/leaderboard.ts';
import { ZOO_DIR } from '../node/model-source.ts';
import { fmtSeconds } from '../node/pack.ts';
import { figureLines, headlineFigure, zooEntries } from '../node/zoo.ts';
import { action } from './common.ts';

/** The zoo's table as text lines; a line saying the zoo is empty when it ships none. */
export function zooListing(zooDir = ZOO_DIR): string[] {
  const entries = zooEntries(zooDir);
  if (!entries.length) return [`This deepgen ships no zoo models yet (no models in ${zooDir}).`];
  const rows = entries.map(({ spec, row: r, error }) =>
    r ? [spec, r.family, r.dataset, r.conditioning, headlineFigure(r)] : [spec, '?', '?', '?', `unreadable: ${error}`],
  );
  const head = ['model', 'family', 'data', 'conditioning', 'headline figure'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line), '', 'Use one as RUN anywhere: deepgen sample zoo:NAME --n 16'];
}

const minutes = (s: number | null) => (s === null ? '?' : fmtSeconds(s));

/**
 * The zoo as a markdown table (model, parameters, size on disk, training budget, figures, picture): pictures are
 * PICTURES/NAME.png when that file exists (paths as written, relative to the markdown file).
 */
export function zooMarkdown(zooDir = ZOO_DIR, pictures?: string): string {
  const rows = zooEntries(zooDir).map(({ name, spec, dir, row: r, config, error }) => {
    if (!r) return `| \`${spec}\` | unreadable: ${error} | | | | | |`;
    const bytes = fs.readdirSync(dir).reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
    // config.json as zooEntries read it for the row
    const cfg = config as unknown as { config: { train: { batchSize: number } }; init?: { step?: number } };
    const batch = cfg.config.train.batchSize;
    const steps = r.steps?.toLocaleString('en-US') ?? '?';
    // a fine-tuned model (train --init) counts the steps of the model it started from; its time is its own stage's
    const budget =
      typeof cfg.init?.step === 'number'
        ? `${cfg.init.step.toLocaleString('en-US')} + ${steps} steps of ${batch} (two stages, \`train --init\`), ${minutes(r.trainSeconds)} for the second`
        : `${steps} steps of ${batch}, ${minutes(r.trainSeconds)}`;
    const pic =
      pictures && fs.existsSync(path.join(pictures, `${name}.png`)) ? `![${name}](${pictures}/${name}.png)` : '';
    const what = `${r.family}${r.conditioning !== 'none' ? ` (${r.conditioning})` : ''}, ${r.dataset} ${r.size ?? ''}`;
    return `| [\`${spec}\`](models/${name}/README.md) | ${what} | ${formatParams(r.params)} | ${(bytes / 1e6).toFixed(1)} MB | ${budget} | ${figureLines(r).join('; ') || 'not evaluated'} | ${pic} |`;
  });
  return [
    '| model | family, data | parameters | size | training budget (2 cores) | figures | samples |',
    '| --- | --- | ---: | ---: | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

export function registerModels(program: Command): void {
  program
    .command('models')
    .description("list the zoo: the trained models shipped with deepgen, with each one's headline figure")
    .option('--markdown', 'print the zoo as a markdown table (parameters, size, training budget, figures)')
    .option(
      '--pictures <dir>',
      'with --markdown: show DIR/NAME.png beside each model (e.g. pictures from deepgen demo)',
    )
    .action(
      action(async (f: { markdown?: boolean; pictures?: string }) => {
        process.stdout.write((f.markdown ? zooMarkdown(ZOO_DIR, f.pictures) : zooListing().join('\n')) + '\n');
      }),
    );
}
