// `deepgen datasets`: which datasets are available on this machine, and where.
import type { Command } from 'commander';
import { listDatasets } from '../node/data/datasets.ts';
import { action } from './common.ts';

export function registerDatasets(program: Command): void {
  program
    .command('datasets')
    .description('list the datasets deepgen can train on, whether each is available here, and where')
    .option('--json', 'print JSON')
    .action(
      action((f: { json?: boolean }) => {
        const list = listDatasets();
        if (f.json) {
          process.stdout.write(JSON.stringify(list, null, 2) + '\n');
          return;
        }
        const rows = list.map((d) => [d.name, d.available ? 'yes' : 'no', d.shape, d.where, d.description]);
        const head = ['name', 'available', 'images', 'where', 'description'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
        const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
        process.stdout.write([line(head), ...rows.map(line)].join('\n') + '\n');
      }),
    );
}
