// `deepgen datasets`: which datasets are available on this machine, and where; `deepgen datasets get emoji` installs
// the emoji data set through npm into deepgen's data cache.
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { listDatasets } from '../node/data/datasets.ts';
import { EMOJI_LICENCES, EMOJI_PACKAGES, EMOJI_VERSION, emojiSummary, getEmoji } from '../node/data/emoji.ts';
import { action } from './common.ts';

interface GetFlags {
  dir?: string;
  registry?: string;
  force?: boolean;
  npm?: string;
}

async function get(name: string, f: GetFlags): Promise<void> {
  if (name !== 'emoji')
    throw new UserError(
      `Nothing to get for "${name}": only emoji is downloaded (fashion-mnist comes from apt-get install dataset-fashion-mnist, shapes is generated).`,
    );
  const r = await getEmoji({ dir: f.dir, registry: f.registry, force: f.force, npm: f.npm });
  const s = emojiSummary(r.dir);
  const what = r.built ? `built in ${r.seconds.toFixed(1)} s` : 'already there (--force rebuilds it)';
  process.stdout.write(
    [
      `emoji: ${r.images} images at 64 and 32 px in ${r.dir}, ${what}`,
      `  base emoji: ${s.base} images (${s.names} names x 2 vendors), ${s.withTones - s.base} more with --set data.skinTones=true`,
      `  split: ${s.train} train / ${s.test} test; ${s.heldOutNames} names (${((100 * s.heldOutNames) / s.names).toFixed(1)}%) never in training`,
      ...Object.values(EMOJI_LICENCES).map((l) => `  licence: ${l}`),
    ].join('\n') + '\n',
  );
}

export function registerDatasets(program: Command): void {
  const cmd = program
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
  cmd
    .command('get <name>')
    .description('download a data set into the data cache (only emoji: the two emoji-datasource packages, through npm)')
    .option(
      '--dir <path>',
      'where to put it (default: <cache>/datasets/emoji; the cache is $DEEPGEN_CACHE, .cache or ~/.cache/deepgen)',
    )
    .option('--registry <url>', "npm registry to fetch from (default: npm's own configuration)")
    .option('--npm <path>', 'the npm executable', 'npm')
    .option('--force', 'download and build again even if it is there')
    .addHelpText(
      'after',
      `
Runs \`npm install ${EMOJI_PACKAGES.google}@${EMOJI_VERSION} ${EMOJI_PACKAGES.twitter}@${EMOJI_VERSION}\` in a temporary
folder (about 150 MB, once), composites every 64px image on white, packs them at 64 and 32 px with an index of names,
captions, categories and the fixed split, and removes the packages. Then train with --dataset emoji (both vendors),
emoji-google or emoji-twitter, e.g.:
  deepgen datasets get emoji
  deepgen train diffusion --dataset emoji --set model.cond.kind=text --set model.cond.tokenizer=bpe --out runs/emoji`,
    )
    .action(action(async (name: string, f: GetFlags) => get(name, f)));
}
