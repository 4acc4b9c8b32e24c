// `deepgen eval RUN`: test-set likelihood in nats and bits/dim, written to RUN/eval.json: bounds (ELBO, IWAE) for the VAE,
// the exact -log p(x) for the autoregressive families, the family's own figures for the others.
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { subset } from '../core/data/batches.ts';
import { evaluateRun } from '../node/family-tools.ts';
import { writeFileAtomic } from '../node/fs-atomic.ts';
import { createProgress, formatDuration } from '../node/progress.ts';
import { loadRun, loadSplit } from '../node/run.ts';
import { withDataDir } from '../node/run-config.ts';
import { action, intOpt } from './common.ts';

export function registerEval(program: Command): void {
  program
    .command('eval')
    .argument('<run>', 'run folder written by `deepgen train`')
    .description('evaluate a trained model on the test set: -log p(x) in nats/image and bits/dim (exact for pixelcnn and igpt; -ELBO and the IWAE bound for the VAE)')
    .option('--iwae <k>', 'importance samples for the IWAE bound (VAE) or the importance-weighted dequantization bound (flow); 0 = skip', intOpt('--iwae'), 0)
    .option('--n <count>', 'evaluate on the first n test images (0 = all)', intOpt('--n'), 0)
    .option('--batch-size <n>', 'test images per batch', intOpt('--batch-size', 1))
    .option('--seed <n>', 'seed of the z samples', intOpt('--seed'), 0)
    .option('--data-dir <dir>', 'folder with the dataset files, if not where training found them')
    .option('--backend <name>', 'compute backend', 'auto')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (run: string, f: { iwae: number; n: number; batchSize?: number; seed: number; dataDir?: string; backend: string; json?: boolean }) => {
        const r = await loadRun(run, { backend: f.backend });
        if (!r.model.evaluate) throw new UserError(`The ${r.family} family has no likelihood evaluation yet`);
        const cfg = withDataDir(r.cfg, f.dataDir);
        let test = loadSplit(cfg, 'test');
        if (f.n > 0) test = subset(test, 0, Math.min(f.n, test.n));
        const progress = createProgress('eval', test.n, { every: Math.max(1, Math.floor(test.n / 10)) });
        const t0 = performance.now();
        const res = await evaluateRun(r.model, cfg, test, { iwaeK: f.iwae, seed: f.seed, batchSize: f.batchSize, onBatch: (d) => progress.update(d, `${d} images`) });
        progress.stop();
        const seconds = (performance.now() - t0) / 1000;
        const full = {
          run,
          family: r.family,
          step: r.step,
          dataset: `${cfg.data.dataset} test (${cfg.data.preprocess}, fixed seed ${cfg.data.testSeed})`,
          weights: r.usedEma ? 'ema' : 'raw',
          backend: r.backend,
          seconds: Math.round(seconds * 10) / 10,
          ...res,
        };
        writeFileAtomic(path.join(run, 'eval.json'), JSON.stringify(full, null, 2) + '\n');
        r.model.dispose();
        if (f.json) {
          process.stdout.write(JSON.stringify(full, null, 2) + '\n');
          return;
        }
        const m = res!;
        const D = r.info.height * r.info.width * r.info.channels;
        const lines = [
          `${r.family} at step ${r.step}, ${m.n} test images of ${cfg.data.dataset} (${cfg.data.preprocess}), ${D} dims, ${formatDuration(seconds)}`,
          r.family === 'vae' || r.family === 'ae' || m.nll !== undefined ? `  metric                          nats/image   bits/dim` : `  metric`,
        ];
        const row = (name: string, nats: number | undefined, bpd: number | undefined) =>
          nats === undefined ? '' : `  ${name.padEnd(32)}${nats.toFixed(2).padStart(10)}${bpd === undefined ? '' : bpd.toFixed(4).padStart(11)}`;
        if (m.nll !== undefined && r.family !== 'vae' && r.family !== 'ae') {
          // autoregressive: the exact -log p(x); flow: the exact density of the dequantized data, an upper bound on
          // -log P(x) of the 8-bit data (Theis et al. 2016); then the family's other figures
          lines.push(row(r.family === 'flow' ? '-log p(x), dequantized bound' : '-log p(x), exact', m.nll, m.bitsPerDim));
          const fmt = (v: number) => (v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(4));
          if (m.iwaeNll !== undefined) lines.push(row(`importance-weighted, k=${m.iwaeK}, bound`, m.iwaeNll, m.iwaeBitsPerDim));
          for (const [k, v] of Object.entries(m)) if (typeof v === 'number' && !['n', 'nll', 'bitsPerDim', 'iwaeK', 'iwaeNll', 'iwaeBitsPerDim'].includes(k)) lines.push(`  ${k.padEnd(32)}${fmt(v).padStart(10)}`);
        } else if (r.family !== 'vae' && r.family !== 'ae') {
          // families without a likelihood report their own figures
          for (const [k, v] of Object.entries(m)) if (typeof v === 'number' && k !== 'n') lines.push(`  ${k.padEnd(32)}${v.toFixed(4).padStart(10)}`);
        } else if (r.family === 'ae') {
          lines.push(row('reconstruction -log p(x|z)', m.recon, undefined));
        } else {
          lines.push(row('-ELBO (bound on -log p(x))', m.nelbo, m.nelboBitsPerDim));
          lines.push(row('  reconstruction -log p(x|z)', m.recon, undefined));
          lines.push(row('  KL(q(z|x) || p(z))', m.kl, undefined));
          if (m.iwaeNll !== undefined) lines.push(row(`IWAE k=${m.iwaeK} (bound on -log p(x))`, m.iwaeNll, m.iwaeBitsPerDim));
        }
        process.stdout.write(lines.filter(Boolean).join('\n') + `\nWrote ${path.join(run, 'eval.json')}\n`);
      }),
    );
}
