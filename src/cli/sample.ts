// `deepgen sample RUN`: a grid of samples from a trained model, seeded.
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { loadRun } from '../node/run.ts';
import { writeImageGrid } from '../node/pictures.ts';
import { action, collect, intOpt } from './common.ts';

/** Parse --label as an index or a class name. */
export function parseLabel(v: string, classNames: string[] | undefined, numClasses: number): number {
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n >= numClasses) throw new UserError(`--label ${v} is out of range: this model has ${numClasses} classes (0..${numClasses - 1})${classNames ? `: ${classNames.join(', ')}` : ''}`);
    return n;
  }
  const i = classNames?.findIndex((c) => c.toLowerCase() === v.toLowerCase()) ?? -1;
  if (i < 0) throw new UserError(`--label "${v}" is not a class of this model; use 0..${numClasses - 1}${classNames ? ` or one of: ${classNames.join(', ')}` : ''}`);
  return i;
}

export function registerSample(program: Command): void {
  program
    .command('sample')
    .argument('<run>', 'run folder written by `deepgen train`')
    .description('write a grid of samples from a trained model')
    .option('--n <count>', 'number of samples', intOpt('--n', 1), 64)
    .option('--label <class>', 'class to generate (index or name) for label-conditional models; default: every class in turn')
    .option('--prompt <text>', 'prompt for text-conditional models (repeatable: cycled over the samples); default: unconditional', collect, [])
    .option('--seed <n>', 'random seed (same seed, same images)', intOpt('--seed'), 0)
    .option('--cols <n>', 'grid columns', intOpt('--cols', 1))
    .option('--out <file>', 'output PNG (default RUN/samples-seed<seed>.png)')
    .option('--no-ema', 'use the raw weights even when the run kept an EMA')
    .option('--backend <name>', 'compute backend', 'auto')
    .action(
      action(async (run: string, f: { n: number; label?: string; prompt: string[]; seed: number; cols?: number; out?: string; ema: boolean; backend: string }) => {
        if (f.out !== undefined && !f.out.toLowerCase().endsWith('.png')) throw new UserError(`--out ${f.out} must end in .png`);
        const r = await loadRun(run, { backend: f.backend, useEma: f.ema });
        const kind = (r.cfg.model as { cond?: { kind?: string } }).cond?.kind ?? 'none';
        let labels: number[] | undefined;
        if (f.label !== undefined) {
          if (kind !== 'label') throw new UserError(`This ${r.family} is not label-conditional, so --label does not apply; train with --conditional to use labels`);
          labels = [parseLabel(f.label, r.info.classNames, r.info.numClasses)];
        } else if (kind === 'label') {
          labels = Array.from({ length: r.info.numClasses }, (_, i) => i);
        }
        const prompts = f.prompt.length ? f.prompt : undefined;
        if (prompts && kind !== 'text') throw new UserError(`This ${r.family} is not text-conditional, so --prompt does not apply; train with --set model.cond.kind=text to use prompts`);
        const x = r.model.sample(f.n, f.seed, { labels, prompts });
        const out = f.out ?? path.join(run, `samples-seed${f.seed}.png`);
        const groups = labels?.length ?? prompts?.length ?? 0;
        await writeImageGrid(out, x, { cols: f.cols ?? (groups > 1 ? groups : Math.ceil(Math.sqrt(f.n))) });
        x.dispose();
        r.model.dispose();
        process.stdout.write(`Wrote ${f.n} samples to ${out}\n`);
      }),
    );
}
