// evaluate(run): a run's test-set likelihood (typed, as EvalResult) and sample quality, as `deepgen eval` computes
// them, returned rather than written or printed.
import { subset } from '../core/data/batches.ts';
import { UserError } from '../core/errors.ts';
import { evalCapabilities, type EvalResult } from '../core/eval/result.ts';
import type { BackendName } from './backend.ts';
import { evaluateRun } from './family-tools.ts';
import { loadRun, loadSplit } from './run.ts';
import {
  SAMPLE_METRICS,
  sampleQuality,
  sampleQualityDataset,
  type SampleMetric,
  type SampleQualityResult,
} from './sample-quality.ts';

/** A metric of evaluate: the likelihood, or one of the sample-quality figures. */
export type EvalMetric = 'nll' | SampleMetric;

/** Options of evaluate. */
export interface EvaluateOptions {
  /** Default ['nll'] for a model with test-set figures, else ['fid', 'kid', 'pr']. */
  metrics?: readonly EvalMetric[];
  /** Test images for nll (default all); samples and test images for fid/kid/pr (default 10000). */
  n?: number;
  /** Seed of the bounds' random draws and of the samples (default 0). */
  seed?: number;
  /** Importance samples of an importance-weighted bound (models that have one; default 0 = none). */
  iwae?: number;
  backend?: BackendName;
  /** Test images (or samples) per batch. */
  batchSize?: number;
  /** Called as images are evaluated or sampled. */
  onProgress?: (p: { phase: 'nll' | 'samples'; done: number; total: number }) => void;
  /** Human-readable lines (a checkpoint fallback, training the feature classifier on first use); default: none. */
  log?: (line: string) => void;
}

/** What evaluate measured: the model's EvalResult (nll) and sample quality, at a step, with which weights. */
export interface EvalReport extends Partial<EvalResult> {
  run: string;
  family: string;
  step: number;
  weights: 'ema' | 'raw';
  sampleQuality?: SampleQualityResult;
}

/**
 * Evaluates a run folder on its test set: -log p(x) (exact or a bound, with the model's other terms) and FID, KID and
 * precision/recall on deepgen's own classifier features (fashion-mnist, shapes and the emoji data sets).
 *
 * @example
 * const report = await evaluate('runs/pixelcnn', { metrics: ['nll'] });
 * console.log(report.likelihood?.bitsPerDim);
 */
export async function evaluate(run: string, opts: EvaluateOptions = {}): Promise<EvalReport> {
  const log = opts.log ?? (() => {});
  const r = await loadRun(run, { backend: opts.backend, warn: log, source: { log } });
  try {
    const can = evalCapabilities(r.model);
    const metrics = opts.metrics ?? (can.evaluates ? ['nll'] : SAMPLE_METRICS);
    const bad = metrics.filter((m) => m !== 'nll' && !(SAMPLE_METRICS as readonly string[]).includes(m));
    if (bad.length || metrics.length === 0)
      throw new UserError(
        `metrics must be a non-empty list of nll, ${SAMPLE_METRICS.join(', ')}, got ${JSON.stringify(metrics)}`,
      );
    if (metrics.includes('nll') && !can.evaluates)
      throw new UserError(`the ${r.family} model has no test-set likelihood; ask for ${SAMPLE_METRICS.join(', ')}`);
    const iwae = opts.iwae ?? 0;
    if (iwae > 0 && !can.importanceSamples)
      throw new UserError(
        `iwae applies to importance-weighted bounds; this ${r.family} model takes no importance samples`,
      );
    const sample = SAMPLE_METRICS.filter((m) => metrics.includes(m));
    if (sample.length) sampleQualityDataset(r); // no classifier for the data set: a one-line error before any work
    const seed = opts.seed ?? 0;
    const test = loadSplit(r.cfg, 'test');
    const report: EvalReport = { run, family: r.family, step: r.step, weights: r.usedEma ? 'ema' : 'raw' };
    if (metrics.includes('nll')) {
      const part = opts.n ? subset(test, 0, Math.min(opts.n, test.n)) : test;
      const res = await evaluateRun(r.model, r.cfg, part, {
        iwaeK: iwae,
        seed,
        batchSize: opts.batchSize,
        onBatch: (done) => opts.onProgress?.({ phase: 'nll', done, total: part.n }),
      });
      if (res) Object.assign(report, res);
    }
    if (sample.length) {
      report.sampleQuality = await sampleQuality(r, test, loadSplit(r.cfg, 'train'), {
        n: opts.n ?? 10000,
        seed,
        metrics: sample,
        batchSize: opts.batchSize,
        onProgress: (done, total) => opts.onProgress?.({ phase: 'samples', done, total }),
        classifier: { log },
      });
    }
    return report;
  } finally {
    r.model.dispose();
  }
}
