// `deepgen eval RUN [--metrics nll,fid,kid,pr]`: test-set likelihood in nats and bits/dim (bounds for the VAE, the flow
// and diffusion, exact for the autoregressive families) and sample quality on the project's own features, into RUN/eval.json.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { subset } from '../core/data/batches.ts';
import { evaluateRun } from '../node/family-tools.ts';
import { writeFileAtomic } from '../node/fs-atomic.ts';
import { createProgress, formatDuration } from '../node/progress.ts';
import { loadRun, loadSplit } from '../node/run.ts';
import { classifierDatasetOf, classifierDatasetsText } from '../node/classifier-store.ts';
import {
  SAMPLE_METRICS,
  sampleQuality,
  sampleQualityDataset,
  type QualityFigures,
  type SampleMetric,
  type SampleQualityResult,
} from '../node/sample-quality.ts';
import { withDataDir } from '../node/run-config.ts';
import { natsToBitsPerDim } from '../core/math/units.ts';
import { evalCapabilities, type EvalResult } from '../core/eval/result.ts';
import { BACKEND_HELP } from '../node/backend.ts';
import {
  action,
  checkSamplingFlags,
  floatOpt,
  intOpt,
  samplerOption,
  temperatureOption,
  seedOpt,
  IMAGE_LIMIT_HELP,
  RUN_ARG_HELP,
} from './common.ts';

/** The metrics of --metrics: nll and/or the sample metrics, in a fixed order. */
export function parseMetrics(text: string): { nll: boolean; sample: SampleMetric[] } {
  const items = text
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
  const known = ['nll', ...SAMPLE_METRICS];
  const bad = items.filter((t) => !known.includes(t));
  if (bad.length || items.length === 0)
    throw new UserError(`--metrics must be a comma-separated list of ${known.join(', ')}, got "${text}"`);
  return { nll: items.includes('nll'), sample: SAMPLE_METRICS.filter((m) => items.includes(m)) };
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .argument('<run>', RUN_ARG_HELP)
    .description(
      "evaluate a trained model on the test set: -log p(x) in nats/image and bits/dim (exact for pixelcnn and igpt; upper bounds for the VAE, the flow and diffusion, whose figure is the DDPM variational bound), and sample quality (FID, KID, precision/recall) on the features of deepgen's own classifier for the dataset",
    )
    .option(
      '--metrics <list>',
      'comma-separated: nll, fid, kid, pr (default nll, or fid,kid,pr for a family without a likelihood)',
    )
    .option(
      '--iwae <k>',
      'importance samples for the IWAE bound (VAE) or the importance-weighted dequantization bound (flow); 0 = skip',
      intOpt('--iwae'),
      0,
    )
    .option(
      '--n <count>',
      'test images for nll (0 = all); samples and test images for fid/kid/pr (0 = 10000)',
      intOpt('--n'),
      0,
    )
    .option('--batch-size <n>', 'test images (or samples) per batch', intOpt('--batch-size', 1))
    .option(
      '--seed <n>',
      "seed of the random draws (the VAE's and flow's z samples, diffusion's t and noise)",
      seedOpt(),
      0,
    )
    .option(
      '--guidance <w>',
      "fid/kid/pr: classifier-free guidance weight (default: the model's)",
      floatOpt('--guidance', 0),
    )
    .option('--steps <n>', "fid/kid/pr: sampler steps (default: the model's)", intOpt('--steps', 1))
    .option(...samplerOption())
    .option(...temperatureOption('fid/kid/pr: '))
    .option('--data-dir <dir>', 'folder with the dataset files, if not where training found them')
    .option('--backend <name>', BACKEND_HELP, 'auto')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', IMAGE_LIMIT_HELP)
    .addHelpText(
      'after',
      `
FID, KID (with its error bar over subsets) and k-NN precision/recall (k = 3) compare --n samples with the first --n
test images in the feature space of deepgen's own classifier (trained once per dataset with \`deepgen classifier
train\`, or on first use, and cached). They are not Inception figures and not comparable to published FIDs; the
output gives the same figures for real training images against the test images as the floor.

Examples:
  deepgen eval runs/pixelcnn                       exact bits/dim on the whole test set
  deepgen eval runs/flow --iwae 8                  the flow's bound, and its importance-weighted version
  deepgen eval runs/diffusion --n 1000             the DDPM variational bound (8 draws of t per image, 10 UNet passes)
  deepgen eval runs/diffusion --metrics fid,kid,pr --n 2000
  deepgen eval runs/diffusion --metrics fid --n 2000 --sampler dpm++2m --steps 20   (FID of a faster sampler)`,
    )
    .action(
      action(
        async (
          run: string,
          f: {
            metrics?: string;
            iwae: number;
            n: number;
            batchSize?: number;
            seed: number;
            guidance?: number;
            steps?: number;
            sampler?: string;
            temperature?: number;
            dataDir?: string;
            backend: string;
            json?: boolean;
          },
        ) => {
          const r = await loadRun(run, { backend: f.backend });
          const sampling = { guidance: f.guidance, steps: f.steps, sampler: f.sampler, temperature: f.temperature };
          checkSamplingFlags(r.family, run, Object.entries(sampling));
          const can = evalCapabilities(r.model);
          const metrics = parseMetrics(f.metrics ?? (can.evaluates ? 'nll' : SAMPLE_METRICS.join(',')));
          if (metrics.nll && !can.evaluates)
            throw new UserError(`The ${r.family} family has no likelihood; use --metrics ${SAMPLE_METRICS.join(',')}`);
          if (f.iwae > 0 && !can.importanceSamples)
            throw new UserError(
              `--iwae applies to importance-weighted bounds (vae, flow); the ${r.family} family's ${can.likelihood ? `${can.likelihood.kind === 'exact' ? 'exact ' : ''}-log p(x)` : 'evaluation'} takes no importance samples (drop --iwae)`,
            );
          // sample quality needs the data set's classifier: asked for, its absence is an error before any work; by
          // default (a family with a likelihood), a line of the report
          if (metrics.sample.length) sampleQualityDataset(r);
          const skipped =
            f.metrics === undefined && !classifierDatasetOf(r.cfg.data.dataset)
              ? `  sample quality (fid, kid, pr): skipped, no evaluation classifier for data set "${r.cfg.data.dataset}"; classifiers exist for ${classifierDatasetsText()}`
              : '';
          const cfg = withDataDir(r.cfg, f.dataDir);
          const fullTest = loadSplit(cfg, 'test');
          const t0 = performance.now();
          let res: EvalResult | null = null;
          let nllN = 0;
          if (metrics.nll) {
            const test = f.n > 0 ? subset(fullTest, 0, Math.min(f.n, fullTest.n)) : fullTest;
            nllN = test.n;
            const progress = createProgress('eval', test.n, { every: Math.max(1, Math.floor(test.n / 10)) });
            res = await evaluateRun(r.model, cfg, test, {
              iwaeK: f.iwae,
              seed: f.seed,
              batchSize: f.batchSize,
              onBatch: (d) => progress.update(d, `${d} images`),
            });
            progress.stop();
          }
          let quality: SampleQualityResult | undefined;
          if (metrics.sample.length) {
            const n = f.n > 0 ? f.n : 10000;
            const progress = createProgress('samples', Math.min(n, fullTest.n), {
              every: Math.max(1, Math.floor(Math.min(n, fullTest.n) / 10)),
            });
            quality = await sampleQuality(r, fullTest, loadSplit(cfg, 'train'), {
              n,
              seed: f.seed,
              metrics: metrics.sample,
              sampling,
              batchSize: f.batchSize,
              onProgress: (d) => progress.update(d, `${d} samples`),
            });
            progress.stop();
          }
          const seconds = (performance.now() - t0) / 1000;
          const given = samplingGiven(sampling);
          const full = {
            run,
            family: r.family,
            step: r.step,
            dataset: `${cfg.data.dataset} test (${cfg.data.preprocess}, fixed seed ${cfg.data.testSeed})`,
            weights: r.usedEma ? 'ema' : 'raw',
            backend: r.backend,
            seconds: Math.round(seconds * 10) / 10,
            // figures of an earlier eval of the same weights that this one did not recompute are kept
            ...keptFromEarlierEval(path.join(r.outDir, 'eval.json'), r.step, r.usedEma ? 'ema' : 'raw', {
              nll: metrics.nll,
              sample: quality !== undefined,
              // outside a run folder (zoo, URL, hub: eval.json in the current folder) only the same model's figures
              ...(r.outDir !== r.dir ? { run } : {}),
            }),
            ...res,
            // the sampler settings given on the command line (the rest are the model's defaults)
            ...(quality ? { sampleQuality: { ...quality, ...(given ? { sampling: given } : {}) } } : {}),
          };
          writeFileAtomic(path.join(r.outDir, 'eval.json'), JSON.stringify(full, null, 2) + '\n');
          r.model.dispose();
          if (f.json) {
            process.stdout.write(JSON.stringify(full, null, 2) + '\n');
            return;
          }
          const D = r.info.height * r.info.width * r.info.channels;
          const lines = [
            `${r.family} at step ${r.step} on ${cfg.data.dataset} (${cfg.data.preprocess}), ${D} dims, ${formatDuration(seconds)}`,
          ];
          if (res) lines.push(...likelihoodLines(res, nllN, D));
          if (quality) lines.push(...qualityLines(quality));
          lines.push(skipped);
          process.stdout.write(lines.filter(Boolean).join('\n') + `\nWrote ${path.join(r.outDir, 'eval.json')}\n`);
        },
      ),
    );
}

/** The sampling flags that were given, or null when none was. */
function samplingGiven(s: Record<string, unknown>): Record<string, unknown> | null {
  const given = Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined));
  return Object.keys(given).length ? given : null;
}

const EVAL_META = ['run', 'family', 'step', 'dataset', 'weights', 'backend', 'seconds', 'sampleQuality'];

/**
 * The figures of an earlier eval.json for the same step and weights that this eval does not recompute: its
 * likelihood figures when nll is not measured now, its sampleQuality when no sample metric is. So `eval --metrics
 * fid,kid,pr` after `eval` keeps the bits/dim, and the reverse. Another step, other weights, another run (when
 * `now.run` is given) or an unreadable file: {}.
 */
export function keptFromEarlierEval(
  file: string,
  step: number,
  weights: string,
  now: { nll: boolean; sample: boolean; run?: string },
): Record<string, unknown> {
  let prev: Record<string, unknown>;
  try {
    prev = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
  if (!prev || typeof prev !== 'object' || prev.step !== step || prev.weights !== weights) return {};
  if (now.run !== undefined && prev.run !== now.run) return {};
  const kept: Record<string, unknown> = {};
  if (!now.nll) for (const [k, v] of Object.entries(prev)) if (!EVAL_META.includes(k)) kept[k] = v;
  if (!now.sample && prev.sampleQuality) kept.sampleQuality = prev.sampleQuality;
  return kept;
}

/** Readable names of the terms in nats per image that families report (others print under their keys). */
const TERM_NAMES: Record<string, string> = {
  recon: 'reconstruction -log p(x|z)',
  kl: 'KL(q(z|x) || p(z))',
  vlbPriorNats: 'L_T  KL(q(x_T|x0) || N(0,I))',
  vlbDiffusionNats: 'sum_t L_{t-1}  diffusion KLs',
  vlbDecoderNats: 'L_0  -log p(x0|x1)',
};

/** The likelihood table: the likelihood figure and the looser bounds beside it, in nats/image and bits/dim, then the
 *  model's other terms (those in nats also in bits/dim). */
function likelihoodLines(m: EvalResult, n: number, dims: number): string[] {
  const lines = [`  ${n} test images`, `  metric                          nats/image   bits/dim`];
  const row = (name: string, nats: number, bpd: number | undefined) =>
    `  ${name.padEnd(32)}${nats.toFixed(2).padStart(10)}${bpd === undefined ? '' : bpd.toFixed(4).padStart(11)}`;
  const what = (f: { kind: string; name: string; discrete: boolean }) =>
    `-log p(x), ${f.kind === 'exact' ? 'exact' : `${f.name} bound`}${f.discrete ? '' : ' (density)'}`;
  for (const f of [...(m.likelihood ? [m.likelihood] : []), ...(m.bounds ?? [])])
    lines.push(row(what(f), f.nats, f.bitsPerDim));
  const fmt = (v: number) => (v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(4));
  for (const [k, v] of Object.entries(m.terms)) {
    if (k.endsWith('BitsPerDim')) continue;
    // figures in nats per image (recon, kl, vlb...Nats) get their bits/dim too
    const nats = k in TERM_NAMES || k.endsWith('Nats');
    const name = `  ${TERM_NAMES[k] ?? k}`;
    lines.push(nats ? row(name, v, natsToBitsPerDim(v, dims)) : `  ${name.padEnd(32)}${fmt(v).padStart(10)}`);
  }
  if (m.terms.vlbTimesteps !== undefined)
    lines.push(`  (the VLB sums over t from ${m.terms.vlbTimesteps} stratified draws of t per image, unbiased)`);
  return lines;
}

/** The sample-quality table: the model's figures beside real training images against the same test images. */
function qualityLines(q: SampleQualityResult): string[] {
  return [
    `  sample quality: ${q.n} samples against ${q.n} test images (${(q.sampleSecondsPerImage * 1000).toFixed(1)} ms per sample)`,
    `  features: ${q.features}`,
    ...qualityTable(q),
  ];
}

/** FID, KID +- std, precision and recall (those measured) in one column, the real floor (`q.reference`) beside them. */
export function qualityTable(q: QualityFigures & { reference: QualityFigures }, title = 'model'): string[] {
  const lines = [`  ${'metric'.padEnd(16)}${title.padStart(12)}   real train images`];
  const fmt = (v: number | undefined, d = 4) => (v === undefined ? '' : v.toFixed(d));
  const row = (name: string, a: string, b: string) => `  ${name.padEnd(16)}${a.padStart(14)}${b.padStart(20)}`;
  if (q.fid !== undefined) lines.push(row('FID', fmt(q.fid, 3), fmt(q.reference.fid, 3)));
  if (q.kid !== undefined)
    lines.push(
      row('KID', `${fmt(q.kid)} +- ${fmt(q.kidStd)}`, `${fmt(q.reference.kid)} +- ${fmt(q.reference.kidStd)}`),
    );
  if (q.precision !== undefined) lines.push(row('precision', fmt(q.precision, 3), fmt(q.reference.precision, 3)));
  if (q.recall !== undefined) lines.push(row('recall', fmt(q.recall, 3), fmt(q.reference.recall, 3)));
  return lines;
}
