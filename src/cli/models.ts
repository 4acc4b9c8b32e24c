// `deepgen models`: the zoo shipped in the package's models/ folder, one line per model with its family, data and
// headline figure (bits/dim, else FID, else conditional accuracy) read from its eval.json / cond-eval.json.
import path from 'node:path';
import type { Command } from 'commander';
import { leaderboardRow, readRunFiles, type LeaderboardRow } from '../node/leaderboard.ts';
import { ZOO_DIR, zooNames } from '../node/model-source.ts';
import { action } from './common.ts';

/** The figure a model is best known by: bits/dim when it has a likelihood, else FID, else conditional accuracy. */
export function headlineFigure(row: LeaderboardRow): string {
  const L = row.likelihood;
  if (L.bitsPerDim !== null) return `${L.bitsPerDim.toFixed(3)} bits/dim (${L.kind}${L.n ? `, n=${L.n}` : ''})`;
  const fid = row.sampleQuality?.fid;
  if (fid !== null && fid !== undefined)
    return `FID ${fid.toFixed(1)} (deepgen features${row.sampleQuality?.n ? `, n=${row.sampleQuality.n}` : ''})`;
  if (row.condAccuracy) return `${(row.condAccuracy.overall * 100).toFixed(1)}% recognised`;
  return 'not evaluated';
}

/** The zoo's table as text lines; a line saying the zoo is empty when it ships none. */
export function zooListing(zooDir = ZOO_DIR): string[] {
  const names = zooNames(zooDir);
  if (!names.length) return [`This deepgen ships no zoo models yet (no models in ${zooDir}).`];
  const rows = names.map((name) => {
    try {
      const r = leaderboardRow(readRunFiles(path.join(zooDir, name)));
      return [`zoo:${name}`, r.family, r.dataset, r.conditioning, headlineFigure(r)];
    } catch (e) {
      return [`zoo:${name}`, '?', '?', '?', `unreadable: ${String((e as Error)?.message ?? e).split('\n')[0]}`];
    }
  });
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
