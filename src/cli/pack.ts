// `deepgen pack RUN OUT`: a trained run as a model folder to share or ship: float16 weights (the EMA when kept), config,
// figures, a model card and a manifest of sha256s; serve it from any web server or a Hugging Face repository.
import fs from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { formatParams } from '../node/leaderboard.ts';
import { packModel } from '../node/pack.ts';
import { action } from './common.ts';

export function registerPack(program: Command): void {
  program
    .command('pack')
    .argument('<run>', 'run folder written by deepgen train')
    .argument('<out>', 'the model folder to write (replaced if it exists)')
    .description(
      'write a trained run as a model folder to share: float16 weights, config, figures, a model card and sha256 manifest',
    )
    .option('--float32', 'keep the weights in float32 (default: float16, half the size, loaded back as float32)')
    .option('--no-ema', 'pack the raw weights even when the run kept an EMA')
    .option('--notes <file>', 'markdown added to the model card (the command that trained it, its budget, its limits)')
    .option('--name <name>', "the model's name in its card (default: OUT's folder name)")
    .addHelpText(
      'after',
      `
The folder holds config.json, model.safetensors, state.json, the run's eval.json and cond-eval.json, README.md (the
model card: data and licence, training budget, figures, your --notes) and manifest.json (size and sha256 of every
file, which deepgen checks when it downloads the folder). Put it on any web server and load it with
\`deepgen sample https://host/path/OUT/\`, or upload it to a Hugging Face repository: \`deepgen sample hf:OWNER/REPO\`.
To measure the packed weights themselves, run \`deepgen eval OUT\` (and cond-eval), then pack again: figures of the same
weights are kept and the card shows them.

Examples:
  deepgen pack runs/diffusion-shapes-text models/diffusion-shapes-text --notes card-notes.md
  deepgen pack runs/vae shared/vae --float32`,
    )
    .action(
      action(
        async (run: string, out: string, f: { float32?: boolean; ema: boolean; notes?: string; name?: string }) => {
          let notes: string | undefined;
          if (f.notes !== undefined) {
            try {
              notes = fs.readFileSync(f.notes, 'utf8');
            } catch (e) {
              throw new UserError(
                `Cannot read --notes ${f.notes}: ${(e as NodeJS.ErrnoException).code ?? e}; pass a markdown file`,
              );
            }
          }
          const r = packModel(run, out, {
            float16: !f.float32,
            useEma: f.ema,
            notes,
            name: f.name,
            log: (l) => process.stderr.write(l + '\n'),
          });
          process.stdout.write(
            `Packed ${run} into ${r.dir}: ${formatParams(r.params)} parameters (${r.weights === 'ema' ? 'EMA' : 'raw'} weights${f.float32 ? '' : ', float16'}), ${(r.bytes / 1e6).toFixed(2)} MB${r.keptFigures ? '; kept the figures measured on these weights' : ''}${r.keptFloat32.length ? `; kept in float32 (beyond float16's range): ${r.keptFloat32.join(', ')}` : ''}\n`,
          );
        },
      ),
    );
}
