// `deepgen models`: the zoo shipped in the package's models/ folder, one line per model with its family, data and
// headline figure (bits/dim, else conditional accuracy, else FID) read from its eval.json / cond-eval.json.
import type { Command } from 'commander';
import { ZOO_DIR } from '../node/model-source.ts';
import { headlineFigure, zooEntries } from '../node/zoo.ts';
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

export function registerModels(program: Command): void {
  program
    .command('models')
    .description("list the zoo: the trained models shipped with deepgen, with each one's headline figure")
    .action(
      action(async () => {
        process.stdout.write(zooListing().join('\n') + '\n');
      }),
    );
}
