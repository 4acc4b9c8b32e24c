// `deepgen export RUN --to pytorch OUT` and `deepgen import PT_DIR --out RUN`: hand a model to PyTorch (and its
// distributed engine) and bring the trained weights back.
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { exportTorch, importTorch } from '../node/torch-package.ts';
import { action, intOpt } from './common.ts';

export function registerExport(program: Command): void {
  program
    .command('export')
    .argument('<run>', 'run folder written by deepgen train (or zoo:NAME, a URL, hf:OWNER/REPO)')
    .argument('<out>', 'the package folder to write')
    .requiredOption('--to <target>', 'what to export to: pytorch')
    .option('--data', 'also write the training split as data.safetensors (what train.py reads)')
    .option('--data-n <n>', 'only the first n training images in data.safetensors (0 = all)', intOpt('--data-n'), 0)
    .option('--ema', 'export the EMA weights (default: the raw weights, which train.py continues from)')
    .description('write a run as a self-contained PyTorch package to train on PyTorch, e.g. distributed')
    .addHelpText(
      'after',
      `
The package holds model.py (an nn.Module generated from the TF.js kernels deepgen runs for each network, with every
parameter under its deepgen name), weights.safetensors (PyTorch layouts), config.json, train.py (the family's loss,
Adam, lr schedule, EMA, DistributedDataParallel under torchrun or with --nproc N, gloo on CPU, NCCL on GPUs; resumes;
safetensors checkpoints in checkpoint/), sample.py and, with --data, the training data; the run's EMA and Adam state
come along, so train.py continues the run. Every family but oneshot exports. Bring the weights back with deepgen
import. docs/pytorch.md has the details.

Examples:
  deepgen export runs/diffusion --to pytorch pt/diffusion --data
  python3 pt/diffusion/train.py --steps 2000 --nproc 2
  deepgen import pt/diffusion --out runs/diffusion-pt && deepgen sample runs/diffusion-pt`,
    )
    .action(
      action(async (run: string, out: string, f: { to: string; data?: boolean; dataN: number; ema?: boolean }) => {
        if (f.to !== 'pytorch')
          throw new UserError(`--to ${f.to} is not a target deepgen exports to; use --to pytorch`);
        const r = await exportTorch(run, out, {
          data: f.data,
          dataN: f.dataN,
          useEma: f.ema,
          log: (l) => process.stderr.write(l + '\n'),
        });
        const nets = r.networks.map((n) => `${n.name}(${n.inputs.join(', ')}) ${n.kernels} kernels`).join('; ');
        process.stdout.write(
          `Exported the ${r.family} model of ${run} to ${r.dir}: ${r.params} parameters; networks: ${nets}; files: ${r.files.join(', ')}\n` +
            `Train it: python3 ${r.dir}/train.py --nproc 2${f.data ? '' : ' --data DATA (or export with --data)'}; bring it back: deepgen import ${r.dir} --out RUN\n`,
        );
      }),
    );
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .argument('<pt_dir>', 'a package folder written by deepgen export (trained by its train.py or not)')
    .requiredOption('--out <run>', 'the run folder to write')
    .option(
      '--weights <file>',
      'the weights to read (default: checkpoint/weights.safetensors when train.py wrote one, else the exported weights)',
    )
    .description('read a PyTorch package back into a deepgen run folder (layouts converted, names and shapes checked)')
    .addHelpText(
      'after',
      `
Reads config.json and the weights (PyTorch layouts) of PT_DIR, converts them to deepgen's layouts, checks every name
and shape against the model the config describes, and writes a run folder (with the EMA weights when train.py kept
them) that deepgen sample, eval, cond-eval, compare and serve take.

Examples:
  deepgen import pt/diffusion --out runs/diffusion-pt
  deepgen import pt/vae --out runs/vae-pt --weights pt/vae/checkpoint/weights.safetensors`,
    )
    .action(
      action(async (ptDir: string, f: { out: string; weights?: string }) => {
        const r = await importTorch(ptDir, f.out, { weights: f.weights, log: (l) => process.stderr.write(l + '\n') });
        process.stdout.write(
          `Imported ${r.weights} (step ${r.step}${r.ema ? ', with its EMA weights' : ''}) into ${r.dir}; try: deepgen sample ${r.dir}\n`,
        );
      }),
    );
}
